"""Demonstrations: trajectories collected from experts, saved as pickle-free .npz files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from rewunc import planning
from rewunc.io import read_npz, write_npz
from rewunc.mdp import TabularMDP


class DemonstrationError(ValueError):
    """Demonstrations are malformed (shapes, ranges, NaN, empty, tampered files)."""


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One episode.

    Attributes:
        states: int [T+1], MDP state indices (-1 where the env is not tabular).
        actions: int [T].
        features: float [T, K], φ of each state arrived in.
        rewards: float [T], the env's true rewards.
        outcome: "goal", "proxy", "hazard" or "timeout".
        layout_seed: the reset seed that drew this episode's layout.
        shift: the env's shift ("" for the training distribution).
    """

    states: np.ndarray
    actions: np.ndarray
    features: np.ndarray
    rewards: np.ndarray
    outcome: str
    layout_seed: int
    shift: str = ""

    @property
    def feature_counts(self) -> np.ndarray:
        """Σ_t φ(s_{t+1}), [K] (the statistic of preference likelihoods)."""
        return self.features.sum(0)


@dataclass(frozen=True, eq=False)
class Demonstrations:
    """Trajectories with the MDP of each one's layout (where tabular).

    Attributes:
        trajectories: tuple of Trajectory.
        feature_names: K names.
        env_id: the environment they came from.
        mdps: tuple with one TabularMDP per trajectory, or None for non-tabular envs.
    """

    trajectories: tuple[Trajectory, ...]
    feature_names: tuple[str, ...]
    env_id: str = ""
    mdps: tuple[TabularMDP, ...] | None = None

    def __post_init__(self):
        _validate(self)

    def __len__(self) -> int:
        return len(self.trajectories)

    def state_action_counts(self) -> np.ndarray:
        """N[L, S, A]: demonstrated (state, action) counts per trajectory's layout.

        S is the largest layout's state count (smaller layouts are padded, see ``pad_mdp``).
        """
        if self.mdps is None:
            raise DemonstrationError("state_action_counts needs tabular demonstrations (mdps)")
        S, A = max(m.n_states for m in self.mdps), self.mdps[0].n_actions
        counts = np.zeros((len(self), S, A))
        for i, t in enumerate(self.trajectories):
            np.add.at(counts[i], (t.states[:-1], t.actions), 1.0)
        return counts

    def layout_counts(self) -> tuple[tuple[TabularMDP, ...], np.ndarray]:
        """Distinct layouts and their pooled counts N[L', S, A].

        Trajectories that share a layout (e.g. under ``layout_seed``) are pooled, so the
        likelihood solves each MDP once.
        """
        counts = self.state_action_counts()
        index: dict[bytes, int] = {}
        groups = []
        for m in self.mdps:
            key = b"".join(a.tobytes() for a in (m.next_states, m.probs, m.features, m.terminal))
            groups.append(index.setdefault(key, len(index)))
        pooled = np.zeros((len(index),) + counts.shape[1:])
        np.add.at(pooled, np.array(groups), counts)
        first = {g: i for i, g in reversed(list(enumerate(groups)))}
        return tuple(self.mdps[first[g]] for g in range(len(index))), pooled

    def save(self, path, *, force: bool = False) -> Path:
        arrays = {
            "format": np.array("rewunc.demonstrations.v1"),
            "feature_names": np.array(self.feature_names),
            "env_id": np.array(self.env_id),
            "lengths": np.array([len(t.actions) for t in self.trajectories]),
            "states": np.concatenate([t.states for t in self.trajectories]),
            "actions": np.concatenate([t.actions for t in self.trajectories]),
            "features": np.concatenate([t.features for t in self.trajectories]),
            "rewards": np.concatenate([t.rewards for t in self.trajectories]),
            "outcomes": np.array([t.outcome for t in self.trajectories]),
            "layout_seeds": np.array([t.layout_seed for t in self.trajectories]),
            "shifts": np.array([t.shift for t in self.trajectories]),
        }
        if self.mdps is not None:
            S = max(m.n_states for m in self.mdps)
            B = max(m.next_states.shape[2] for m in self.mdps)
            padded = [planning.pad_mdp(m, S, B) for m in self.mdps]
            for field in ("next_states", "probs", "features", "initial", "terminal"):
                arrays["mdp_" + field] = np.stack([getattr(m, field) for m in padded])
            arrays["mdp_gamma"] = np.array([m.gamma for m in self.mdps])
            arrays["mdp_n_states"] = np.array([m.n_states for m in self.mdps])
        return write_npz(path, arrays, force=force)

    @classmethod
    def load(cls, path) -> Demonstrations:
        try:
            d = read_npz(path)
        except ValueError as err:
            raise DemonstrationError(f"{path}: not a rewunc demonstrations file ({err})") from err
        need = {
            "format",
            "feature_names",
            "lengths",
            "states",
            "actions",
            "features",
            "rewards",
            "outcomes",
            "layout_seeds",
            "shifts",
            "env_id",
        }
        if missing := need - set(d):
            raise DemonstrationError(f"{path}: missing arrays {sorted(missing)}")
        if str(d["format"]) != "rewunc.demonstrations.v1":
            raise DemonstrationError(f"{path}: unknown format {d['format']!r}")
        lengths = d["lengths"].astype(int)
        n = len(lengths)
        if lengths.min(initial=1) < 1 or lengths.sum() != len(d["actions"]):
            raise DemonstrationError(
                f"{path}: lengths do not add up to the {len(d['actions'])} actions stored"
            )
        if len(d["states"]) != lengths.sum() + n:
            raise DemonstrationError(
                f"{path}: expected {lengths.sum() + n} states (T+1 each), got {len(d['states'])}"
            )
        for name in ("outcomes", "layout_seeds", "shifts"):
            if len(d[name]) != n:
                raise DemonstrationError(f"{path}: {name} has {len(d[name])} entries, expected {n}")
        a_end = np.cumsum(lengths)
        s_end = a_end + np.arange(1, n + 1)
        trajs = tuple(
            Trajectory(
                states=d["states"][s_end[i] - lengths[i] - 1 : s_end[i]],
                actions=d["actions"][a_end[i] - lengths[i] : a_end[i]],
                features=d["features"][a_end[i] - lengths[i] : a_end[i]],
                rewards=d["rewards"][a_end[i] - lengths[i] : a_end[i]],
                outcome=str(d["outcomes"][i]),
                layout_seed=int(d["layout_seeds"][i]),
                shift=str(d["shifts"][i]),
            )
            for i in range(n)
        )
        mdps = None
        if "mdp_next_states" in d:
            names = tuple(str(x) for x in d["feature_names"])
            try:
                # layouts were padded to one size on save; cut each back to its own
                sizes = d.get("mdp_n_states", [d["mdp_next_states"].shape[1]] * n)
                mdps = tuple(
                    TabularMDP(
                        next_states=d["mdp_next_states"][i, :S],
                        probs=d["mdp_probs"][i, :S],
                        features=d["mdp_features"][i, :S],
                        feature_names=names,
                        initial=d["mdp_initial"][i, :S],
                        terminal=d["mdp_terminal"][i, :S],
                        gamma=float(d["mdp_gamma"][i]),
                    )
                    for i, S in enumerate(int(x) for x in sizes)
                )
            except (ValueError, IndexError, KeyError) as err:
                raise DemonstrationError(f"{path}: stored MDPs are invalid: {err}") from err
        return cls(trajs, tuple(str(x) for x in d["feature_names"]), str(d["env_id"]), mdps)


def _validate(demos: Demonstrations) -> None:
    if len(demos.trajectories) == 0:
        raise DemonstrationError("demonstrations: expected at least one trajectory, got none")
    K = len(demos.feature_names)
    if demos.mdps is not None:
        if len(demos.mdps) != len(demos.trajectories):
            raise DemonstrationError(
                f"demonstrations: {len(demos.mdps)} MDPs for {len(demos.trajectories)} trajectories"
            )
        if len({m.n_actions for m in demos.mdps}) != 1:
            raise DemonstrationError("demonstrations: layouts must share their action set")
        for m in demos.mdps:
            if m.feature_names != tuple(demos.feature_names):
                raise DemonstrationError(
                    f"demonstrations: MDP features {m.feature_names} do not "
                    f"match {tuple(demos.feature_names)}"
                )
    for i, t in enumerate(demos.trajectories):
        T = len(t.actions)
        where = f"trajectory {i}"
        if T == 0:
            raise DemonstrationError(f"{where}: empty (no actions)")
        if t.states.shape != (T + 1,):
            raise DemonstrationError(
                f"{where}: states: expected shape ({T + 1},), got {t.states.shape}"
            )
        if t.features.shape != (T, K):
            raise DemonstrationError(
                f"{where}: features: expected shape ({T}, {K}), got {t.features.shape}"
            )
        if t.rewards.shape != (T,):
            raise DemonstrationError(
                f"{where}: rewards: expected shape ({T},), got {t.rewards.shape}"
            )
        if not (np.isfinite(t.features).all() and np.isfinite(t.rewards).all()):
            raise DemonstrationError(f"{where}: features or rewards contain NaN or inf")
        if t.actions.min() < 0:
            raise DemonstrationError(f"{where}: actions must be >= 0")
        if demos.mdps is not None:
            m = demos.mdps[i]
            if t.states.min() < 0 or t.states.max() >= m.n_states:
                raise DemonstrationError(f"{where}: states out of range [0, {m.n_states})")
            if t.actions.max() >= m.n_actions:
                raise DemonstrationError(f"{where}: actions out of range [0, {m.n_actions})")


# ---- experts ------------------------------------------------------------------------------


def _expert_rewards(mdp: TabularMDP, weights) -> np.ndarray:
    """State rewards for ``weights``, or for the env's true weights when None."""
    return mdp.state_rewards(mdp.true_weights if weights is None else np.asarray(weights))


@dataclass(frozen=True)
class OptimalExpert:
    """Optimal for ``weights`` (default: the env's true weights) on each episode's own layout."""

    weights: Sequence[float] | None = None

    def policy(self, mdp: TabularMDP) -> np.ndarray:
        return np.asarray(planning.value_iteration(mdp, _expert_rewards(mdp, self.weights)).policy)


@dataclass(frozen=True)
class BoltzmannExpert:
    """Boltzmann-rational with rationality β: π(a|s) ∝ exp(β·Q_soft(s, a)) (DESIGN.md).

    Only β·w matters, and the soft objective pays log(A)/β per step in entropy: with the
    built-in envs' reward scales (step costs of 0.02–0.25) β must be large (≳ 30) for the
    expert to head for the goal rather than wander; β = 50 is a near-optimal demonstrator.
    """

    beta: float = 1.0
    weights: Sequence[float] | None = None

    def policy(self, mdp: TabularMDP) -> np.ndarray:
        rewards = _expert_rewards(mdp, self.weights)
        plan = planning.soft_value_iteration(mdp, rewards, self.beta, dtype=np.float64)
        return np.asarray(plan.policy)


@dataclass(frozen=True)
class NoisyExpert:
    """ε-noisy: the optimal action with probability 1 − ε, a uniform action otherwise."""

    epsilon: float = 0.1
    weights: Sequence[float] | None = None

    def policy(self, mdp: TabularMDP) -> np.ndarray:
        pi = OptimalExpert(self.weights).policy(mdp)
        return (1 - self.epsilon) * pi + self.epsilon / mdp.n_actions


def collect(
    env_or_id: gym.Env | str,
    policy,
    n_episodes: int,
    seed: int,
    shift: str | None = None,
    **env_kwargs,
) -> Demonstrations:
    """Roll out ``policy`` for ``n_episodes`` seeded episodes (one fresh layout each).

    Args:
        env_or_id: a gymnasium env or a registered id (made with ``shift`` and ``env_kwargs``).
        policy: an expert with ``policy(mdp) -> π[S, A]`` (tabular envs: planned on each layout's
            own MDP), or a callable ``obs -> action``.
        n_episodes: number of episodes.
        seed: one integer; layouts and action noise are drawn from it.
        shift: the shift to collect under (None: training distribution).
    """
    if n_episodes < 1:
        raise DemonstrationError(f"n_episodes: expected >= 1, got {n_episodes}")
    env = (
        gym.make(env_or_id, shift=shift, **env_kwargs) if isinstance(env_or_id, str) else env_or_id
    )
    base = env.unwrapped
    env_id = env_or_id if isinstance(env_or_id, str) else (env.spec.id if env.spec else "")
    rng = np.random.default_rng(seed)
    layout_seeds = rng.integers(2**31 - 1, size=n_episodes)
    tabular = hasattr(policy, "policy")
    trajs, mdps = [], []
    for layout_seed in layout_seeds:
        obs, info = env.reset(seed=int(layout_seed))
        pi = None
        if tabular:
            mdp = base.to_mdp()
            pi = policy.policy(mdp)
            mdps.append(mdp)
        states, actions, feats, rewards = [info.get("state", -1)], [], [], []
        while True:
            if tabular:
                s = base.state_index()
                a = int(rng.choice(len(pi[s]), p=pi[s] / pi[s].sum()))
            else:
                a = int(policy(obs))
            obs, r, term, trunc, info = env.step(a)
            actions.append(a)
            states.append(info.get("state", -1))
            feats.append(info["features"])
            rewards.append(r)
            if term or trunc:
                break
        trajs.append(
            Trajectory(
                np.array(states),
                np.array(actions),
                np.array(feats),
                np.array(rewards, dtype=np.float64),
                info["outcome"],
                int(layout_seed),
                getattr(base, "shift", None) or "",
            )
        )
    return Demonstrations(
        tuple(trajs), tuple(base.feature_names), env_id, tuple(mdps) if tabular else None
    )
