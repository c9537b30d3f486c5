"""LavaLand robustness: does the flagship's conclusion survive the choices it never varied?

The flagship (experiments/lavaland.py) fixes the unseen features' prior sd (1), the learner's β
(the demonstrator's, 50), a demonstrator that is exactly BIRL's likelihood (Boltzmann over soft
Q), 20 demonstrations and an independent prior per weight. Here each is varied in turn around
that base, one axis at a time, over the same seeds (every setting sees the same demonstrations
where its demonstrator and count are the base's, and the same evaluation layouts):

    unseen_sd     the prior sd of the features training never shows (lava, gravel)
    assumed_beta  the β the learner assumes, against the demonstrator's 50
    demonstrator  soft (the model), hard (Boltzmann over optimal Q), epsilon (optimal, 10% random)
    n_demos       demonstrations per seed
    prior         independent N(0, sd²) per weight, or hierarchical over the terrain group

Agents are evaluated on ``train``, on ``lava`` (the hazard: caution pays) and on ``harmless``
(gravel, as cheap as dirt and as unseen as lava: caution costs, and the regret there is its
price). One figure draws goal and hazard rates on lava and the regret on harmless against each
axis, per agent, with each seed's value.

    python experiments/lavaland_robustness.py            # runs/lavaland_robustness/default/
    python experiments/lavaland_robustness.py --fast     # a few minutes
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

from rewunc.config import (
    ConfigError,
    parse_flags,
    require,
    require_distinct,
    require_int,
    require_number,
)
from rewunc.evaluate import EvalLayouts, format_summary
from rewunc.plots import plot_run
from rewunc.study import common, report, tabular
from rewunc.study.config import EXPERTS, StudyConfig, TabularFields, option

AGENTS = ("BayesMean", "Maximin", "CVaR(alpha=0.9)", "BROIL(lam=0.5, alpha=0.95)", "Oracle")
UNSEEN = ("lava", "gravel")  # the features no training layout has
PRIORS = ("independent", "hierarchical")
AXES = ("unseen_sd", "assumed_beta", "demonstrator", "n_demos", "prior")


@dataclass(frozen=True)
class LavaLandRobustnessConfig(TabularFields, StudyConfig):
    """The flagship's settings as the base (``prior_scale``, ``birl_beta``, ``expert``,
    ``n_demos``, independent priors), and the values each axis takes in turn."""

    env: str = "rewunc/LavaLand-v0"
    anchor_feature: str = "target"
    anchor_prior: tuple[float, ...] = (1.0, 0.05)
    agents: tuple[str, ...] = AGENTS
    shifts: tuple[str, ...] = ("train", "lava", "harmless")
    n_episodes: int = 50
    unseen_sds: tuple[float, ...] = option(
        (0.1, 0.3, 1.0, 3.0), "prior sds of the unseen features (lava, gravel)"
    )
    assumed_betas: tuple[float, ...] = option(
        (10.0, 50.0, 200.0), "the learner's assumed β (the demonstrator's is --expert-beta)"
    )
    demonstrators: tuple[str, ...] = option(EXPERTS, f"demonstrators, each of {EXPERTS}")
    demo_counts: tuple[int, ...] = option((5, 20, 80), "demonstrations per seed")
    priors: tuple[str, ...] = option(PRIORS, f"weight priors, each of {PRIORS}")

    def _check_fields(self) -> None:
        for name in ("unseen_sds", "assumed_betas", "demonstrators", "demo_counts", "priors"):
            require(len(getattr(self, name)) >= 1, name, "one value or more", getattr(self, name))
            require_distinct(getattr(self, name), name)
        for sd in self.unseen_sds:
            require_number(sd, "unseen_sds", 0.0, float("inf"), lo_open=True, hi_open=True)
        for beta in self.assumed_betas:
            require_number(beta, "assumed_betas", 0.0, float("inf"), lo_open=True, hi_open=True)
        for kind in self.demonstrators:
            require(kind in EXPERTS, "demonstrators", f"each of {list(EXPERTS)}", kind)
        for n in self.demo_counts:
            require_int(n, "demo_counts", 1)
        for prior in self.priors:
            require(prior in PRIORS, "priors", f"each of {list(PRIORS)}", prior)
        missing = [f for f in UNSEEN if f not in self.feature_names]
        require(not missing, "env", f"an env with the unseen features {UNSEEN}", self.env)
        if self.prior_sd or self.hierarchical_prior:
            raise ConfigError(
                "--prior-sd, --hierarchical-prior: the robustness study sets them per setting "
                "(--unseen-sds, --priors)"
            )

    def base(self) -> dict:
        """The flagship's value on every axis."""
        return {
            "unseen_sd": self.prior_scale,
            "assumed_beta": self.birl_beta,
            "demonstrator": self.expert,
            "n_demos": self.n_demos,
            "prior": "independent",
        }

    def settings(self) -> list[dict]:
        """The base, then each axis's other values with every other axis at the base."""
        base = self.base()
        values = dict(
            zip(
                AXES,
                (
                    self.unseen_sds,
                    self.assumed_betas,
                    self.demonstrators,
                    self.demo_counts,
                    self.priors,
                ),  # fmt: skip
                strict=True,
            )
        )
        out = [base]
        for axis in AXES:
            out += [{**base, axis: v} for v in values[axis] if v != base[axis]]
        return out

    def at(self, setting: dict) -> Setting:
        """The flagship's config at one setting (validated again)."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(Setting)}
        return Setting(
            **{
                **shared,
                "prior_sd": tuple(f"{f}={setting['unseen_sd']:g}" for f in UNSEEN),
                "birl_beta": float(setting["assumed_beta"]),
                "expert": setting["demonstrator"],
                "n_demos": int(setting["n_demos"]),
                "hierarchical_prior": setting["prior"] == "hierarchical",
            }
        )


@dataclass(frozen=True)
class Setting(TabularFields, StudyConfig):
    """One setting of the study: the flagship's flags with the setting's values."""


def axis_of(setting: dict, base: dict) -> str:
    """The axis a setting varies ("base" for the base)."""
    return next((a for a in AXES if setting[a] != base[a]), "base")


def label(setting: dict, base: dict) -> str:
    """A setting's study label: "base", or its axis and value (e.g. "unseen_sd=0.3")."""
    axis = axis_of(setting, base)
    if axis == "base":
        return "base"
    value = setting[axis]
    return f"{axis}={value:g}" if isinstance(value, int | float) else f"{axis}={value}"


FAST = dict(  # four settings (the base, one sd, one demonstrator, the hierarchical prior)
    seeds=(0,),
    unseen_sds=(0.3, 1.0),
    assumed_betas=(50.0,),
    demonstrators=("soft", "epsilon"),
    demo_counts=(5,),
    priors=PRIORS,
    n_demos=5,
    num_warmup=60,
    num_samples=60,
    max_tree_depth=5,
    n_episodes=4,
    agent_samples=20,
    agents=("BayesMean", "CVaR(alpha=0.9)", "Oracle"),
)
STUDY = "lavaland_robustness"
SUMMARY = ("goal_rate", "hazard_rate", "return", "regret")


def main(argv=None) -> int:
    cfg, flags = parse_flags(LavaLandRobustnessConfig, FAST, argv, prog="lavaland_robustness")
    env, env_kwargs, base = cfg.env, cfg.env_options(), cfg.base()
    studies = [(label(s, base), s, cfg.at(s)) for s in cfg.settings()]  # refuses bad values
    run = common.start(STUDY, cfg, flags)
    cells, posteriors = [], []
    # fmt: off
    for seed in cfg.seeds:
        for study, setting, sub in studies:
            tags = {"axis": axis_of(setting, base), **setting}
            demos = common.collect_demonstrations(run, env, env_kwargs, sub.demonstrator(),
                                                  sub.n_demos, seed, study=study, gamma=cfg.gamma)
            posterior = common.fit_posterior(run, demos, sub.birl_options(), seed, study=study,
                                             env_id=env, env_kwargs=env_kwargs)
            posteriors.append(report.posterior_row(study, seed, posterior, tags=tags))
            for shift in cfg.shifts:
                layouts = EvalLayouts.draw(env, shift, cfg.n_episodes, seed, cfg.gamma,
                                           **env_kwargs)
                for agent in cfg.agents:
                    plans = tabular.plan_agent(run, agent, posterior, layouts, seed, study=study,
                                               agent_samples=cfg.agent_samples)
                    cells.append(tabular.evaluation_cell(run, plans, layouts, seed, study=study,
                                                         posterior=posterior, tags=tags,
                                                         alpha=cfg.frontier_alpha))
    # fmt: on
    by = ("study", *AXES, "axis", "env", "shift", "agent")
    results = report.write_tables(run, cells, posteriors=posteriors, by=by)
    figures = plot_run(run.path, run.figure_format)
    run.finish("complete")
    print(format_summary(results[results["shift"] != "train"], SUMMARY))
    print(f"\nwrote {run.path}/results.csv, comparisons.csv and {len(figures)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
