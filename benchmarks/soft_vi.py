"""Soft value iteration on 16×16, 32×32 and 64×64 LavaLand grids: forward and gradient times.

rewunc's jitted JAX solver (implicit-differentiation gradient) side by side with a plain-numpy
soft value iteration (the baseline), γ = 0.95, β = 1, tolerance 1e-6 (float32), with each of
the fixed-point solvers (``solver="sweeps"``: plain value iteration; ``"anderson"``: Anderson
acceleration, used for the forward solve and the gradient's adjoint solve alike). Compile time
is reported apart from run time; run times are medians over repeats; sweeps are counted for the
forward solve and for the gradient (forward + adjoint).
Targets (issue #2, 2 CPU cores): gradient ≤ 3× the forward solve; 64×64 forward in ≤ 25 ms.

    python benchmarks/soft_vi.py [--repeats 20] [--solvers sweeps anderson]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from rewunc import planning
from rewunc.envs import LavaLand


def numpy_soft_vi(mdp, r, tol=1e-6):
    """The baseline: dense-free numpy soft VI with the same stopping rule."""
    v = np.zeros(mdp.n_states, dtype=np.float32)
    ns, p = mdp.next_states, mdp.probs.astype(np.float32)
    thr = max(tol * (1 - mdp.gamma) / mdp.gamma, 4 * np.finfo(np.float32).eps)
    r = r.astype(np.float32)
    for it in range(100_000):
        q = np.sum(p * (r + mdp.gamma * v)[ns], -1)
        v_new = np.where(mdp.terminal, 0.0, logsumexp(q, -1)).astype(np.float32)
        res = np.abs(v_new - v).max() / max(1.0, np.abs(v_new).max())
        v = v_new
        if res <= thr:
            return v, it + 1
    raise RuntimeError("numpy soft VI did not converge")


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_grid(n: int, repeats: int, solver: str) -> None:
    env = LavaLand(size=n, layout_seed=0, grass_fraction=0.3)
    env.reset(seed=0)
    mdp = env.to_mdp(gamma=0.95)
    r = mdp.state_rewards(env.true_weights).astype(np.float32)
    arrays = planning.mdp_arrays(mdp)
    R = jnp.asarray(r)[None]
    tol, max_iters = 1e-6, 100_000
    demo_states = jnp.arange(0, mdp.n_states, 7)

    @jax.jit
    def forward(R):
        return planning._soft_vi(arrays, R, 1.0, tol, max_iters, solver).v

    def loss(R):  # what BIRL differentiates: log-likelihood of actions at some states
        plan = planning.soft_plan_arrays(arrays, R, 1.0, tol, max_iters, solver=solver)
        return jnp.sum(jnp.log(plan.policy[0, demo_states, 0]))

    loss_grad = jax.jit(jax.grad(loss))

    @jax.jit
    def gradient_sweeps(R):  # the sweeps loss_grad runs: forward solve, then the adjoint's
        v, fwd, _ = planning._value_fixed_point(
            planning._soft_backup, arrays, R, tol, max_iters, None, solver
        )
        v_bar = jax.grad(
            lambda v: jnp.sum(
                jnp.log(
                    jax.nn.softmax(planning.to_public(planning.bellman_q(arrays, R, v)), -1)[
                        0, demo_states, 0
                    ]
                )
            )
        )(v)
        return fwd + planning._soft_adjoint(v, R, arrays, tol, max_iters, solver, v_bar)[1]

    t0 = time.perf_counter()
    jax.block_until_ready(forward(R))
    jax.block_until_ready(loss_grad(R))
    compile_s = time.perf_counter() - t0
    fwd = timed(lambda: forward(R), repeats)
    grad = timed(lambda: loss_grad(R), repeats)
    sweeps = int(planning._soft_vi(arrays, R, 1.0, tol, max_iters, solver).iterations)
    grad_sweeps = int(gradient_sweeps(R))
    npt = []
    for _ in range(max(3, repeats // 4)):
        t0 = time.perf_counter()
        v_np, _ = numpy_soft_vi(mdp, r, tol)
        npt.append(time.perf_counter() - t0)
    np_ms = statistics.median(npt) * 1e3
    dv = float(np.abs(np.asarray(forward(R))[0] - v_np).max())
    print(
        f"{solver:>8s} {n:>3d}×{n:<2d} {mdp.n_states:5d} {sweeps:6d} {grad_sweeps:7d} "
        f"{compile_s:9.2f} {fwd * 1e3:8.2f} {grad * 1e3:8.2f} {grad / fwd:8.2f} {np_ms:9.1f} "
        f"{np_ms / (fwd * 1e3):9.1f} {dv:9.2e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--solvers", nargs="+", default=list(planning.SOLVERS))
    args = parser.parse_args()
    print(
        f"{'solver':>8s} {'grid':>6s} {'S':>5s} {'sweeps':>6s} {'g sweeps':>7s} {'compile s':>9s} "
        f"{'fwd ms':>8s} {'grad ms':>8s} {'grad/fwd':>8s} {'numpy ms':>9s} {'numpy/jax':>9s} "
        f"{'max |dv|':>9s}"
    )
    for n in (16, 32, 64):
        for solver in args.solvers:  # side by side, so drifting load hits both alike
            bench_grid(n, args.repeats, solver)


if __name__ == "__main__":
    main()
