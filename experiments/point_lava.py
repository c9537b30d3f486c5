"""PointLava: Inverse Reward Design in continuous control, with no MDP anywhere.

A scripted expert crosses lava-free arenas → preferences (a B-Pref teacher over segment pairs) and
trajectory choices (each demonstration against noisy replays of itself) → a reward posterior by
NUTS, in which the lava weight keeps its prior → deep agents {BayesMean, CVaR(0.9),
BROIL(0.5, 0.95) (RiskAversePPO over the posterior), TrueReward (PPO on the designer's reward)}
trained in arenas *with* lava, where only the posterior tells them what lava costs → rollouts on
held-out lava-free and lava arenas.

    python experiments/point_lava.py --jobs 2        # 3 seeds: runs/point_lava/default/
    python experiments/point_lava.py --fast          # about a minute: runs/point_lava/fast/
    python experiments/point_lava.py --data preferences --teacher-mistake 0.1 --name noisy
    python experiments/point_lava.py --deep-train-shift train --name lava_free_training
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rewunc import continuous_stages, deep_stages, stages
from rewunc.config import parse_flags
from rewunc.continuous_stages import FeatureStudyConfig
from rewunc.deep_stages import DeepTask
from rewunc.envs.mujoco_lite import PointLava
from rewunc.envs.mujoco_lite.experts import PointLavaExpert
from rewunc.evaluate import EvalLayouts


@dataclass(frozen=True)
class PointLavaConfig(FeatureStudyConfig):
    """PointLava: preferences and demonstrations without lava, deep agents with it.

    The target's weight is anchored (the designer's unit; it also pins the constant of the
    one-hot terrain, which segment preferences cannot see). See
    rewunc.continuous_stages.FeatureStudyConfig for every other flag.
    """

    env: str = "rewunc/PointLava-v0"
    anchor_feature: str = "target"
    anchor_prior: tuple[float, ...] = (1.0, 0.05)
    deep_agents: tuple[str, ...] = (
        "BayesMean",
        "CVaR(alpha=0.9)",
        "BROIL(lam=0.5, alpha=0.95)",
        "TrueReward",
    )
    deep_steps: int = 500_000
    deep_train_shift: str = "lava"
    shifts: tuple[str, ...] = ("train", "lava")


FAST = dict(
    seeds=(0,),
    n_demos=6,
    n_alternatives=4,
    n_rollouts=4,
    n_pairs=60,
    num_warmup=150,
    num_samples=150,
    deep_steps=2048,
    n_episodes=8,
    agent_samples=40,
)
STUDY = "point_lava"
SUMMARY = ("goal_rate", "hazard_rate", "timeout_rate", "return")


def expert(noise: float, seed) -> PointLavaExpert:
    """The scripted demonstrator: the designer's cheapest path, with action noise."""
    return PointLavaExpert(PointLava.TRUE_WEIGHTS, noise, seed)


def main(argv=None) -> int:
    cfg, flags = parse_flags(PointLavaConfig, FAST, argv, prog="point_lava")  # refuses bad flags
    return run_study(cfg, flags, study=STUDY, expert=expert, summary=SUMMARY)


def run_study(cfg: FeatureStudyConfig, flags, *, study: str, expert, summary) -> int:
    """The study, from data to figures (point_color.py runs it too, with its env and expert)."""
    env, env_kwargs = cfg.env, cfg.env_options()
    run = stages.start(study, cfg, flags)
    posteriors, rows, tasks = {}, [], []
    # fmt: off
    for seed in cfg.seeds:
        prefs = choices = None
        if cfg.data in ("both", "preferences"):
            prefs = continuous_stages.preferences(run, env, env_kwargs, expert, cfg.rollout_noise,
                                                  cfg.n_rollouts, cfg.teacher(), cfg.n_pairs,
                                                  cfg.segment_length, seed, study=study)
        if cfg.data in ("both", "choices"):
            demos = stages.demonstrations(run, env, env_kwargs, expert(cfg.demo_noise, seed),
                                          cfg.n_demos, seed, study=study)
            choices = continuous_stages.choices(run, env, env_kwargs, demos, cfg.n_alternatives,
                                                cfg.replay_noise, seed, study=study,
                                                horizon=cfg.replay_horizon)
        posteriors[seed] = stages.posterior(run, prefs, cfg.birl_options(), seed, study=study,
                                            env_id=env, env_kwargs=env_kwargs, choices=choices,
                                            feature_names=cfg._feature_names)
        rows.append(stages.posterior_row(study, seed, posteriors[seed]))
        tasks += [DeepTask(study, seed, spec, env, cfg.deep_env_kwargs(), posteriors[seed])
                  for spec in cfg.deep_agents]
    models = deep_stages.deep_agents(run, tasks, settings=cfg.settings(),
                                     agent_samples=cfg.agent_samples, jobs=cfg.jobs)
    cells = []
    for seed in cfg.seeds:
        for shift in cfg.shifts:
            layouts = EvalLayouts.draw(env, shift, cfg.n_episodes, seed, cfg.gamma, **env_kwargs)
            cells += [deep_stages.deep_evaluation(run, models[task.key], task.spec, layouts, seed,
                                                  study=study, posterior=posteriors[seed])
                      for task in tasks if task.seed == seed]
    # fmt: on
    return deep_stages.conclude(run, cells, posteriors=rows, summary=summary)


if __name__ == "__main__":
    sys.exit(main())
