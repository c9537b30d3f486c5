"""Bayesian IRL in the studies' regime: NUTS against its old numerics and against PolicyWalk.

``benchmarks/birl.py`` measures a posterior no study has (β = 1, one layout, demonstrations that
never reach the target). This one measures the flagship's: LavaLand's procedural training
layouts (one per demonstration), the flagship's demonstrator (Boltzmann over soft Q at β = 50
with the env's true weights), the flagship's prior (every weight N(0, 1), the target anchored at
N(1, 0.05²)) and β, with ``max_steps`` = ``--steps-per-size`` × size (4 by default) and a
discount that lets the demonstrations reach the target (:func:`default_gamma`, or
``--gammas``). At each of ``--sizes``:

* ``new``: ``BIRL`` with the studies' options (``StudyConfig.birl_options``: declared one-hot
  groups, reference parameterisation, Anderson soft VI, warm starts, dense mass), at each
  ``--accept``;
* ``old``: the same with the numerics the studies pinned before (raw weights, plain sweeps from
  V = 0), at each ``--accept``;
* ``new-raw``, ``new-sweeps``, ``new-cold`` (only when asked for in ``--paths``): ``new`` with
  one of ``old``'s numerics each, to say which one a difference comes from;
* ``PolicyWalk``: the same likelihood, prior, solver, warm starts and fixed references as ``new``
  (so the same posterior), at each grid step of ``--pw-steps``.

Before the samplers, at each size, the cost of one log-likelihood gradient (the unit NUTS
pays ``steps`` of per draw) for each path's soft value iteration: median milliseconds over
gradients at weights scattered around the truth, warm starts (where the path has them) from the
soft V at the truth, compile apart. It is cheap where the samplers are not, so it also says at
64×64 which numerics a sampler would pay for. ``--gradients-only`` stops there.

Each sampler row: compile seconds apart from run seconds, max R-hat, min bulk ESS, min bulk
ESS per run second, divergent transitions (count and %), leapfrog steps per draw. Ratios are
printed only between runs at ≤ 0.1% divergent transitions (PolicyWalk has none) and R-hat
≤ 1.05, the fastest such run of each kind, so a fast but biased or unmixed sampler never wins.
Targets (issue #18): NUTS ≥ 10× PolicyWalk's ESS/s at 32×32 and 64×64; new ≥ 4× faster than
old at equal divergence.

    python benchmarks/birl_regime.py [--sizes 8 32 64] [--demos 20] [--warmup 500] [--draws 500]
"""

from __future__ import annotations

import os

# Chains in parallel need one host device per chain; this must be set before JAX starts.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import gymnasium as gym  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from rewunc.birl import BIRL, default_chain_method, demo_data  # noqa: E402
from rewunc.birl.infer import _layout_values  # noqa: E402
from rewunc.birl.model import demo_log_likelihood  # noqa: E402
from rewunc.birl.policywalk import policy_walk  # noqa: E402
from rewunc.rollout import collect  # noqa: E402
from rewunc.study.config import StudyConfig, TabularFields  # noqa: E402

ENV = "rewunc/LavaLand-v0"
# the studies' numerics before issue #18 (STUDY_SOFT_VI and parameterisation="raw")
OLD = dict(parameterisation="raw", solver="sweeps", warm_start=False, grad_tol=None)
# the new path with one of the old numerics at a time: which one the difference comes from
ABLATIONS = {
    "new-raw": dict(parameterisation="raw"),
    "new-sweeps": dict(solver="sweeps"),
    "new-cold": dict(warm_start=False),
    "new-tight": dict(grad_tol=None),  # the adjoint solved to tol, as the old path did
}
NUTS_PATHS = {"new": {}, "old": OLD, **ABLATIONS}
MAX_DIVERGENT = 0.001  # the fraction at which runs are compared
MAX_RHAT = 1.05  # and the R-hat: below it an ESS means nothing


@dataclass(frozen=True)
class Flagship(TabularFields, StudyConfig):
    """The flagship's options (experiments/lavaland.py) at one grid size."""

    anchor_feature: str = "target"
    anchor_prior: tuple[float, ...] = (1.0, 0.05)


@dataclass
class Row:
    grid: int
    label: str
    compile_s: float
    run_s: float
    rhat: float
    ess: float
    divergent: int
    transitions: int
    steps: float  # leapfrog steps per draw (NaN for PolicyWalk)
    note: str = ""  # e.g. PolicyWalk's acceptance rate

    @property
    def ess_per_s(self) -> float:
        return self.ess / self.run_s

    @property
    def divergent_fraction(self) -> float:
        return self.divergent / self.transitions

    def line(self) -> str:
        return (
            f"{self.grid:>3d}×{self.grid:<3d} {self.label:>16s} {self.compile_s:9.2f} "
            f"{self.run_s:8.1f} {self.rhat:9.3f} {self.ess:8.0f} {self.ess_per_s:8.2f} "
            f"{self.divergent:6d} {100 * self.divergent_fraction:6.2f} {self.steps:6.1f}"
            f"{'  ' + self.note if self.note else ''}"
        )


def default_gamma(size: int) -> float:
    """The flagship's 0.95 up to 8×8; longer horizons on larger grids, where a Boltzmann
    demonstrator at 0.95 hardly sees a target 30 steps away (at 32×32 30% of its
    demonstrations reach it in 4 × size steps, at 64×64 15%; at 0.99 and 0.995, 100% and 95%)."""
    return 0.95 if size <= 8 else 0.99 if size <= 32 else 0.995


def demonstrations(cfg: Flagship, seed: int):
    return collect(ENV, cfg.demonstrator(), cfg.n_demos, seed, gamma=cfg.gamma,
                   **cfg.env_options())  # fmt: skip


def describe(demos) -> str:
    trajs = demos.trajectories
    reached = np.mean([t.outcome == "goal" for t in trajs])
    steps = sum(len(t.actions) for t in trajs)
    totals = np.sum([t.features.sum(0) for t in trajs], axis=0)
    names = demos.feature_names
    named = ", ".join(f"{n} {v:.0f}" for n, v in zip(names, totals, strict=True))
    return f"{len(trajs)} demonstrations, {steps} steps, {reached:.0%} reach the target ({named})"


def true_weights(cfg: Flagship) -> np.ndarray:
    with gym.make(cfg.env, **cfg.env_options()) as env:
        return np.asarray(env.unwrapped.true_weights, float)


def gradient_ms(data, options: dict, truth: np.ndarray, points: np.ndarray, repeats: int) -> float:
    """Median ms per gradient of the demonstration log-likelihood at ``points`` [P, K], with
    the soft VI numerics a BIRL given ``options`` would use (warm-started from V at ``truth``
    where it warm-starts)."""
    c = BIRL(progress_bar=False, **options).config  # BIRL's defaults, not a copy of them
    tol, beta, solver, grad_tol = c["tol"], float(c["beta"]), c["solver"], c["grad_tol"]
    if c["warm_start"]:
        w = jnp.asarray(truth, jnp.float32)[None]
        data = data._replace(v0=_layout_values(data.mdps, w, jnp.full((1,), beta), tol, solver)[0])
    grad = jax.jit(jax.grad(lambda w, d: demo_log_likelihood(d, w, beta, tol, solver=solver,
                                                             grad_tol=grad_tol)))  # fmt: skip
    W = jnp.asarray(points, jnp.float32)
    jax.block_until_ready(grad(W[0], data))  # compile
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(grad(W[i % len(W)], data))
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def gradient_costs(cfg: Flagship, data, paths, seed: int, repeats: int = 20) -> dict[str, float]:
    """{path: ms per gradient}, printed as one line per path with its ratio to ``old``."""
    truth = true_weights(cfg)
    points = truth + 0.1 * np.random.default_rng(seed).standard_normal((10, len(truth)))
    out = {
        p: gradient_ms(data, {**cfg.birl_options(), **NUTS_PATHS[p]}, truth, points, repeats)
        for p in paths
    }
    for p, ms in out.items():
        vs = f"  ({out['old'] / ms:.2f}× old's speed)" if "old" in out else ""
        print(f"{'':>8s}gradient {p:>10s}: {ms:8.2f} ms{vs}", flush=True)
    return out


def nuts_row(size: int, label: str, options: dict, demos, seed: int) -> tuple[Row, BIRL]:
    birl = BIRL(progress_bar=False, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = birl.fit(demos, seed=seed, warn=False)
    jax.clear_caches()  # release this fit's compiled code (see rewunc.study.common.fit_posterior)
    d = post.diagnostics
    # the fit's own R-hat and ESS (NaN at a fixed reference weight)
    row = Row(size, label, d["compile_seconds"], d["run_seconds"], float(np.nanmax(d["rhat"])),
              float(np.nanmin(d["ess_bulk"])), int(d["divergences"]), len(post.weights),
              float(d["mean_steps"]))  # fmt: skip
    return row, birl


def policywalk_row(size: int, step: float, birl: BIRL, data, args, names) -> Row:
    cfg = birl.config
    K = len(names)
    loc = np.broadcast_to(np.asarray(cfg["prior_loc"], float), (K,))
    scale = np.broadcast_to(np.asarray(cfg["prior_scale"], float), (K,))
    pw = policy_walk(
        data,
        names,
        n_samples=args.pw_samples,
        burn_in=args.pw_samples // 4,
        step=step,
        r_max=float(np.max(np.abs(loc) + 4 * scale)),  # the prior's mass, well inside the box
        alpha=cfg["beta"],
        q="soft",
        num_chains=4,
        seed=0,
        log_prior=lambda w: -0.5 * float((((w - loc) / scale) ** 2).sum()),
        solver=cfg["solver"],
        warm_start=cfg["warm_start"],
        fixed=birl.fixed_weights(names),  # the same posterior as NUTS's
    )
    p = pw.posterior
    return Row(size, f"PolicyWalk δ={step:g}", 0.0, pw.wall_seconds,
               float(np.nanmax(p.diagnostics["rhat"])), float(np.nanmin(p.diagnostics["ess_bulk"])),
               0, p.n_samples, float("nan"), f"accepted {pw.acceptance_rate:.0%}")  # fmt: skip


OK = f"≤ {MAX_DIVERGENT:.1%} divergent and R-hat ≤ {MAX_RHAT}"


def best(rows: list[Row], kind: str) -> Row | None:
    ok = [
        r
        for r in rows
        if r.label.split("@")[0].split()[0] == kind  # new-raw@0.9 is not a new run
        and r.divergent_fraction <= MAX_DIVERGENT
        and r.rhat <= MAX_RHAT
    ]
    return max(ok, key=lambda r: r.ess_per_s, default=None)


def ratio(rows: list[Row], a: str, b: str) -> str:
    ra, rb = best(rows, a), best(rows, b)
    if ra is None or rb is None:
        missing = a if ra is None else b
        return f"{a} / {b}: no {missing} run at {OK}"
    times = ra.ess_per_s / rb.ess_per_s
    return f"{ra.label} / {rb.label}, min bulk ESS per second at {OK}: {times:.1f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--steps-per-size", type=int, default=4)
    parser.add_argument("--gammas", type=float, nargs="+", default=None,
                        help="one discount per size (default: default_gamma(size))")  # fmt: skip
    parser.add_argument("--demos", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--accept", type=float, nargs="+", default=[0.9, 0.97])
    parser.add_argument("--paths", nargs="+", choices=(*NUTS_PATHS, "policywalk"),
                        default=["new", "old", "policywalk"])  # fmt: skip
    parser.add_argument("--pw-samples", type=int, default=2000)
    parser.add_argument("--pw-steps", type=float, nargs="+", default=[0.02, 0.05, 0.1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gradients-only", action="store_true",
                        help="time the gradients only, not the samplers")  # fmt: skip
    parser.add_argument("--json", default="", help="also write the rows to this JSON file")
    args = parser.parse_args()
    if any(n < 4 for n in args.sizes):
        parser.error(f"--sizes: LavaLand needs sizes >= 4, got {args.sizes}")
    if args.steps_per_size < 1:
        parser.error(f"--steps-per-size: expected a positive int, got {args.steps_per_size}")
    for name in ("demos", "warmup", "draws", "pw_samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected a positive int, got "
                         f"{getattr(args, name)}")  # fmt: skip
    if not all(d > 0 for d in args.pw_steps):
        parser.error(f"--pw-steps: expected positive grid steps, got {args.pw_steps}")
    if not all(0 < a < 1 for a in args.accept):
        parser.error(f"--accept: expected target acceptance rates in (0, 1), got {args.accept}")
    gammas = args.gammas or [default_gamma(n) for n in args.sizes]
    if len(gammas) != len(args.sizes) or not all(0 < g < 1 for g in gammas):
        parser.error(f"--gammas: expected one discount in (0, 1) per size, got {args.gammas}")
    configs = {
        n: Flagship(
            env=ENV,
            env_kwargs=json.dumps({"size": n, "max_steps": args.steps_per_size * n}),
            n_demos=args.demos,
            num_warmup=args.warmup,
            num_samples=args.draws,
            num_chains=4,
            seeds=(args.seed,),
            gamma=g,
        )  # fmt: skip
        for n, g in zip(args.sizes, gammas, strict=True)
    }  # every config is validated before any work starts
    pw = f"PolicyWalk 4 chains × {args.pw_samples} after {args.pw_samples // 4} burn-in"
    print(f"4 chains ({default_chain_method(4)}), {args.warmup} warm-up + {args.draws} draws; {pw}")
    print(f"{'grid':>7s} {'sampler':>16s} {'compile s':>9s} {'run s':>8s} {'max R-hat':>9s} "
          f"{'min ESS':>8s} {'ESS/s':>8s} {'diverg':>6s} {'% div':>6s} {'steps':>6s}")  # fmt: skip
    rows: list[Row] = []
    gradients: dict[int, dict[str, float]] = {}
    for n, cfg in configs.items():
        demos = demonstrations(cfg, args.seed)
        print(f"{n}×{n}, max_steps {args.steps_per_size * n}, γ {cfg.gamma:g}: {describe(demos)}",
              flush=True)  # fmt: skip
        # the parameterisation does not change a gradient's cost: new-raw's would be new's
        soft_vi = [p for p in NUTS_PATHS if p != "new-raw"]
        data = demo_data(demos)  # for the gradients and every PolicyWalk grid step
        gradients[n] = gradient_costs(cfg, data, soft_vi, args.seed)
        if args.gradients_only:
            continue
        here: list[Row] = []
        birl = None
        for a in args.accept:
            for path, change in NUTS_PATHS.items():
                if path not in args.paths:
                    continue
                options = {**cfg.birl_options(), "target_accept_prob": a, **change}
                row, fitted = nuts_row(n, f"{path}@{a:g}", options, demos, args.seed)
                birl = fitted if path == "new" else birl
                here.append(row)
                print(row.line(), flush=True)
        if "policywalk" in args.paths:
            if birl is None:  # PolicyWalk runs on the new path's code
                birl = BIRL(progress_bar=False, **cfg.birl_options())
            for step in args.pw_steps:
                here.append(policywalk_row(n, step, birl, data, args, cfg.feature_names))
                print(here[-1].line(), flush=True)
        for a, b in (("new", "old"), ("new", "PolicyWalk"), ("old", "PolicyWalk")):
            print(f"{'':>8s}{ratio(here, a, b)}", flush=True)
        rows += here
    if args.json:
        with open(args.json, "w") as f:
            samplers = [{**r.__dict__, "ess_per_s": r.ess_per_s} for r in rows]
            json.dump({"gradient_ms": gradients, "samplers": samplers}, f, indent=1)


if __name__ == "__main__":
    main()
