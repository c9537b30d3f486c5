"""Trajectories, demonstrations and preferences for any observation and action space.

A :class:`Trajectory` holds what any env gives: observations [T+1, *obs_shape], actions
[T, *action_shape] (Discrete: int; Box: float), the features φ of each state arrived in, the
true rewards and the outcome. What only a tabular env has (MDP state ids and each layout's
:class:`~rewunc.mdp.TabularMDP`) lives beside the trajectories in :class:`TabularLayouts`, so
the same :class:`Demonstrations` carry a gridworld's or a continuous env's data.
:class:`Preferences` are pairs of feature counts with which one was preferred (or that they were
equal); :class:`TrajectoryChoices` are demonstrations' feature counts beside alternatives from the
same start. All of them save to and load from pickle-free ``.npz`` files; a corrupt file raises
an error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rewunc import planning
from rewunc.io import CorruptFileError, read_npz, write_npz
from rewunc.mdp import TabularMDP

DEMOS_FORMAT = "rewunc.demonstrations.v2"
PREFERENCES_FORMAT = "rewunc.preferences.v1"
CHOICES_FORMAT = "rewunc.choices.v1"
NORMALISERS = ("sampled", "choice_set")


class DataError(ValueError):
    """Trajectories, demonstrations or preferences are malformed (shapes, NaN, files)."""


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One episode.

    Attributes:
        observations: [T+1, *obs_shape], from reset to the last step.
        actions: [T, *action_shape] (int for Discrete spaces, float for Box).
        features: float [T, K], φ of each state arrived in.
        rewards: float [T], the env's rewards.
        outcome: "goal", "proxy", "hazard" or "timeout".
        layout_seed: the reset seed that drew this episode.
        shift: the env's shift ("" for the training distribution).
        terminated: True if the episode ended by termination (the env's ``terminated``), False
            if by truncation (the time limit), None where unknown (files written before it was
            recorded). An outcome does not say which: a LavaLand hazard ends either way.
    """

    observations: np.ndarray
    actions: np.ndarray
    features: np.ndarray
    rewards: np.ndarray
    outcome: str
    layout_seed: int
    shift: str = ""
    terminated: bool | None = None

    @property
    def truncated(self) -> bool | None:
        """True if the episode ended by the time limit (None where unknown)."""
        return None if self.terminated is None else not self.terminated

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def feature_counts(self) -> np.ndarray:
        """Σ_t φ(s_{t+1}), [K] (the statistic of preference likelihoods)."""
        return self.features.sum(0)

    def discounted_feature_counts(self, gamma: float) -> np.ndarray:
        """Σ_t γ^t φ(s_{t+1}), [K]: the return of reward w is w·this."""
        return (gamma ** np.arange(len(self.features))) @ self.features


@dataclass(frozen=True, eq=False)
class TabularLayouts:
    """What a tabular env adds beside the trajectories: MDP state ids and each layout's MDP.

    Attributes:
        states: one int array [T+1] per trajectory, indices into that trajectory's MDP.
        mdps: one TabularMDP per trajectory (its layout, as ``env.unwrapped.to_mdp()`` gave it).
    """

    states: tuple[np.ndarray, ...]
    mdps: tuple[TabularMDP, ...]


@dataclass(frozen=True, eq=False)
class Demonstrations:
    """Trajectories of one env, with their tabular layouts where the env has them.

    Attributes:
        trajectories: tuple of Trajectory.
        feature_names: K names.
        env_id: the environment they came from.
        tabular: TabularLayouts, or None for an env without ``to_mdp()``.
    """

    trajectories: tuple[Trajectory, ...]
    feature_names: tuple[str, ...]
    env_id: str = ""
    tabular: TabularLayouts | None = None

    def __post_init__(self):
        object.__setattr__(self, "trajectories", tuple(self.trajectories))
        object.__setattr__(self, "feature_names", tuple(str(n) for n in self.feature_names))
        _validate(self)

    def __len__(self) -> int:
        return len(self.trajectories)

    @property
    def mdps(self) -> tuple[TabularMDP, ...] | None:
        return None if self.tabular is None else self.tabular.mdps

    def state_action_counts(self) -> np.ndarray:
        """N[L, S, A]: demonstrated (state, action) counts per trajectory's layout.

        S is the largest layout's state count (smaller layouts are padded, see ``pad_mdp``).
        """
        if self.tabular is None:
            raise DataError("state_action_counts needs tabular demonstrations (an env with to_mdp)")
        mdps = self.tabular.mdps
        S, A = max(m.n_states for m in mdps), mdps[0].n_actions
        counts = np.zeros((len(self), S, A))
        for i, (t, states) in enumerate(zip(self.trajectories, self.tabular.states, strict=True)):
            np.add.at(counts[i], (states[:-1], t.actions), 1.0)
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
        """Write one ``.npz`` (never pickled); ``force`` to replace an existing file."""
        trajs = self.trajectories
        arrays = {
            "format": np.array(DEMOS_FORMAT),
            "feature_names": np.array(self.feature_names),
            "env_id": np.array(self.env_id),
            "lengths": np.array([len(t) for t in trajs]),
            "observations": np.concatenate([t.observations for t in trajs]),
            "actions": np.concatenate([t.actions for t in trajs]),
            "features": np.concatenate([t.features for t in trajs]),
            "rewards": np.concatenate([t.rewards for t in trajs]),
            "outcomes": np.array([t.outcome for t in trajs]),
            "layout_seeds": np.array([t.layout_seed for t in trajs]),
            "shifts": np.array([t.shift for t in trajs]),
        }
        if all(t.terminated is not None for t in trajs):
            arrays["terminated"] = np.array([bool(t.terminated) for t in trajs])
        if self.tabular is not None:
            mdps = self.tabular.mdps
            arrays["states"] = np.concatenate(self.tabular.states)
            S = max(m.n_states for m in mdps)
            B = max(m.next_states.shape[2] for m in mdps)
            padded = [planning.pad_mdp(m, S, B) for m in mdps]
            for field in ("next_states", "probs", "features", "initial", "terminal"):
                arrays["mdp_" + field] = np.stack([getattr(m, field) for m in padded])
            arrays["mdp_gamma"] = np.array([m.gamma for m in mdps])
            arrays["mdp_n_states"] = np.array([m.n_states for m in mdps])
            if all(m.true_weights is not None for m in mdps):
                arrays["mdp_true_weights"] = np.stack([m.true_weights for m in mdps])
        return write_npz(path, arrays, force=force)

    @classmethod
    def load(cls, path) -> Demonstrations:
        """Read a file written by :meth:`save`; every array is checked before use."""
        d = read_npz(path)
        _require(d, path, DEMOS_FORMAT, *_DEMOS_ARRAYS)
        lengths = d["lengths"].astype(int)
        n = len(lengths)
        if n == 0 or lengths.min() < 1 or lengths.sum() != len(d["actions"]):
            raise DataError(f"{path}: lengths do not add up to the {len(d['actions'])} actions")
        if len(d["observations"]) != lengths.sum() + n:
            raise DataError(f"{path}: expected {lengths.sum() + n} observations (T+1 each)")
        terminated = d.get("terminated")  # absent from files written before it was recorded
        for name in ("outcomes", "layout_seeds", "shifts") + (
            ("terminated",) * (terminated is not None)
        ):
            if len(d[name]) != n:
                raise DataError(f"{path}: {name} has {len(d[name])} entries, expected {n}")
        a_end = np.cumsum(lengths)
        o_end = a_end + np.arange(1, n + 1)
        a_slices = [slice(e - T, e) for e, T in zip(a_end, lengths, strict=True)]
        o_slices = [slice(e - T - 1, e) for e, T in zip(o_end, lengths, strict=True)]
        try:
            trajs = tuple(
                Trajectory(
                    observations=d["observations"][o_slices[i]],
                    actions=d["actions"][a_slices[i]],
                    features=d["features"][a_slices[i]],
                    rewards=d["rewards"][a_slices[i]],
                    outcome=str(d["outcomes"][i]),
                    layout_seed=int(d["layout_seeds"][i]),
                    shift=str(d["shifts"][i]),
                    terminated=None if terminated is None else bool(terminated[i]),
                )
                for i in range(n)
            )
            tabular = None
            if "mdp_next_states" in d:
                tabular = _load_tabular(d, path, o_slices)
            return cls(trajs, tuple(str(x) for x in d["feature_names"]), str(d["env_id"]), tabular)
        except DataError as err:
            raise DataError(f"{path}: {err}") from err


_DEMOS_ARRAYS = (
    "feature_names", "env_id", "lengths", "observations", "actions", "features", "rewards",
    "outcomes", "layout_seeds", "shifts",
)  # fmt: skip


def _load_tabular(d: dict, path, o_slices: list[slice]) -> TabularLayouts:
    names = tuple(str(x) for x in d["feature_names"])
    if "states" not in d or len(d["states"]) != len(d["observations"]):
        raise DataError(f"{path}: tabular demonstrations without one state per observation")
    try:
        mdps = tuple(
            TabularMDP(
                next_states=d["mdp_next_states"][i, :S],
                probs=d["mdp_probs"][i, :S],
                features=d["mdp_features"][i, :S],
                feature_names=names,
                initial=d["mdp_initial"][i, :S],
                terminal=d["mdp_terminal"][i, :S],
                gamma=float(d["mdp_gamma"][i]),
                true_weights=d["mdp_true_weights"][i] if "mdp_true_weights" in d else None,
            )
            for i, S in enumerate(int(x) for x in d["mdp_n_states"])
        )
    except (ValueError, IndexError, KeyError) as err:
        raise DataError(f"{path}: stored MDPs are invalid: {err}") from err
    return TabularLayouts(tuple(d["states"][s] for s in o_slices), mdps)


def _require(d: dict, path, fmt: str, *names: str) -> None:
    if "format" not in d or str(d["format"]) != fmt:
        found = str(d["format"]) if "format" in d else "none"
        raise CorruptFileError(f"{path}: not a {fmt} file (format: {found})")
    if missing := [n for n in names if n not in d]:
        raise CorruptFileError(f"{path}: missing arrays {missing}")


def _validate(demos: Demonstrations) -> None:
    if len(demos.trajectories) == 0:
        raise DataError("demonstrations: expected at least one trajectory, got none")
    K = len(demos.feature_names)
    obs_shape = demos.trajectories[0].observations.shape[1:]
    act_shape = demos.trajectories[0].actions.shape[1:]
    for i, t in enumerate(demos.trajectories):
        T = len(t.actions)
        where = f"trajectory {i}"
        if T == 0:
            raise DataError(f"{where}: empty (no actions)")
        if t.observations.shape != (T + 1, *obs_shape):
            raise DataError(
                f"{where}: observations: expected shape {(T + 1, *obs_shape)}, "
                f"got {t.observations.shape}"
            )
        if t.actions.shape[1:] != act_shape:
            raise DataError(f"{where}: actions: expected shape {(T, *act_shape)}")
        if t.features.shape != (T, K):
            raise DataError(f"{where}: features: expected shape ({T}, {K}), got {t.features.shape}")
        if t.rewards.shape != (T,):
            raise DataError(f"{where}: rewards: expected shape ({T},), got {t.rewards.shape}")
        if not (np.isfinite(t.features).all() and np.isfinite(t.rewards).all()):
            raise DataError(f"{where}: features or rewards contain NaN or inf")
    if demos.tabular is not None:
        _validate_tabular(demos)


def _validate_tabular(demos: Demonstrations) -> None:
    tab = demos.tabular
    n = len(demos.trajectories)
    if len(tab.mdps) != n or len(tab.states) != n:
        raise DataError(
            f"demonstrations: {len(tab.mdps)} MDPs and {len(tab.states)} state arrays "
            f"for {n} trajectories"
        )
    if len({m.n_actions for m in tab.mdps}) != 1:
        raise DataError("demonstrations: layouts must share their action set")
    for i, (t, states, m) in enumerate(zip(demos.trajectories, tab.states, tab.mdps, strict=True)):
        where = f"trajectory {i}"
        if m.feature_names != demos.feature_names:
            raise DataError(
                f"{where}: MDP features {m.feature_names} do not match {demos.feature_names}"
            )
        if states.shape != (len(t) + 1,):
            raise DataError(f"{where}: states: expected shape ({len(t) + 1},), got {states.shape}")
        if states.min() < 0 or states.max() >= m.n_states:
            raise DataError(f"{where}: states out of range [0, {m.n_states})")
        if t.actions.ndim != 1 or t.actions.min() < 0 or t.actions.max() >= m.n_actions:
            raise DataError(f"{where}: actions must be ints in [0, {m.n_actions})")


@dataclass(frozen=True, eq=False)
class Preferences:
    """Pairwise preferences between trajectory segments, as feature counts.

    Attributes:
        better: float [N, K], Σ φ over the preferred segment of each pair (the first segment of
            an equal pair).
        worse: float [N, K], Σ φ over the other segment.
        feature_names: K names.
        env_id: the environment the segments came from.
        equal: bool [N], pairs the teacher judged equally preferable (B-Pref's 0.5 label);
            None means none (all False).
    """

    better: np.ndarray
    worse: np.ndarray
    feature_names: tuple[str, ...]
    env_id: str = ""
    equal: np.ndarray | None = None

    def __post_init__(self):
        better = np.asarray(self.better, dtype=np.float64)
        worse = np.asarray(self.worse, dtype=np.float64)
        K = len(self.feature_names)
        if better.ndim != 2 or better.shape[0] == 0 or better.shape[1] != K:
            raise DataError(
                f"preferences: better: expected shape [N >= 1, {K}], got {better.shape}"
            )
        if worse.shape != better.shape:
            raise DataError(f"preferences: worse has shape {worse.shape}, better {better.shape}")
        if not (np.isfinite(better).all() and np.isfinite(worse).all()):
            raise DataError("preferences: feature counts contain NaN or inf")
        equal = np.zeros(len(better), bool) if self.equal is None else np.asarray(self.equal)
        if equal.shape != (len(better),):
            raise DataError(
                f"preferences: equal: expected shape ({len(better)},), got {equal.shape}"
            )
        if equal.dtype != bool:
            if equal.dtype.kind not in "iuf" or not np.isin(equal, (0, 1)).all():
                raise DataError("preferences: equal: expected booleans (or 0/1)")
            equal = equal.astype(bool)
        object.__setattr__(self, "better", better)
        object.__setattr__(self, "worse", worse)
        object.__setattr__(self, "equal", equal)
        object.__setattr__(self, "feature_names", tuple(str(n) for n in self.feature_names))

    def __len__(self) -> int:
        return len(self.better)

    def save(self, path, *, force: bool = False) -> Path:
        arrays = {
            "format": np.array(PREFERENCES_FORMAT),
            "feature_names": np.array(self.feature_names),
            "env_id": np.array(self.env_id),
            "better": self.better,
            "worse": self.worse,
            "equal": self.equal,
        }
        return write_npz(path, arrays, force=force)

    @classmethod
    def load(cls, path) -> Preferences:
        """Read a file written by :meth:`save`; files without ``equal`` load as all False."""
        d = read_npz(path)
        _require(d, path, PREFERENCES_FORMAT, "feature_names", "env_id", "better", "worse")
        try:
            return cls(
                d["better"],
                d["worse"],
                tuple(str(x) for x in d["feature_names"]),
                str(d["env_id"]),
                d.get("equal"),
            )
        except DataError as err:
            raise DataError(f"{path}: {err}") from err


@dataclass(frozen=True, eq=False)
class TrajectoryChoices:
    """Demonstrated trajectories, each with alternatives from the same start, as feature counts.

    The statistic of the MDP-free demonstration likelihoods (:mod:`rewunc.birl.choice`).

    Attributes:
        chosen: float [N, K], Φ = Σ_t γ^t φ_t of each demonstrated trajectory.
        alternatives: float [N, J, K], Φ of J alternatives per demonstration.
        feature_names: K names.
        env_id: the environment the trajectories came from.
        gamma: the γ of Φ (1.0: undiscounted feature sums).
        normaliser: ``"sampled"``: the alternatives are draws from a proposal that ignores the
            demonstration, and estimate the partition function with importance weights
            ``log_weights`` (the reference-tilted model); ``"choice_set"``: the demonstrator
            chose ``chosen[n]`` from {chosen[n]} ∪ alternatives[n] (the perturbation contrast).
        log_weights: float [N, J], log(reference / proposal density) of each alternative
            (zeros, the default, when the proposal is the reference; unused by "choice_set").
    """

    chosen: np.ndarray
    alternatives: np.ndarray
    feature_names: tuple[str, ...]
    env_id: str = ""
    gamma: float = 1.0
    normaliser: str = "choice_set"
    log_weights: np.ndarray | None = None

    def __post_init__(self):
        chosen = np.asarray(self.chosen, dtype=np.float64)
        alts = np.asarray(self.alternatives, dtype=np.float64)
        K = len(self.feature_names)
        if chosen.ndim != 2 or chosen.shape[0] == 0 or chosen.shape[1] != K:
            raise DataError(f"choices: chosen: expected shape [N >= 1, {K}], got {chosen.shape}")
        N = len(chosen)
        if alts.ndim != 3 or alts.shape[0] != N or alts.shape[1] == 0 or alts.shape[2] != K:
            raise DataError(
                f"choices: alternatives: expected shape [{N}, J >= 1, {K}], got {alts.shape}"
            )
        if not (np.isfinite(chosen).all() and np.isfinite(alts).all()):
            raise DataError("choices: feature counts contain NaN or inf")
        if not 0.0 < self.gamma <= 1.0:
            raise DataError(f"choices: gamma: expected a discount in (0, 1], got {self.gamma!r}")
        if self.normaliser not in NORMALISERS:
            raise DataError(
                f"choices: normaliser: expected one of {NORMALISERS}, got {self.normaliser!r}"
            )
        logw = np.zeros(alts.shape[:2]) if self.log_weights is None else self.log_weights
        logw = np.asarray(logw, dtype=np.float64)
        if logw.shape != alts.shape[:2] or not np.isfinite(logw).all():
            raise DataError(
                f"choices: log_weights: expected finite values of shape {alts.shape[:2]}, "
                f"got {logw.shape}"
            )
        object.__setattr__(self, "log_weights", logw)
        object.__setattr__(self, "chosen", chosen)
        object.__setattr__(self, "alternatives", alts)
        object.__setattr__(self, "feature_names", tuple(str(n) for n in self.feature_names))
        object.__setattr__(self, "gamma", float(self.gamma))

    def __len__(self) -> int:
        return len(self.chosen)

    def save(self, path, *, force: bool = False) -> Path:
        """Write one ``.npz`` (never pickled); ``force`` to replace an existing file."""
        arrays = {
            "format": np.array(CHOICES_FORMAT),
            "feature_names": np.array(self.feature_names),
            "env_id": np.array(self.env_id),
            "gamma": np.array(self.gamma),
            "chosen": self.chosen,
            "alternatives": self.alternatives,
            "normaliser": np.array(self.normaliser),
            "log_weights": self.log_weights,
        }
        return write_npz(path, arrays, force=force)

    @classmethod
    def load(cls, path) -> TrajectoryChoices:
        """Read a file written by :meth:`save`; every array is checked before use."""
        d = read_npz(path)
        _require(
            d, path, CHOICES_FORMAT, "feature_names", "env_id", "gamma", "chosen", "alternatives"
        )
        try:
            return cls(
                d["chosen"],
                d["alternatives"],
                tuple(str(x) for x in d["feature_names"]),
                str(d["env_id"]),
                float(d["gamma"]),
                # files from before the sampled normaliser are choice sets
                str(d.get("normaliser", "choice_set")),
                d.get("log_weights"),
            )
        except (DataError, TypeError, ValueError) as err:
            raise DataError(f"{path}: {err}") from err
