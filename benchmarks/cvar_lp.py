"""BROIL / CVaR planning LP: rewunc's sparse formulation against the dense one, side by side.

Both solve the same problem, max over policies of λ·E[X] + (1 − λ)·CVaR_α[X] over M posterior
reward draws, on LavaLand grids with the ``lava`` shift:

- **rewunc** (``rewunc.agents.risk_lp``): occupancy variables with sparse (CSR) flow constraints;
  the M draws act through the K feature expectations (K + M sparse rows).
- **dense baseline**: the LP as the published BROIL code assembles it: dense numpy matrices,
  the flow constraints as an S × S·A array and one dense row of S·A per-state-action rewards per
  posterior draw, handed to ``scipy.optimize.linprog`` (HiGHS, scipy's default method).

Times include building the constraints; medians over ``--repeats``; the ratio is baseline / rewunc.
Target (issue #4): objectives equal to 1e-6 relative, rewunc ≥ 20× faster at 60×60 with 80 draws.

    python benchmarks/cvar_lp.py [--sizes 30 60] [--samples 80] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import gymnasium as gym
import numpy as np
from scipy.optimize import linprog

import rewunc  # noqa: F401  (registers the environments)
from rewunc.agents.tabular import risk_lp, successor_features


def dense_broil_lp(mdp, weights, lam, alpha):
    """The same BROIL LP with dense matrices over all S·A occupancies (terminal rows fixed to 0)."""
    S, A, B = mdp.next_states.shape
    M = len(weights)
    gamma = mdp.gamma
    # T[s', s·A + a] = P(s' | s, a) for non-terminal s (terminal states have no outflow)
    T = np.zeros((S, S * A))
    for s in range(S):
        if mdp.terminal[s]:
            continue
        for a in range(A):
            for b in range(B):
                T[mdp.next_states[s, a, b], s * A + a] += mdp.probs[s, a, b]
    E = np.kron(np.eye(S), np.ones((1, A)))  # E[s, s·A + a] = 1
    live = ~mdp.terminal
    a_flow = (E - gamma * T)[live]
    b_flow = mdp.initial[live]
    # R[s·A + a, m] = Σ_b P(b|s,a)·w_m·φ(s'_b): one dense column of rewards per draw
    R = successor_features(mdp).reshape(S * A, -1) @ weights.T
    p = np.full(M, 1.0 / M)
    # variables [u (S·A), σ, z (M)]
    c = np.concatenate([-lam * R @ p, [-(1 - lam)], (1 - lam) / (1 - alpha) * p])
    a_eq = np.hstack([a_flow, np.zeros((a_flow.shape[0], 1 + M))])
    a_ub = np.hstack([-R.T, np.ones((M, 1)), -np.eye(M)])
    bounds = [(0, 0) if mdp.terminal[s] else (0, None) for s in range(S) for _ in range(A)]
    bounds += [(None, None)] + [(0, None)] * M
    res = linprog(c, A_ub=a_ub, b_ub=np.zeros(M), A_eq=a_eq, b_eq=b_flow, bounds=bounds)
    if res.status != 0:
        raise RuntimeError(res.message)
    return -res.fun


def timed(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 60])
    parser.add_argument("--samples", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lam", type=float, default=0.5)
    parser.add_argument("--alpha", type=float, default=0.95)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(
        f"BROIL(λ={args.lam}, α={args.alpha}), {args.samples} posterior draws, medians of "
        f"{args.repeats}\n"
        f"{'grid':>6s} {'S':>6s} {'rewunc s':>9s} {'dense s':>9s} {'ratio':>7s} {'rel. diff':>10s}"
    )
    for n in args.sizes:
        env = gym.make("rewunc/LavaLand-v0", shift="lava", size=n, max_steps=4 * n)
        env.reset(seed=n)
        mdp = env.unwrapped.to_mdp(0.95)
        W = mdp.true_weights + rng.normal(0.0, [0.05, 0.1, 1.0, 0.1, 1.0], size=(args.samples, 5))
        ours_fn = partial(risk_lp, mdp, W, args.lam, args.alpha)
        t_ours, ours = timed(lambda f=ours_fn: f().objective, args.repeats)
        t_dense, dense = timed(partial(dense_broil_lp, mdp, W, args.lam, args.alpha), args.repeats)
        rel = abs(ours - dense) / max(abs(dense), 1e-12)
        print(
            f"{n:>4d}² {mdp.n_states:6d} {t_ours:9.3f} {t_dense:9.3f} {t_dense / t_ours:6.1f}× "
            f"{rel:10.2e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
