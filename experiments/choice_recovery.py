"""How well does each MDP-free demonstration likelihood recover PointLava's reward?

For each seed: demonstrations by the scripted expert (action noise 0.3) on lava-free arenas →
alternatives by each construction of :mod:`rewunc.birl.choice` → a posterior from the choices
alone (PointLava's BIRL options: β = 1, the target anchored at N(1, 0.05²)) → the expert's
planner run on the posterior mean, scored by the true reward. Recovery is judged by what
decisions need: each seen weight's error relative to its true size, the mud/ground cost ratio
(true 10), and the true regret of the policy planned on the posterior (train and lava arenas;
with lava unseen, only its prior speaks there).

Constructions: ``reference`` (uniform random rollouts: the reference-tilted model's own
proposal), ``mixture`` (the defensive mixture of the reference and noisy replays, with q/r
weights) and ``choice_set`` (the perturbation contrast, not a likelihood; for comparison).

    python experiments/choice_recovery.py                  # 5 seeds: runs/choice_recovery/
    python experiments/choice_recovery.py --fast --out /tmp/recovery
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rewunc.birl import BIRL
from rewunc.birl.choice import (
    choice_data,
    mixture_rollouts,
    normaliser_ess,
    perturbed_replays,
    reference_rollouts,
)
from rewunc.config import ConfigError, parse_config, require_int, require_number
from rewunc.envs.mujoco_lite import PointLava
from rewunc.envs.mujoco_lite.experts import PointLavaExpert
from rewunc.io import write_json
from rewunc.rollout import collect
from rewunc.study.checks import make_env
from rewunc.study.config import StudyConfig, option

ENV = "rewunc/PointLava-v0"
CONSTRUCTIONS = ("reference", "mixture", "choice_set")
TRUE = np.asarray(PointLava.TRUE_WEIGHTS)
NAMES = PointLava.feature_names
SEEN = ("ground", "mud", "progress")  # what lava-free demonstrations inform (target: anchored)


@dataclass(frozen=True)
class RecoveryConfig:
    """Recover PointLava's reward from choices alone, by each construction."""

    seeds: tuple[int, ...] = option((0, 1, 2, 3, 4), "seeds (each: its demonstrations and fits)")
    constructions: tuple[str, ...] = option(CONSTRUCTIONS, f"some of {CONSTRUCTIONS}")
    n_demos: int = option(20, "demonstrations per seed")
    n_alternatives: int = option(64, "alternatives per demonstration (J)")
    demo_noise: float = option(0.3, "the expert's action noise (sd)")
    proposal_noise: float = option(0.3, "the mixture's replay noise (sd of a truncated Gaussian)")
    mix: float = option(0.5, "the reference's share of the mixture, in (0, 1]")
    n_episodes: int = option(20, "episodes per split to score the planned policy")
    infer_beta: bool = option(True, "infer β (LogNormal(beta_prior)); false: PointLava's β = 1")
    beta_prior: tuple[float, float] = option((0.0, 3.0), "LogNormal (mu, sigma) of β")
    num_warmup: int = option(400, "NUTS warm-up per chain")
    num_samples: int = option(400, "NUTS draws per chain")

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds: expected distinct seeds, got {self.seeds}")
        for s in self.seeds:
            require_int(s, "seeds", 0)
        for c in self.constructions:
            if c not in CONSTRUCTIONS:
                raise ConfigError(f"--constructions: expected some of {CONSTRUCTIONS}, got {c!r}")
        for name in ("n_demos", "n_alternatives", "n_episodes", "num_warmup", "num_samples"):
            require_int(getattr(self, name), name, 1)
        require_number(self.demo_noise, "demo_noise", 0.0, 10.0)
        require_number(self.proposal_noise, "proposal_noise", 0.0, 10.0, lo_open=True)
        require_number(self.mix, "mix", 0.0, 1.0, lo_open=True)


FAST = dict(seeds=(0,), n_demos=4, n_alternatives=8, n_episodes=2, num_warmup=100, num_samples=100)


def alternatives(env, demos, cfg: RecoveryConfig, construction: str, seed: int):
    if construction == "reference":
        return reference_rollouts(env, demos, cfg.n_alternatives, seed)
    if construction == "mixture":
        return mixture_rollouts(
            env, demos, cfg.n_alternatives, seed, noise_scale=cfg.proposal_noise, mix=cfg.mix
        )
    return perturbed_replays(
        env, demos, cfg.n_alternatives, (0.5, 2.0), seed, horizon="demonstration"
    )  # the studies' perturbation contrast


def true_return(weights, shift: str | None, cfg: RecoveryConfig, seed: int) -> float:
    """Mean undiscounted true return of the expert's planner for ``weights`` (no noise)."""
    runs = collect(ENV, PointLavaExpert(weights, 0.0, seed), cfg.n_episodes, 50_000 + seed, shift)
    return float(np.mean([t.rewards.sum() for t in runs.trajectories]))


def recover(cfg: RecoveryConfig, seed: int, birl_options: dict) -> list[dict]:
    demos = collect(ENV, PointLavaExpert(TRUE, cfg.demo_noise, seed), cfg.n_demos, seed)
    oracle = {s: true_return(TRUE, s, cfg, seed) for s in (None, "lava")}
    env, rows = make_env(ENV, None, {}), []
    for construction in cfg.constructions:
        choices = alternatives(env, demos, cfg, construction, seed)
        post = BIRL(progress_bar=False, **birl_options).fit(choices=choices, seed=seed, warn=False)
        w = post.weights.mean(0)
        diag = post.diagnostics
        beta = post.beta.mean() if post.beta is not None else float("nan")
        row = dict(
            seed=seed,
            construction=construction,
            divergences=diag["divergences"],
            beta=float(beta),
            rhat=float(np.nanmax(diag["rhat"])),
            normaliser_ess=float("nan"),
        )
        if choices.normaliser == "sampled":  # Ẑ's effective sample size at 200 posterior draws
            scaled = post.weights * (1.0 if post.beta is None else post.beta[:, None])
            ess = normaliser_ess(
                choice_data(choices, len(NAMES)), scaled[:: max(1, len(scaled) // 200)], 1.0
            )
            row["normaliser_ess"] = float(np.median(ess.min(axis=1)))  # worst demo, typical draw
        for k, name in enumerate(NAMES):
            row[f"w_{name}"] = float(w[k])
            row[f"sd_{name}"] = float(post.weights[:, k].std())
        for name in SEEN:
            k = NAMES.index(name)
            row[f"relerr_{name}"] = float(abs(w[k] - TRUE[k]) / abs(TRUE[k]))
        row["mud_over_ground"] = float(w[1] / w[0]) if w[0] < 0 else float("nan")
        planned = np.where(np.arange(5) < 3, np.minimum(w, -1e-3), w)  # the planner needs costs
        for shift in (None, "lava"):
            row[f"regret_{shift or 'train'}"] = oracle[shift] - true_return(
                planned, shift, cfg, seed
            )
        rows.append(row)
    env.close()
    return rows


def main(argv=None) -> int:
    cfg, opts = parse_config(
        RecoveryConfig,
        argv,
        FAST,
        out=dict(default="runs/choice_recovery", help="output folder"),
        fast=dict(action="store_true", help="a tiny smoke run"),
        force=dict(action="store_true", help="overwrite existing results"),
        prog="choice_recovery",
    )
    out = Path(opts.out) / "recovery.json"
    if out.exists() and not opts.force:
        print(f"error: {out} exists; pass --force to overwrite", file=sys.stderr)
        return 2
    # PointLava's study options (β = 1, the target anchored at N(1, 0.05²)), built from the
    # library's StudyConfig rather than by importing experiments/point_lava.py
    study = StudyConfig(env=ENV, birl_beta=1.0, anchor_feature="target", anchor_prior=(1.0, 0.05),
                        num_warmup=cfg.num_warmup, num_samples=cfg.num_samples)  # fmt: skip
    birl_options = study.birl_options()
    if cfg.infer_beta:  # a near-optimal expert is far from "uniform, tilted with β = 1"
        birl_options.update(beta=None, beta_prior=cfg.beta_prior)
    rows = [row for seed in cfg.seeds for row in recover(cfg, seed, birl_options)]
    cols = ("relerr_ground", "relerr_mud", "mud_over_ground", "w_lava", "regret_train",
            "regret_lava", "normaliser_ess", "beta")  # fmt: skip
    print(f"{'construction':12s} {'seed':>4s} " + " ".join(f"{c:>15s}" for c in cols))
    for r in rows:
        print(f"{r['construction']:12s} {r['seed']:4d} " + " ".join(f"{r[c]:15.3f}" for c in cols))
    for c in cfg.constructions:
        sub = [r for r in rows if r["construction"] == c]
        med = {k: float(np.median([r[k] for r in sub])) for k in cols}
        print(f"{c:12s} {'med':>4s} " + " ".join(f"{med[k]:15.3f}" for k in cols))
    write_json(out, {"config": asdict(cfg), "true_weights": TRUE.tolist(), "rows": rows},
               force=opts.force)  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
