"""Bayesian IRL: today's NUTS-BIRL against the previous implementation, and against PolicyWalk.

Two implementations side by side, in one run (``--path old|new|both``):

* old: what BIRL did before issue #11 — NumPyro's ``MCMC.run`` (which recompiles its loop on
  every call), raw weights (``parameterisation="raw"``), plain value-iteration sweeps from V = 0.
* new: ``BIRL`` as it is now — the compile-once sampler, LavaLand's one-hot terrain group
  declared (``feature_groups``) with the default parameterisation, Anderson-accelerated soft
  value iteration warm-started from each chain's latest warm-up state.

Sections:

1. 12×12: minimum bulk ESS per second of NUTS against PolicyWalk on the same layout and
   demonstrations, each PolicyWalk running on the same code as the NUTS it is compared with
   (same likelihood, solver, warm starts and parameterisation, so the same posterior), with its
   grid step chosen as the best of ``--pw-steps``. Chains one after another on one core; warm-up
   and burn-in are timed, compilation is reported apart. A second fit with the same shapes shows
   what a repeated fit compiles.
2. The posterior at each of ``--sizes`` (default 64×64): 4 chains × ``--draws`` after
   ``--warmup``, chains in parallel on the host's cores; compile and run seconds apart, max
   R-hat, min bulk ESS, divergent transitions, leapfrog steps per draw, and old/new ratios
   (medians over ``--repeats``, the paths interleaved). The new path runs at each
   ``--accept`` (NUTS's target_accept_prob), the old one at each ``--old-accept`` (default
   0.8, its own default): higher values resolve the likelihood's walls (below) with smaller
   steps, so old and new can also be compared at equal divergence rates.
3. Soft value iteration inside the likelihood: sweeps per gradient evaluation (forward solve +
   adjoint solve), counted at posterior draws, and the gradient's median time.

Targets (issue #11, 2 CPU cores): the 64×64 posterior at β = 1 with R-hat ≤ 1.01 and at most
0.1% divergent transitions, ≥ 4× faster than the old path; NUTS ≥ 100× PolicyWalk's ESS/s at
12×12. The demonstrator (β = 1, weights TRUE_W) never reaches the target within 40 steps on
these grids, so the data say little more than "grass and lava are not better than dirt": the
target weight stays at its prior, and the likelihood is flat in each terrain contrast up to a
wall where that terrain would start to pay more than dirt (a soft-optimal agent would then
loiter on it, and the log-likelihood falls by ~500 per unit). The terrain constant has such a
wall too (where the per-step reward makes ending the episode attractive): the reference
parameterisation removes that one; the contrasts' walls remain and need small steps. Measured
(quiet 2-core machine): old@0.8 222 s, 18.6% divergent; new@0.97 227 s, 0.03% divergent;
old@0.97 1001 s, still 0.68% divergent (4.5× the new path's time at equal settings).

    python benchmarks/birl.py [--path both] [--sizes 64] [--draws 1000] [--warmup 500]
        [--accept 0.8 0.95 0.97] [--old-accept 0.8 0.97]
"""

from __future__ import annotations

import os

# Chains in parallel need one host device per chain; this must be set before JAX starts.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from functools import partial  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

from rewunc import planning  # noqa: E402
from rewunc.birl import BIRL, default_chain_method, demo_data, demo_log_likelihood  # noqa: E402
from rewunc.birl.infer import diagnostics  # noqa: E402
from rewunc.birl.model import reward_model  # noqa: E402
from rewunc.birl.policywalk import policy_walk  # noqa: E402
from rewunc.birl.sampler import compile_clock  # noqa: E402
from rewunc.envs import LavaLand  # noqa: E402
from rewunc.experts import BoltzmannExpert  # noqa: E402
from rewunc.rollout import collect  # noqa: E402

# Weights the demonstrator uses (see the module docstring for what they imply).
TRUE_W = np.array([-0.3, -1.0, -3.0, 3.0, -0.3])  # dirt, grass, lava, target, gravel
BETA, PRIOR_SD = 1.0, 3.0
GROUPS = LavaLand.feature_groups
NAMES = LavaLand.feature_names
# what the new path sets explicitly (whatever BIRL's defaults are)
NEW = dict(parameterisation="reference", solver="anderson", warm_start=True, grad_tol=1e-3)


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


@dataclass
class Fit:
    """One posterior fit: draws [C, N, K] and what it cost."""

    draws: np.ndarray
    divergences: int
    mean_steps: float
    compile_s: float
    run_s: float

    @property
    def n_transitions(self) -> int:
        return self.draws.shape[0] * self.draws.shape[1]

    def summary(self) -> dict:
        d = diagnostics(self.draws)  # a reference feature is constant: NaN
        return dict(
            rhat=float(np.nanmax(d["rhat"])),
            ess=float(np.nanmin(d["ess_bulk"])),
            mean=self.draws.reshape(-1, self.draws.shape[-1]).mean(0),
        )


def fit_old(demos, warmup, draws, chains, chain_method, seed=0, target_accept_prob=0.8) -> Fit:
    """The implementation before issue #11: NumPyro's MCMC.run, raw weights, cold plain sweeps."""
    model = partial(
        reward_model,
        prior_scale=PRIOR_SD,
        beta=BETA,
        parameterisation="raw",
        solver="sweeps",
    )
    kernel = NUTS(model, dense_mass=True, target_accept_prob=target_accept_prob, max_tree_depth=10)
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=False,
        jit_model_args=True,
    )
    data = demo_data(demos)
    with compile_clock() as compiled:
        t0 = time.perf_counter()
        mcmc.run(
            jax.random.PRNGKey(seed), data, None, None, extra_fields=("diverging", "num_steps")
        )
        w = np.asarray(jax.block_until_ready(mcmc.get_samples(group_by_chain=True))["w"])
        wall = time.perf_counter() - t0
        compile_s = compiled()
    extra = mcmc.get_extra_fields(group_by_chain=True)
    return Fit(
        w.astype(np.float64),
        int(np.asarray(extra["diverging"]).sum()),
        float(np.mean(extra["num_steps"])),
        compile_s,
        wall - compile_s,
    )


def new_birl(warmup, draws, chains, chain_method, target_accept_prob=0.8) -> BIRL:
    return BIRL(
        beta=BETA,
        prior_scale=PRIOR_SD,
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=False,
        dense_mass=True,
        target_accept_prob=target_accept_prob,
        feature_groups=GROUPS,
        **NEW,
    )


def fit_new(birl: BIRL, demos, seed=0) -> Fit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = birl.fit(demos, seed=seed, warn=False)
    d = post.diagnostics
    C = birl.config["num_chains"]
    return Fit(
        post.weights.reshape(C, -1, post.weights.shape[-1]),
        d["divergences"],
        d["mean_steps"],
        d["compile_seconds"],
        d["run_seconds"],
    )


# ---- 1. NUTS against PolicyWalk at 12×12 --------------------------------------------------


def compare_with_policywalk(args, paths) -> None:
    demos = demonstrations(12, args.episodes)
    data = demo_data(demos)
    print(
        f"1. 12×12 LavaLand, one layout, {sum(len(t.actions) for t in demos.trajectories)} "
        "demonstrated steps; 4 chains one after another; ESS/s: min bulk ESS per run second "
        "(compile apart)"
    )
    print(
        f"{'path':>8s} {'sampler':>18s} {'draws':>6s} {'compile s':>9s} {'run s':>7s} "
        f"{'min ESS':>8s} {'ESS/s':>8s} {'max R-hat':>9s} {'accept':>6s} {'diverg.':>7s}  mean w"
    )
    for path in paths:
        nuts = {}
        if path == "old":
            fits = [fit_old(demos, args.warmup, args.draws, 4, "sequential", s) for s in (0, 1)]
            nuts["old"] = fits
            solver, warm, fixed = "sweeps", False, {}
        else:
            for a in args.accept:
                birl = new_birl(args.warmup, args.draws, 4, "sequential", a)
                nuts[f"new@{a:g}"] = [fit_new(birl, demos, s) for s in (0, 1)]
            solver, warm, fixed = birl.config["solver"], True, birl.fixed_weights(NAMES)
        rates = {}
        for label, fits in nuts.items():
            s = fits[0].summary()
            rates[label] = s["ess"] / fits[0].run_s
            print(
                f"{label:>8s} {'NUTS':>18s} {fits[0].n_transitions:6d} {fits[0].compile_s:9.2f} "
                f"{fits[0].run_s:7.1f} {s['ess']:8.0f} {rates[label]:8.2f} {s['rhat']:9.3f} "
                f"{'':>6s} {fits[0].divergences:7d}  {np.round(s['mean'], 2)}"
            )
            print(
                f"{label:>8s} {'NUTS, second fit':>18s} {'':6s} {fits[1].compile_s:9.2f} "
                f"{fits[1].run_s:7.1f}   (same shapes, another seed)"
            )
        best = 0.0
        for step in args.pw_steps:
            pw = policy_walk(
                data,
                NAMES,
                n_samples=args.pw_samples,
                burn_in=args.pw_samples // 4,
                step=step,
                r_max=3 * PRIOR_SD,
                alpha=BETA,
                q="soft",
                num_chains=4,
                seed=0,
                log_prior=lambda w: -0.5 * float(w @ w) / PRIOR_SD**2,
                solver=solver,
                warm_start=warm,
                fixed=fixed,
            )
            p = pw.posterior
            ess = float(np.nanmin(p.diagnostics["ess_bulk"]))  # fixed weights: NaN
            rhat = float(np.nanmax(p.diagnostics["rhat"]))
            best = max(best, ess / pw.wall_seconds)
            print(
                f"{path:>8s} {f'PolicyWalk δ={step:g}':>18s} {p.n_samples:6d} {'':>9s} "
                f"{pw.wall_seconds:7.1f} {ess:8.0f} {ess / pw.wall_seconds:8.2f} {rhat:9.3f} "
                f"{pw.acceptance_rate:6.2f} {'':>7s}  {np.round(p.mean(), 2)}"
            )
        for label, rate in rates.items():
            print(
                f"{label:>8s} NUTS / best PolicyWalk on the same code, min bulk ESS per second: "
                f"{rate / best:.0f}×"
            )
    print()


# ---- 2. sweeps per gradient evaluation ---------------------------------------------------


def gradient_cost(demos, draws: np.ndarray, repeats: int = 20) -> None:
    """Sweeps (forward + adjoint) and time per log-likelihood gradient at posterior draws."""
    data = demo_data(demos)
    mdps, counts = data.mdps, data.counts
    tol = 1e-6

    @partial(jax.jit, static_argnames=("solver", "grad_tol"))
    def sweeps(w, v0, solver, grad_tol):
        def one(mdp, counts, v0):
            reward = (mdp.features @ w)[None]
            v, fwd, _ = planning._value_fixed_point(
                planning._soft_backup, mdp, reward, tol, 20_000, v0[None], solver
            )

            def loglik(v):
                q = planning.to_public(planning.bellman_q(mdp, reward, v))[0]
                return jnp.sum(counts * jax.nn.log_softmax(q, axis=-1))

            g = jax.grad(loglik)(v)
            _, adj = planning._soft_adjoint(v, reward, mdp, grad_tol, 20_000, solver, g)
            return fwd, adj

        return jax.vmap(one)(mdps, counts, v0)

    def values(w):
        return jax.vmap(
            lambda mdp: planning.soft_plan_arrays(mdp, (mdp.features @ w)[None], BETA, tol, 20_000)
        )(mdps).v[:, 0]

    W = draws.reshape(-1, draws.shape[-1])
    W = jnp.asarray(W[np.linspace(0, len(W) - 1, 20).astype(int)], jnp.float32)
    reference = values(jnp.asarray(draws.reshape(-1, draws.shape[-1]).mean(0), jnp.float32))
    cold = jnp.zeros_like(reference)
    rows = {}
    new_grad_tol = NEW["grad_tol"]
    for name, solver, v0, grad_tol in (
        ("old: sweeps from V = 0", "sweeps", cold, tol),
        ("Anderson from V = 0", "anderson", cold, tol),
        ("Anderson, warm start", "anderson", reference, tol),
        (f"new: + grad_tol {new_grad_tol:g}", "anderson", reference, new_grad_tol),
    ):
        counts_ = np.array([np.asarray(sweeps(w, v0, solver, grad_tol)).sum(-1) for w in W])
        grad = jax.jit(
            jax.grad(
                lambda w, v0, solver=solver, grad_tol=grad_tol: demo_log_likelihood(
                    data._replace(v0=v0), w, BETA, tol, solver=solver, grad_tol=grad_tol
                )
            )
        )
        jax.block_until_ready(grad(W[0], v0))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(grad(W[len(times) % len(W)], v0))
            times.append(time.perf_counter() - t0)
        rows[name] = (counts_.mean(0), statistics.median(times) * 1e3)
    print(f"3. soft VI per log-likelihood gradient, at {len(W)} posterior draws (medians of time)")
    print(f"{'':>28s} {'forward':>8s} {'adjoint':>8s} {'sweeps':>7s} {'grad ms':>8s}")
    for name, (c, ms) in rows.items():
        print(f"{name:>28s} {c[0]:8.0f} {c[1]:8.0f} {c.sum():7.0f} {ms:8.2f}")
    old = rows["old: sweeps from V = 0"]
    new = rows[f"new: + grad_tol {new_grad_tol:g}"]
    print(
        f"old/new: {old[0].sum() / new[0].sum():.1f}× fewer sweeps, "
        f"{old[1] / new[1]:.1f}× faster gradient\n"
    )


# ---- 3. the posterior at each size --------------------------------------------------------


def posteriors(args, paths) -> np.ndarray | None:
    method = default_chain_method(4)  # parallel on 4 host devices; vectorized on a GPU
    print(
        f"2. posterior: 4 chains × {args.draws} draws after {args.warmup} warm-up, {method} "
        f"chains, medians over {args.repeats} run(s) per path; path@target_accept_prob"
    )
    print(
        f"{'grid':>6s} {'S':>5s} {'path':>8s} {'compile s':>9s} {'run s':>7s} {'max R-hat':>9s} "
        f"{'min ESS':>8s} {'divergent':>9s} {'% div':>6s} {'steps':>6s}  mean w"
    )
    accepts = {"old": args.old_accept, "new": args.accept}
    labels = {f"{p}@{a:g}": (p, a) for p in paths for a in accepts[p]}  # label: (path, accept)
    last_draws = None
    for n in args.sizes:
        demos = demonstrations(n, args.episodes)
        birls = {
            label: new_birl(args.warmup, args.draws, 4, method, a)
            for label, (path, a) in labels.items()
            if path == "new"
        }
        runs = {label: [] for label in labels}
        for r in range(args.repeats):  # interleaved, so drifting load hits the paths alike
            for label, (path, a) in labels.items():
                if path == "old":
                    runs[label].append(fit_old(demos, args.warmup, args.draws, 4, method, r, a))
                else:
                    runs[label].append(fit_new(birls[label], demos, r))
        med = {}
        for path in labels:
            fits = runs[path]
            s = [f.summary() for f in fits]
            med[path] = (
                statistics.median(f.compile_s for f in fits),
                statistics.median(f.run_s for f in fits),
            )
            div = statistics.median(f.divergences for f in fits)
            steps = statistics.median(f.mean_steps for f in fits)
            print(
                f"{n:>3d}×{n:<2d} {demos.mdps[0].n_states:5d} {path:>8s} {med[path][0]:9.2f} "
                f"{med[path][1]:7.1f} {max(x['rhat'] for x in s):9.3f} "
                f"{min(x['ess'] for x in s):8.0f} {div:9.0f} "
                f"{100 * div / fits[0].n_transitions:6.2f} {steps:6.1f}  "
                f"{np.round(s[0]['mean'], 2)}",
                flush=True,
            )
        for old in (label for label, (p, _) in labels.items() if p == "old"):
            oc, orun = med[old]
            for path in (label for label, (p, _) in labels.items() if p == "new"):
                nc, nrun = med[path]
                print(
                    f"{'':>6s} {old} / {path}: run {orun / nrun:.1f}×, compile + run "
                    f"{(oc + orun) / (nc + nrun):.1f}×",
                    flush=True,
                )
        if "new" in paths:
            last_draws = (demos, runs[list(labels)[-1]][0].draws)
    return last_draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=("old", "new", "both"), default="both")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--accept",
        type=float,
        nargs="+",
        default=[0.8, 0.98],
        help="target_accept_prob of the new path's posterior runs",
    )
    parser.add_argument(
        "--old-accept",
        type=float,
        nargs="+",
        default=[0.8],
        help="target_accept_prob of the old path's posterior runs (0.8: its default)",
    )
    parser.add_argument("--pw-samples", type=int, default=4000)
    parser.add_argument("--pw-steps", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--skip-gradient", action="store_true")
    parser.add_argument("--skip-posterior", action="store_true")
    args = parser.parse_args()
    for flag, values in (("--accept", args.accept), ("--old-accept", args.old_accept)):
        if not all(0 < a < 1 for a in values):
            parser.error(f"{flag}: expected target acceptance rates in (0, 1), got {values}")
    paths = ("old", "new") if args.path == "both" else (args.path,)
    if not args.skip_compare:
        compare_with_policywalk(args, paths)
    last = None
    if not args.skip_posterior:
        last = posteriors(args, paths)
    if not args.skip_gradient:
        if last is None:  # draws to count sweeps at: a short new-path fit
            demos = demonstrations(args.sizes[-1], args.episodes)
            birl = new_birl(200, 200, 4, default_chain_method(4))
            last = (demos, fit_new(birl, demos).draws)
        gradient_cost(*last)


if __name__ == "__main__":
    main()
