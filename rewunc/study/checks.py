"""The checks and helpers study configs share: opening a study's env once, seeds, priors, the
``--env-kwargs`` object, contrasts. Each raises :class:`~rewunc.config.ConfigError` naming the
flag."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from rewunc.config import ConfigError, flag, require, require_distinct, require_int, require_number
from rewunc.protocol import feature_groups, feature_names, is_tabular, shifts

TRAIN = "train"
MAX_SEED = 2**31 - 1  # seeds become PRNG keys and reset seeds; larger ones would wrap or fail


def check_study_env(
    env_id: str,
    env_kwargs: dict,
    study_shifts: Sequence[str],
    anchor_feature: str | None,
    *,
    reward_for: str,
    tabular_for: str | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Open a study's env once: (feature names, shifts with the training one first, declared
    one-hot feature groups). Refuses
    an env without ``true_weights`` (``reward_for`` says what needs them), one without
    ``to_mdp()`` when ``tabular_for`` says what needs it, and flag ``shifts`` or an
    ``anchor_feature`` the env does not have (ConfigError naming the flag)."""
    require(bool(env_id), "env", "a registered env id", env_id)
    env = make_env(env_id, None, env_kwargs, field="env")
    try:
        names, known, groups = feature_names(env), (TRAIN, *shifts(env)), feature_groups(env)
        if tabular_for and not is_tabular(env):
            raise ConfigError(f"--env: {env_id} has no to_mdp(); {tabular_for}")
        if getattr(env.unwrapped, "true_weights", None) is None:
            raise ConfigError(f"--env: {env_id} has no true_weights; {reward_for}")
    finally:
        env.close()
    require_distinct(study_shifts, "shifts")
    for s in study_shifts:
        require(s in known, "shifts", f"names in {list(known)}", s)
    if anchor_feature:
        require(anchor_feature in names, "anchor_feature", f"one of {names}", anchor_feature)
    return names, known, groups


def require_seeds(seeds: Sequence[int]) -> None:
    """``--seeds``: distinct integers in [0, 2^31 − 1]."""
    require_distinct(seeds, "seeds")
    for s in seeds:
        require_int(s, "seeds", 0)
        require(s <= MAX_SEED, "seeds", f"at most {MAX_SEED} (2^31 - 1)", s)


def require_anchor_prior(prior: Sequence[float]) -> None:
    """``--anchor-prior``: a mean and an sd > 0."""
    ok = len(prior) == 2 and all(math.isfinite(x) for x in prior) and prior[1] > 0
    require(ok, "anchor_prior", "two finite numbers: mean and sd > 0", prior)


def check_ps(ps: Sequence[float], env_kwargs: dict) -> None:
    """A sweep's ``--ps``: probabilities distinct in their study labels ("p=<p:g>"), and not
    also given in ``--env-kwargs``."""
    require_distinct(ps, "ps")
    for p in ps:
        require_number(p, "ps", 0.0, 1.0)
    labels = [f"p={p:g}" for p in ps]
    require(len(set(labels)) == len(labels), "ps", "values distinct to 6 digits", list(ps))
    if "p" in env_kwargs:
        raise ConfigError("--env-kwargs: 'p' is the sweep's variable; give it with --ps")


def env_options(env_kwargs: str) -> dict:
    """The ``--env-kwargs`` JSON object, checked."""
    try:
        kwargs = json.loads(env_kwargs)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--env-kwargs: not JSON ({err}): {env_kwargs!r}") from err
    require(isinstance(kwargs, dict), "env_kwargs", 'a JSON object such as {"size": 8}', kwargs)
    return kwargs


def anchored_prior(
    names: Sequence[str], prior_scale: float, anchor_feature: str, anchor_prior: Sequence[float]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-weight prior (loc, scale): N(0, prior_scale²), except N(*anchor_prior) on
    ``anchor_feature`` (if any)."""
    loc, scale = [0.0] * len(names), [float(prior_scale)] * len(names)
    if anchor_feature:
        k = list(names).index(anchor_feature)
        loc[k], scale[k] = (float(x) for x in anchor_prior)
    return tuple(loc), tuple(scale)


def prior_sds(entries: Sequence[str], names: Sequence[str], anchor_feature: str) -> dict:
    """``--prior-sd`` entries name=sd as {name: sd}: known features other than the anchored
    one, each once, with a finite sd > 0 (ConfigError naming the flag)."""
    sds = {}
    for entry in entries:
        name, eq, value = str(entry).partition("=")
        require(bool(eq), "prior_sd", "entries name=sd, e.g. lava=3", entry)
        require(name in names, "prior_sd", f"a feature of {tuple(names)}", name)
        other = "a feature other than the anchored one (--anchor-prior sets its sd)"
        require(name != anchor_feature, "prior_sd", other, name)
        require(name not in sds, "prior_sd", "each feature once", name)
        try:
            sd = float(value)
        except ValueError:
            sd = math.nan
        require(math.isfinite(sd) and sd > 0, "prior_sd", "a finite sd > 0", entry)
        sds[name] = sd
    return sds


def make_env(env_id: str, shift: str | None, kwargs: dict, *, field: str = "env") -> gym.Env:
    """``gym.make`` with errors that name the flag (an unknown id, a module that does not
    import, a keyword the env refuses)."""
    try:
        return gym.make(env_id, shift=shift, **kwargs)
    except (gym.error.Error, ImportError, TypeError, ValueError) as err:
        raise ConfigError(
            f"{flag(field)}: cannot make {env_id!r} with --env-kwargs {json.dumps(kwargs)}: {err}"
        ) from err


def contrast(term: str, names: Sequence[str]) -> np.ndarray:
    """The weight vector of a contrast such as "goal" or "red-blue" over ``names``."""
    parts = term.split("-")
    if not 1 <= len(parts) <= 2:
        raise ConfigError(f"contrast {term!r}: expected 'a' or 'a-b'")
    vec = np.zeros(len(names))
    for sign, name in zip((1.0, -1.0), parts, strict=False):
        if name not in names:
            raise ConfigError(f"contrast {term!r}: {name!r} is not one of {tuple(names)}")
        vec[list(names).index(name)] += sign
    return vec
