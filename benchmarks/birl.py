"""Bayesian IRL: NUTS (rewunc) against PolicyWalk, and how NUTS scales with the grid.

1. Minimum bulk ESS per second of rewunc's NUTS-BIRL against PolicyWalk on the same 12×12
   LavaLand layout and the same demonstrations, both targeting the same posterior (soft-Q
   Boltzmann likelihood, the same Normal prior). Warm-up / burn-in is included in the time;
   compile time is reported apart. Both run their chains one after another on one core.
2. A scaling table over grid sizes: wall time for 4 chains × 1000 draws (after warm-up), max
   R-hat and min bulk ESS; chains run in parallel on the host's cores.

Targets (issue #3, 2 CPU cores): ≥ 300× PolicyWalk's ESS/s at 12×12; a 64×64 posterior with
R-hat ≤ 1.01 in ≤ 10 minutes.

    python benchmarks/birl.py [--sizes 8 12 16 32 64] [--draws 1000] [--warmup 500]
"""

from __future__ import annotations

import os

# Chains in parallel need one host device per chain; this must be set before JAX starts.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from rewunc.birl import BIRL, default_chain_method, demo_data, demo_log_likelihood  # noqa: E402
from rewunc.birl.policywalk import policy_walk  # noqa: E402
from rewunc.experts import BoltzmannExpert  # noqa: E402
from rewunc.rollout import collect  # noqa: E402

# Weights the demonstrator uses: every feature matters to its (soft) choices.
TRUE_W = np.array([-0.3, -1.0, -3.0, 3.0])
BETA, PRIOR_SD = 1.0, 3.0


def demonstrations(size: int, n_episodes: int, seed: int = 0):
    return collect(
        "rewunc/LavaLand-v0",
        BoltzmannExpert(beta=BETA, weights=TRUE_W),
        n_episodes,
        seed=seed,
        shift="lava",
        size=size,
        layout_seed=seed,
    )


def gradient_compile_seconds(demos) -> tuple[float, float]:
    """(compile s, steady ms) of one log-likelihood gradient."""
    data = demo_data(demos)
    f = jax.jit(jax.value_and_grad(lambda w: demo_log_likelihood(data, w, BETA)))
    w = jnp.asarray(TRUE_W, jnp.float32)
    t0 = time.perf_counter()
    jax.block_until_ready(f(w))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(20):
        jax.block_until_ready(f(w))
    steady = (time.perf_counter() - t0) / 20
    return first - steady, steady * 1e3


def nuts(demos, warmup, draws, chains, chain_method):
    birl = BIRL(
        beta=BETA,
        prior_scale=PRIOR_SD,
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=False,
        dense_mass=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = birl.fit(demos, seed=0, warn=False)
    return post


def compare_with_policywalk(args) -> None:
    demos = demonstrations(12, args.episodes)
    compile_s, grad_ms = gradient_compile_seconds(demos)
    post = nuts(demos, args.warmup, args.draws, 4, "sequential")
    nuts_ess = float(np.min(post.diagnostics["ess_bulk"]))
    nuts_wall = post.diagnostics["wall_seconds"]
    # PolicyWalk's grid step decides its mixing; give the baseline its best of several.
    walks = {}
    for step in args.pw_steps:
        walks[step] = policy_walk(
            demo_data(demos),
            post.feature_names,
            n_samples=args.pw_samples,
            burn_in=args.pw_samples // 4,
            step=step,
            r_max=3 * PRIOR_SD,
            alpha=BETA,
            q="soft",
            num_chains=4,
            seed=0,
            log_prior=lambda w: -0.5 * float(w @ w) / PRIOR_SD**2,
        )
    print(
        "12×12 LavaLand, one layout,",
        sum(len(t.actions) for t in demos.trajectories),
        f"demonstrated steps; gradient {grad_ms:.2f} ms, compile {compile_s:.2f} s",
    )
    print(
        f"{'sampler':>17s} {'draws':>6s} {'wall s':>8s} {'min ESS':>8s} {'ESS/s':>8s} "
        f"{'max R-hat':>9s} {'accept':>6s} {'diverg.':>7s}  mean w"
    )
    rows = [("NUTS", post, nuts_wall, "", str(post.diagnostics["divergences"]))]
    rows += [
        (f"PolicyWalk δ={step:g}", pw.posterior, pw.wall_seconds, f"{pw.acceptance_rate:.2f}", "")
        for step, pw in walks.items()
    ]
    best = 0.0
    for name, p, wall, accept, div in rows:
        ess = float(np.min(p.diagnostics["ess_bulk"]))
        if name != "NUTS":
            best = max(best, ess / wall)
        print(
            f"{name:>17s} {p.n_samples:6d} {wall:8.1f} {ess:8.0f} {ess / wall:8.2f} "
            f"{np.max(p.diagnostics['rhat']):9.3f} {accept:>6s} {div:>7s}  {np.round(p.mean(), 2)}"
        )
    print(f"NUTS / best PolicyWalk, min bulk ESS per second: {(nuts_ess / nuts_wall) / best:.0f}×")


def scaling(args) -> None:
    method = default_chain_method(4)  # parallel on 4 host devices; vectorized on a GPU
    print(f"\nscaling: 4 chains × {args.draws} draws after {args.warmup} warm-up, {method} chains")
    print(
        f"{'grid':>6s} {'S':>5s} {'grad ms':>8s} {'compile s':>9s} {'wall s':>8s} "
        f"{'max R-hat':>9s} {'min ESS':>8s} {'divergent':>9s}"
    )
    for n in args.sizes:
        demos = demonstrations(n, args.episodes)
        compile_s, grad_ms = gradient_compile_seconds(demos)
        post = nuts(demos, args.warmup, args.draws, 4, method)
        d = post.diagnostics
        print(
            f"{n:>3d}×{n:<2d} {demos.mdps[0].n_states:5d} {grad_ms:8.2f} {compile_s:9.2f} "
            f"{d['wall_seconds']:8.1f} {np.max(d['rhat']):9.3f} {np.min(d['ess_bulk']):8.0f} "
            f"{d['divergences']:9d}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 12, 16, 32, 64])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--pw-samples", type=int, default=4000)
    parser.add_argument("--pw-steps", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    if not args.skip_compare:
        compare_with_policywalk(args)
    if not args.skip_scaling:
        scaling(args)


if __name__ == "__main__":
    main()
