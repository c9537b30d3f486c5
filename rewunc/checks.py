"""The checks behind ``rewunc check-env``, usable from tests.

Each check takes an env *factory* ``make(**kwargs) -> gym.Env`` (:func:`env_factory` builds one
from a registered id) and the splits to check (``None`` for the training distribution, or shift
names; default: training and every shift in ``SHIFTS``), and returns one :class:`CheckResult`
per split:

- :func:`check_protocol`: :func:`rewunc.protocol.check_protocol` (features, outcomes, reward
  = w·φ, shifts) on random-action episodes;
- :func:`check_gymnasium`: gymnasium's ``check_env`` with its warnings turned into failures,
  render modes included;
- :func:`check_determinism`: two fresh envs, the same reset seed and the same seeded actions
  give identical observations, rewards, terminated/truncated, ``info["features"]`` and outcomes;
- :func:`check_mdp`: where the env offers ``to_mdp()``, stepping the env agrees with the MDP
  (skipped otherwise).

:func:`run_checks` runs them all. A check fails (never raises) when the env breaks a rule or
crashes; the result's ``detail`` says why.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.passive_env_checker import env_render_passive_checker

from rewunc import protocol

EnvFactory = Callable[..., gym.Env]
"""``make(**kwargs) -> gym.Env``; called with ``shift=`` (and ``render_mode=``)."""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class CheckResult:
    """One check on one split.

    Attributes:
        name: e.g. ``"protocol [train]"`` or ``"mdp [lava]"``.
        status: ``"ok"``, ``"failed"`` or ``"skipped"`` (the check does not apply).
        detail: why it failed or was skipped ("" when ok).
    """

    name: str
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Not failed (a skipped check is not a failure)."""
        return self.status != "failed"

    def __str__(self) -> str:
        if self.status == "ok":
            return f"{self.name}: ok"
        if self.status == "skipped":
            return f"{self.name}: skipped ({self.detail})"
        return f"{self.name}: FAILED: {self.detail}"


class CheckFailed(AssertionError):
    """Raised inside a check to fail it with a message."""


def env_factory(env_id: str, **env_kwargs: Any) -> EnvFactory:
    """A factory for a registered id (``"rewunc/LavaLand-v0"``, ``"my_pkg:MyEnv-v0"``):
    ``make(**overrides)`` is ``gym.make(env_id, **env_kwargs, **overrides)``."""

    def make(**overrides: Any) -> gym.Env:
        return gym.make(env_id, **{**env_kwargs, **overrides})

    make.__name__ = make.__qualname__ = f"make({env_id!r})"
    return make


def env_splits(make: EnvFactory) -> tuple[str | None, ...]:
    """``(None, *SHIFTS)``: the training distribution and every held-out shift."""
    env = make()
    try:
        return (None, *protocol.shifts(env))
    finally:
        env.close()


def _split_name(shift: str | None) -> str:
    return "train" if shift is None else shift


def _reason(err: BaseException) -> str:
    text = _ANSI.sub("", str(err)).replace("WARN: ", "").strip()
    text = " ".join(text.split())
    if isinstance(err, CheckFailed | protocol.ProtocolError):
        return text
    kind = "warning" if isinstance(err, Warning) else type(err).__name__
    return f"{kind}: {text}" if text else kind


def _run(name: str, splits: Iterable[str | None], body: Callable[[str | None], str | None]):
    results = []
    for shift in splits:
        label = f"{name} [{_split_name(shift)}]"
        try:
            skipped = body(shift)
        except Exception as err:  # a check fails, it never raises
            results.append(CheckResult(label, "failed", _reason(err)))
        else:
            status = "skipped" if skipped else "ok"
            results.append(CheckResult(label, status, skipped or ""))
    return results


def _splits(make: EnvFactory, splits: Sequence[str | None] | None) -> Sequence[str | None]:
    return env_splits(make) if splits is None else splits


# ---- the checks -------------------------------------------------------------------------------


def check_protocol(
    make: EnvFactory,
    splits: Sequence[str | None] | None = None,
    *,
    episodes: int = 5,
    seed: int = 0,
) -> list[CheckResult]:
    """rewunc's environment protocol (:func:`rewunc.protocol.check_protocol`) on each split."""

    def body(shift):
        env = make(shift=shift)
        try:
            protocol.check_protocol(env, seed=seed, episodes=episodes)
        finally:
            env.close()

    return _run("protocol", _splits(make, splits), body)


def check_gymnasium(
    make: EnvFactory, splits: Sequence[str | None] | None = None
) -> list[CheckResult]:
    """gymnasium's ``check_env`` on each split, every warning a failure, render modes included.

    An env made from a registered id is checked with its spec (gymnasium then also makes it in
    each of ``metadata["render_modes"]``); one from a plain factory is rendered in each mode here.
    """

    def body(shift):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            env = make(shift=shift)
            try:
                has_spec = env.unwrapped.spec is not None
                check_env(env.unwrapped, skip_render_check=not has_spec)
                modes = env.metadata.get("render_modes", [])
            finally:
                env.close()
            if not has_spec:
                for mode in modes:
                    rendered = make(shift=shift, render_mode=mode)
                    try:
                        rendered.reset(seed=0)
                        env_render_passive_checker(rendered.unwrapped)
                    finally:
                        rendered.close()

    return _run("gymnasium check_env", _splits(make, splits), body)


def rollout_trace(
    make: EnvFactory, shift: str | None = None, *, seed: int = 5, n_steps: int = 120
) -> list[tuple]:
    """What a fresh env does from ``reset(seed=seed)`` under ``n_steps`` actions drawn from its
    action space seeded with ``seed`` (resetting, unseeded, after each episode): per step
    ``("step", obs, reward, terminated, truncated, info["features"], info.get("outcome"))``
    and ``("reset", obs)`` for each reset."""
    env = make(shift=shift)
    try:
        space = env.action_space
        space.seed(seed)
        obs, _ = env.reset(seed=seed)
        trace: list[tuple] = [("reset", obs)]
        for _ in range(n_steps):
            obs, reward, terminated, truncated, info = env.step(space.sample())
            features = np.asarray(info.get("features", ()), dtype=np.float64)
            outcome = info.get("outcome")
            trace.append(("step", obs, reward, terminated, truncated, features, outcome))
            if terminated or truncated:
                obs, _ = env.reset()
                trace.append(("reset", obs))
        return trace
    finally:
        env.close()


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray | np.generic) or isinstance(b, np.ndarray | np.generic):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


_FIELDS = ("observation", "reward", "terminated", "truncated", "info['features']", "outcome")


def traces_differ(a: list[tuple], b: list[tuple]) -> str | None:
    """Where two :func:`rollout_trace` results first differ (None if identical)."""
    for t, (x, y) in enumerate(zip(a, b, strict=False)):
        if x[0] != y[0]:
            return f"entry {t}: one run reset and the other did not"
        if x[0] == "reset":
            if not _equal(x[1], y[1]):
                return f"entry {t}: the observations after reset differ"
            continue
        for field, u, v in zip(_FIELDS, x[1:], y[1:], strict=True):
            if not _equal(u, v):
                return f"step entry {t}: {field} differs ({_short(u)} vs {_short(v)})"
    if len(a) != len(b):
        return f"the runs have {len(a)} and {len(b)} entries"
    return None


def _short(x: Any) -> str:
    text = " ".join(repr(x).split())
    return text if len(text) <= 60 else text[:57] + "..."


def check_determinism(
    make: EnvFactory,
    splits: Sequence[str | None] | None = None,
    *,
    seed: int = 5,
    n_steps: int = 120,
) -> list[CheckResult]:
    """Same seed, same run: two fresh envs reset with ``seed`` and fed the same seeded actions
    agree on every observation, reward, terminated/truncated, features and outcome."""

    def body(shift):
        first = rollout_trace(make, shift, seed=seed, n_steps=n_steps)
        second = rollout_trace(make, shift, seed=seed, n_steps=n_steps)
        where = traces_differ(first, second)
        if where is not None:
            raise CheckFailed(f"two runs with seed {seed} differ at {where}")

    return _run("determinism", _splits(make, splits), body)


def check_mdp(
    make: EnvFactory,
    splits: Sequence[str | None] | None = None,
    *,
    layouts: int = 3,
    pairs: int = 20,
    samples: int = 300,
    seed: int = 1,
) -> list[CheckResult]:
    """Stepping the env agrees with its ``to_mdp()`` (skipped for envs without one).

    For ``layouts`` reset seeds: the state after reset has initial mass; then for ``pairs``
    random (live state, action) pairs (with ``set_state``; else along a random-action episode)
    the state arrived in is one the MDP allows, with the MDP's features, reward and termination.
    Where the MDP's transition is stochastic the step is repeated ``samples`` times and the
    counts must match its probabilities (within 5 standard deviations + 1).
    """

    def body(shift):
        env = make(shift=shift)
        try:
            if not protocol.is_tabular(env):
                return "no to_mdp()"
            rng = np.random.default_rng(seed)
            for layout_seed in range(layouts):
                _mdp_agreement(env, layout_seed, rng, pairs, samples)
        finally:
            env.close()
        return None

    return _run("mdp", _splits(make, splits), body)


def _mdp_agreement(env: gym.Env, layout_seed: int, rng, pairs: int, samples: int) -> None:
    base = env.unwrapped
    _, info = env.reset(seed=layout_seed)
    mdp = base.to_mdp()
    where = f"reset(seed={layout_seed})"
    s0 = base.state_index()
    if not 0 <= s0 < mdp.n_states or mdp.initial[s0] <= 0:
        raise CheckFailed(f"{where}: the state after reset, {s0}, has no initial mass in to_mdp()")
    weights = getattr(base, "true_weights", None)
    reward = None if weights is None else mdp.state_rewards(weights)
    settable = callable(getattr(base, "set_state", None))
    live = np.flatnonzero(~mdp.terminal)

    def arrive(s: int, a: int) -> tuple[int, bool]:
        _, r, term, trunc, step_info = env.step(a)
        s2 = base.state_index()
        at = f"{where}: state {s}, action {a} -> state {s2}"
        if not 0 <= s2 < mdp.n_states:
            raise CheckFailed(f"{at}, which is not a state of to_mdp()")
        if reward is not None and not np.isclose(r, reward[s2], rtol=1e-6, atol=1e-9):
            raise CheckFailed(f"{at}: reward {r} but the MDP's is {reward[s2]}")
        if bool(term) != bool(mdp.terminal[s2]):
            raise CheckFailed(f"{at}: terminated={term} but the MDP's terminal={mdp.terminal[s2]}")
        phi = np.asarray(step_info.get("features"), dtype=np.float64)
        if phi.shape != mdp.features[s2].shape or not np.allclose(phi, mdp.features[s2]):
            raise CheckFailed(f"{at}: features {phi} but the MDP's are {mdp.features[s2]}")
        return s2, bool(term or trunc)

    s = s0
    for _ in range(pairs):
        if settable:
            s = int(rng.choice(live))
        a = int(rng.integers(mdp.n_actions))
        expected = np.zeros(mdp.n_states)
        np.add.at(expected, mdp.next_states[s, a], mdp.probs[s, a])
        stochastic = expected.max() < 1.0 - 1e-9
        n = samples if stochastic and settable else 1
        counts = np.zeros(mdp.n_states)
        for _ in range(n):
            if settable:
                base.set_state(s)
            s2, done = arrive(s, a)
            if expected[s2] <= 0:
                raise CheckFailed(
                    f"{where}: state {s}, action {a} -> state {s2}, which the MDP gives "
                    f"probability 0 (it allows {np.flatnonzero(expected).tolist()})"
                )
            counts[s2] += 1
        if n > 1:
            sd = np.sqrt(n * expected * (1 - expected))
            off = np.abs(counts - n * expected) > 5 * sd + 1
            if off.any():
                s2 = int(np.flatnonzero(off)[0])
                raise CheckFailed(
                    f"{where}: state {s}, action {a} -> state {s2} {int(counts[s2])} times in "
                    f"{n}, but the MDP's probability is {expected[s2]:.3f}"
                )
        if not settable:
            if done:
                env.reset(seed=layout_seed)
                s2 = base.state_index()
            s = s2


def run_checks(make: EnvFactory, splits: Sequence[str | None] | None = None) -> list[CheckResult]:
    """Every check on every split (``make`` first: a factory that cannot make its env fails
    with one result named ``make``)."""
    if splits is None:
        try:
            splits = env_splits(make)
        except Exception as err:
            return [CheckResult("make", "failed", _reason(err))]
    return [
        *check_protocol(make, splits),
        *check_gymnasium(make, splits),
        *check_determinism(make, splits),
        *check_mdp(make, splits),
    ]
