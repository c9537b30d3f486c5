"""Preference posteriors: NUTS (rewunc) against random-walk Metropolis (Bayesian REX's sampler).

Both samplers target the same posterior: the Bradley–Terry likelihood over segment feature
counts (``rewunc.birl.preference_log_likelihood``, equal pairs included) with the same N(0, 1)
prior and the same fixed β, on the same preferences: segments of 12×12 LavaLand episodes (with
lava) from demonstrators of several skills, labelled by a B-Pref teacher.

* NUTS: ``rewunc.birl.BIRL`` (diagonal mass matrix adapted in warm-up), chains one after another.
* Random-walk Metropolis (RWMH: isotropic Gaussian proposals, as Bayesian REX; RWMH+diag: the
  same with a diagonal preconditioner), written here in JAX: the step size is tuned towards 0.4
  acceptance (Robbins–Monro) all through warm-up, which runs in expanding windows; after each,
  RWMH+diag scales proposals per coordinate by the window's posterior sd (Stan's regularised
  estimate: the analogue of NUTS's diagonal mass matrix). Chains vmapped.

Reported per sampler: compile seconds (JAX's own compile events) apart from run seconds
(warm-up included), min bulk ESS over the weights (ArviZ), ESS per run second; medians over
``--repeats`` seeds, and the ratio of the medians. Everything on one CPU core; each sampler is
compiled once (the first seed's row) and reused.

    python benchmarks/preferences.py [--fast] [--pairs 1000] [--repeats 3]
"""

from __future__ import annotations

import os

# One core, as the tests run: no XLA thread pool across cores.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import argparse  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from functools import partial  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.scipy.stats as jstats  # noqa: E402
import numpy as np  # noqa: E402

from rewunc.birl import BIRL, diagnostics, preference_data, preference_log_likelihood  # noqa: E402
from rewunc.experts import BoltzmannExpert, PreferenceTeacher, label_segment_preferences  # noqa: E402
from rewunc.rollout import collect  # noqa: E402

BETA, PRIOR_SD = 5.0, 1.0
WINDOWS = (1 / 16, 1 / 16, 1 / 8, 1 / 4, 3 / 8)  # RWMH warm-up windows, as fractions (Stan-like)
COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


@contextmanager
def stopwatch():
    """Yields a dict that ends with {"wall": s, "compile": s}: JAX compile events in between."""
    out = {"compile": 0.0}

    def listen(event, duration, **_):
        if event in COMPILE_EVENTS:
            out["compile"] += duration

    jax.monitoring.register_event_duration_secs_listener(listen)
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        out["wall"] = time.perf_counter() - t0
        jax.monitoring.unregister_event_duration_listener(listen)


def preferences(n_pairs: int, seed: int = 0):
    """B-Pref-labelled segments of LavaLand episodes from good to poor demonstrators."""
    trajectories = []
    for i, beta in enumerate((50.0, 10.0, 3.0)):
        demos = collect(
            "rewunc/LavaLand-v0", BoltzmannExpert(beta), 20, seed + i, shift="lava", size=12
        )
        trajectories += demos.trajectories
    teacher = PreferenceTeacher(beta=BETA, mistake=0.05, equal_threshold=0.02)
    return label_segment_preferences(
        trajectories, teacher, n_pairs, 10, seed, demos.feature_names, demos.env_id
    )


def nuts(prefs, args, seed, birl):
    with stopwatch() as t:
        post = birl.fit(preferences=prefs, seed=seed, warn=False)
    t["wall"] = post.diagnostics["wall_seconds"]  # the sampler alone, not fit's diagnostics
    draws = post.weights.reshape(args.chains, args.draws, -1)
    return draws, t, {"divergences": post.diagnostics["divergences"]}


def log_density(data, w):
    """The posterior NUTS samples (up to a constant): Bradley–Terry × N(0, PRIOR_SD²)."""
    prior = jnp.sum(jstats.norm.logpdf(w, 0.0, PRIOR_SD))
    return preference_log_likelihood(data, w, BETA) + prior


def rwmh(data, key, n_warmup: int, n_draws: int, precondition: bool):
    """One random-walk Metropolis chain: draws [n_draws, K] and the sampling acceptance rate.

    ``precondition=False`` keeps isotropic proposals (Bayesian REX's sampler)."""
    K = data.better.shape[1]
    logp = partial(log_density, data)

    def step(state, key, adapt_rate):
        x, lp, log_step, scale, t = state
        k1, k2 = jax.random.split(key)
        proposal = x + jnp.exp(log_step) * scale * jax.random.normal(k1, (K,))
        lp_new = logp(proposal)
        accept_prob = jnp.exp(jnp.minimum(0.0, lp_new - lp))
        accept = jax.random.uniform(k2) < accept_prob
        x, lp = jnp.where(accept, proposal, x), jnp.where(accept, lp_new, lp)
        log_step = log_step + adapt_rate * (accept_prob - 0.4) / (t + 1.0) ** 0.6
        return (x, lp, log_step, scale, t + 1), (x, accept)

    def run(state, key, n, adapt_rate):
        return jax.lax.scan(lambda s, k: step(s, k, adapt_rate), state, jax.random.split(key, n))

    keys = jax.random.split(key, 3 + len(WINDOWS))
    x0 = 0.1 * jax.random.normal(keys[0], (K,))
    state = (x0, logp(x0), jnp.log(0.1), jnp.ones(K), 0.0)
    for fraction, k in zip(WINDOWS, keys[3:], strict=True):
        n = max(int(fraction * n_warmup), 2)
        state, (xs, _) = run(state, k, n, 1.0)
        # Stan's regularised variance estimate; keep the average proposal size of the window
        var = (n / (n + 5.0)) * jnp.var(xs, axis=0) + 1e-3 * (5.0 / (n + 5.0))
        x, lp, log_step, scale, _ = state
        new_scale = jnp.sqrt(var) if precondition else scale
        log_step = log_step + jnp.log(jnp.mean(scale) / jnp.mean(new_scale))
        state = (x, lp, log_step, new_scale, 0.0)
    state, _ = run(state, keys[1], max(n_warmup // 8, 2), 1.0)  # step size for the last scale
    _, (draws, accepted) = run(state, keys[2], n_draws, 0.0)
    return draws, jnp.mean(accepted)


# chains vmapped, compiled once per data shape and chain length
rwmh_chains = jax.jit(jax.vmap(rwmh, in_axes=(None, 0, None, None, None)), static_argnums=(2, 3, 4))


def random_walk(prefs, args, seed, precondition):
    data = preference_data(prefs, len(prefs.feature_names))
    keys = jax.random.split(jax.random.PRNGKey(seed), args.chains)
    with stopwatch() as t:
        draws, acceptance = jax.block_until_ready(
            rwmh_chains(data, keys, args.rw_warmup, args.rw_draws, precondition)
        )
    return np.asarray(draws, np.float64), t, {"acceptance": float(jnp.mean(acceptance))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--fast", action="store_true", help="few pairs, short chains, 2 repeats")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--rw-warmup", type=int, default=5000)
    parser.add_argument("--rw-draws", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.fast:
        args.pairs, args.warmup, args.draws, args.repeats = 300, 300, 500, 2
        args.rw_warmup, args.rw_draws = 2000, 8000
    prefs = preferences(args.pairs)
    print(
        f"LavaLand 12×12 (lava), {len(prefs)} segment pairs ({int(prefs.equal.sum())} equal), "
        f"K = {len(prefs.feature_names)} {prefs.feature_names}, β = {BETA}, N(0, {PRIOR_SD}²) "
        f"prior; {args.chains} chains each, one core"
    )
    print(
        f"{'sampler':>9s} {'seed':>4s} {'draws':>7s} {'compile s':>9s} {'run s':>7s} "
        f"{'min ESS':>8s} {'ESS/s':>9s} {'max R-hat':>9s}  extra / mean w"
    )
    birl = BIRL(  # one object for every seed: compiled once
        beta=BETA,
        prior_scale=PRIOR_SD,
        num_warmup=args.warmup,
        num_samples=args.draws,
        num_chains=args.chains,
        chain_method="sequential",
        progress_bar=False,
    )
    samplers = {
        "NUTS": partial(nuts, birl=birl),
        "RWMH": partial(random_walk, precondition=False),
        "RWMH+diag": partial(random_walk, precondition=True),
    }
    diagnostics(np.random.default_rng(0).normal(size=(1, 8, 1)))  # import ArviZ before any clock
    rates = {name: [] for name in samplers}
    for seed in range(args.repeats):
        for name, sampler in samplers.items():
            draws, t, extra = sampler(prefs, args, seed)
            d = diagnostics(draws)
            run = t["wall"] - t["compile"]
            ess = float(np.min(d["ess_bulk"]))
            rates[name].append(ess / run)
            note = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in extra.items())  # fmt: skip
            print(
                f"{name:>9s} {seed:4d} {draws.shape[0] * draws.shape[1]:7d} {t['compile']:9.2f} "
                f"{run:7.2f} {ess:8.0f} {ess / run:9.1f} {np.max(d['rhat']):9.3f}  {note}; "
                f"{np.round(draws.reshape(-1, draws.shape[-1]).mean(0), 3)}",
                flush=True,
            )
    median = {name: float(np.median(r)) for name, r in rates.items()}
    print("median min-ESS per run second: " + ", ".join(f"{k} {v:.1f}" for k, v in median.items()))
    for name in ("RWMH", "RWMH+diag"):
        print(f"NUTS / {name} = {median['NUTS'] / median[name]:.2f}×")


if __name__ == "__main__":
    main()
