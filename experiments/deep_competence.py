"""Deep competence: does PPO reach its criterion's exact optimum on layouts it was not tuned on?

For each of ``layouts`` fixed LavaLand layouts (layout seeds ``first_layout``, ``first_layout`` +
1, ...) with lava present in training (``--shift lava``; ``train`` for the lava-free ones), the
deep TrueReward agent trains with the default :class:`DeepSettings` at ``steps`` and is scored
*exactly* on the layout's MDP (γ = ``gamma``): the values of its greedy and its stochastic policy
against the optimum V*, and the normalised gap (V* − V)/(V* − V_ref) against two references,
the uniform policy and the shortest-path-to-target policy (fewest steps, terrain ignored). A
looping agent can look competent against the uniform policy (which walks into lava), so the
table also gives the target occupancy (the discounted probability of reaching the target).

``--exploring-starts`` and ``--train-gamma`` set the two :class:`DeepSettings` fields that the
README's ablation varies (0 and 0.95: PPO as it was).

    python experiments/deep_competence.py --jobs 2   # 20 layouts: runs/deep_competence/default/
    python experiments/deep_competence.py --fast     # 2 layouts, tiny budget
    python experiments/deep_competence.py --exploring-starts 0 --train-gamma 0.95 --name plain

The risk-averse agents' competence (against their LP twins on a posterior) is not measured here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from rewunc.config import ConfigError, parse_flags, require, require_int, require_number
from rewunc.study import common, deep
from rewunc.study.config import option

ENV = "rewunc/LavaLand-v0"
STUDY = "deep_competence"
AGENT = "TrueReward"


@dataclass(frozen=True)
class CompetenceConfig:
    """Deep TrueReward on fixed LavaLand layouts, scored exactly against the LP optimum."""

    layouts: int = option(20, "fixed layouts to train and score on")
    first_layout: int = option(1000, "layout seed of the first layout (the others follow)")
    shift: str = option("lava", "training split of every layout: lava (lava present) or train")
    steps: int = option(200_000, "PPO steps per layout")
    seed: int = option(0, "the learner's seed")
    gamma: float = option(0.95, "the criterion's discount (the LP optimum's)")
    train_gamma: float = option(0.99, "PPO's discount (DeepSettings.train_gamma)")
    exploring_starts: float = option(
        0.5, "fraction of training episodes begun in a random state (DeepSettings)"
    )
    jobs: int = option(1, "layouts trained at once, in worker processes")

    def __post_init__(self):
        require_int(self.layouts, "layouts", 1)
        require_int(self.first_layout, "first_layout", 0)
        require(self.shift in ("lava", "train"), "shift", "lava or train", self.shift)
        require_int(self.steps, "steps", 1)
        require_int(self.seed, "seed", 0)
        require_number(self.gamma, "gamma", 0.0, 1.0, lo_open=True, hi_open=True)
        require_number(self.train_gamma, "train_gamma", 0.0, 1.0, lo_open=True, hi_open=True)
        require_number(self.exploring_starts, "exploring_starts", 0.0, 1.0)
        require_int(self.jobs, "jobs", 1)
        try:
            import rewunc.agents.deep.train  # noqa: F401
        except ImportError as err:
            raise ConfigError(
                f"deep agents need the 'deep' extra ({err}); install it with "
                "pip install torch==2.13.0 && pip install -e '.[deep]'"
            ) from err

    def settings(self):
        from rewunc.agents.deep.train import DeepSettings

        return DeepSettings(
            steps=self.steps,
            gamma=self.gamma,
            train_gamma=self.train_gamma,
            exploring_starts=self.exploring_starts,
        )

    def env_kwargs(self, layout: int) -> dict:
        return {"layout_seed": layout, "shift": None if self.shift == "train" else self.shift}


FAST = dict(layouts=2, steps=1024)


def score(model, env_kwargs: dict, gamma: float) -> dict:
    """The exact values of the model's greedy and stochastic policies on the layout's MDP, the
    references', and the normalised gaps and target occupancies."""
    import gymnasium as gym

    from rewunc.agents.deep.train import action_probabilities, greedy
    from rewunc.planning import greedy_policy, value_iteration
    from rewunc.policy_evaluation import feature_expectations

    env = gym.make(ENV, **env_kwargs)
    try:
        env.reset(seed=0)
        mdp = env.unwrapped.to_mdp(gamma)
        probs = action_probabilities(model, env)
    finally:
        env.close()
    w = np.asarray(mdp.true_weights, dtype=np.float64)
    target = mdp.feature_names.index("target")
    optimal = value_iteration(mdp, mdp.state_rewards(w), dtype=np.float64)
    steps_w = np.where(np.arange(len(w)) == target, 0.0, -1.0)  # every step costs 1
    shortest = value_iteration(mdp, mdp.state_rewards(steps_w), dtype=np.float64)
    policies = {
        "greedy": greedy(probs),
        "stochastic": probs,
        "uniform": np.full_like(probs, 1.0 / probs.shape[1]),
        "shortest": np.asarray(greedy_policy(shortest.q, atol=1e-9), dtype=np.float64),
    }
    policies["optimal"] = np.asarray(greedy_policy(optimal.q, atol=1e-9), dtype=np.float64)
    mu = dict(zip(policies, feature_expectations(mdp, np.stack(list(policies.values())),
                                                 dtype=np.float64), strict=True))  # fmt: skip
    value = {k: float(m @ w) for k, m in mu.items() if k != "optimal"}
    v_star = float(mdp.initial @ optimal.v)
    row = {"optimum": v_star, **{f"value_{k}": float(v) for k, v in value.items()}}
    for policy in ("greedy", "stochastic"):
        for ref in ("uniform", "shortest"):
            span = v_star - value[ref]
            gap = (v_star - value[policy]) / span if span > 1e-9 else float("nan")
            row[f"gap_{ref}_{policy}"] = float(gap)
    for policy in ("greedy", "stochastic", "optimal"):
        row[f"target_{policy}"] = float(mu[policy][target])
    return row


def summarise(rows: list[dict]) -> str:
    """Median and worst of each gap over the layouts, and how many reach the target."""
    lines = [f"{'':22s} {'median':>8s} {'worst':>8s}"]
    for key in ("gap_uniform_greedy", "gap_shortest_greedy", "gap_uniform_stochastic",
                "gap_shortest_stochastic"):  # fmt: skip
        values = np.array([r[key] for r in rows], dtype=float)
        lines.append(f"{key:22s} {np.nanmedian(values):8.3f} {np.nanmax(values):8.3f}")
    reached = sum(r["target_greedy"] > 0 for r in rows)
    lines.append(f"greedy policy reaches the target on {reached} of {len(rows)} layouts")
    return "\n".join(lines)


def main(argv=None) -> int:
    cfg, flags = parse_flags(CompetenceConfig, FAST, argv, prog="deep_competence")
    run = common.start(STUDY, cfg, flags)  # --jobs is not recorded: resume with any value
    layouts = [cfg.first_layout + i for i in range(cfg.layouts)]
    tasks = [deep.DeepTask(f"{STUDY}/layout{layout}", cfg.seed, AGENT, ENV,
                           cfg.env_kwargs(layout), None) for layout in layouts]  # fmt: skip
    models = deep.train_deep_agents(run, tasks, settings=cfg.settings(), agent_samples=1,
                                    jobs=cfg.jobs)  # fmt: skip
    rows = []
    for layout, task in zip(layouts, tasks, strict=True):
        seconds = run.stage(task.key).get("train_seconds", float("nan"))
        rows.append({"layout": layout, "shift": cfg.shift, "seed": cfg.seed,
                     **score(models[task.key], task.env_kwargs, cfg.gamma),
                     "train_seconds": seconds})  # fmt: skip
    run.write_table("competence.csv", rows)
    run.finish("complete", ["competence.csv"])
    print(summarise(rows))
    print(f"\nwrote {run.path}/competence.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
