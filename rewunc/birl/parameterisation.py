"""How the BIRL model parameterises the reward weights w [K] (the prior half of the model).

A *feature group* is a set of features that are one-hot in every state (LavaLand's terrain: dirt,
grass, lava, target sum to 1 wherever the agent can be). Adding a constant c to every weight of a
group adds c to every step's reward: in a discounted MDP with terminal states that changes returns
only through episode length, so demonstrations identify it weakly or not at all, while the
differences between the group's weights (the contrasts) are what the data speak to. The
constant is *not* behaviour-neutral: it is a per-step reward, and a planner given LavaLand's true
weights centred on their mean (dirt then gets a positive weight) loiters instead of heading for
the target.

Parameterisations (``PARAMETERISATIONS``):

* ``"raw"``: w ~ prior directly (every weight its own N(loc, scale²) or Laplace; the sphere
  prior as ``z/|z|``). Declared groups are ignored.
* ``"rotated"``: the *same posterior* as raw, sampled in rotated coordinates. In the
  prior-whitened coordinates u = (w − loc)/scale each group is rotated (a Householder
  reflection) so that its constant direction (scale⁻¹ restricted to the group, normalised) is
  one coordinate, z₀, and the contrasts are the others; z ~ N(0, I) (normal prior), so the
  constant has its own prior and is a priori independent of the contrasts. w = loc + scale ⊙ (B z)
  with B orthonormal. This helps a *diagonal* mass matrix (the constant and the contrasts are
  separate coordinates); a dense mass matrix is already invariant to it.
* ``"reference"``: the group's constant is *dropped*: one feature of each group, its reference,
  is fixed at its prior location and the others keep their priors. The reference is the group's
  feature with the smallest prior scale (a designer's anchor, e.g. LavaLand's target at
  N(1, 0.05²)), the first one listed on ties. This is the raw model *conditioned on*
  w_ref = prior_loc[ref]: what the data identify (the contrasts w_k − w_ref) is inferred, and the
  per-step constant is pinned where the designer put the reference. The returned weights are
  ordinary weights (r = w·φ, ready for planners); the reference's column is constant.

``hierarchical=True`` (normal prior, declared groups) replaces the independent priors of each
group's free members (all of them, or all but the reference) by a shared learnt centre and
spread, non-centred: μ_g ~ N(mean loc, s_g²), τ_g ~ HalfNormal(s_g), w_k = μ_g + τ_g·z_k with
z_k ~ N(0, 1), s_g the members' mean prior scale. A member the data never show (LavaLand's lava)
is then a priori like the members they do show, with the spread they show: partial pooling,
where the independent prior leaves it at N(0, sd²) whatever the others are.

With ``prior="sphere"`` rotated keeps the uniform prior on the sphere (w = B z/|z|), and
reference sets the references to 0 and puts the other weights on the unit sphere.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

PARAMETERISATIONS = ("raw", "rotated", "reference")


def check_parameterisation(parameterisation: str) -> str:
    if parameterisation not in PARAMETERISATIONS:
        raise ValueError(
            f"parameterisation: expected one of {PARAMETERISATIONS}, got {parameterisation!r}"
        )
    return parameterisation


def check_groups(feature_groups) -> tuple[tuple[str, ...], ...]:
    """Feature groups as a tuple of tuples of names: each of two or more distinct names, and no
    name in two groups (checked before any feature names are known)."""
    if feature_groups is None:
        return ()
    if isinstance(feature_groups, str) or not isinstance(feature_groups, Sequence):
        raise ValueError(
            f"feature_groups: expected groups of feature names, e.g. (('dirt', 'grass'),), "
            f"got {feature_groups!r}"
        )
    groups, seen = [], {}
    for group in feature_groups:
        if isinstance(group, str) or not isinstance(group, Sequence):
            raise ValueError(f"feature_groups: each group is a sequence of names, got {group!r}")
        group = tuple(group)
        if not all(isinstance(name, str) and name for name in group):
            raise ValueError(f"feature_groups: names must be non-empty strings, got {group}")
        if len(group) < 2 or len(set(group)) != len(group):
            raise ValueError(
                f"feature_groups: a group needs two or more distinct features (a one-feature "
                f"group's constant is its whole weight), got {group}"
            )
        for name in group:
            if name in seen:
                raise ValueError(
                    f"feature_groups: {name!r} is in two groups, {seen[name]} and {group}; "
                    "groups must not overlap"
                )
            seen[name] = group
        groups.append(group)
    return tuple(groups)


def group_indices(
    groups: tuple[tuple[str, ...], ...], feature_names: Sequence[str]
) -> tuple[tuple[int, ...], ...]:
    """The groups as feature indices; unknown names are refused."""
    names = tuple(feature_names)
    unknown = [n for g in groups for n in g if n not in names]
    if unknown:
        raise ValueError(f"feature_groups name unknown features {unknown}; features are {names}")
    return tuple(tuple(names.index(n) for n in g) for g in groups)


def reference_features(groups: tuple[tuple[int, ...], ...], prior_scale, n_features: int):
    """Each group's reference: its feature with the smallest prior scale (first on ties)."""
    scale = np.broadcast_to(np.asarray(prior_scale, dtype=float), (n_features,))
    return tuple(g[int(np.argmin(scale[list(g)]))] for g in groups)


def rotation(groups: tuple[tuple[int, ...], ...], prior_scale, n_features: int) -> np.ndarray:
    """B [K, K], orthonormal: per group a Householder reflection H with H·e₁ = a, a the group's
    constant direction in prior-whitened coordinates (scale⁻¹ on the group, normalised)."""
    scale = np.broadcast_to(np.asarray(prior_scale, dtype=float), (n_features,))
    B = np.eye(n_features)
    for g in groups:
        idx = list(g)
        a = 1.0 / scale[idx]
        a /= np.linalg.norm(a)
        v = a.copy()
        v[0] -= 1.0
        H = np.eye(len(idx))
        if np.linalg.norm(v) > 1e-12:
            H -= 2.0 * np.outer(v, v) / (v @ v)
        B[np.ix_(idx, idx)] = H
    return B


def sample_weights(
    n_features: int,
    *,
    prior: str,
    prior_loc,
    prior_scale,
    groups: tuple[tuple[int, ...], ...] = (),
    parameterisation: str = "raw",
    hierarchical: bool = False,
):
    """Sample w [K] inside a NumPyro model (site "w": a sample site for raw normal and laplace
    priors, a deterministic site otherwise)."""
    loc_np = np.broadcast_to(np.asarray(prior_loc, dtype=float), (n_features,))
    scale_np = np.broadcast_to(np.asarray(prior_scale, dtype=float), (n_features,))
    loc = jnp.asarray(loc_np, jnp.float32)
    scale = jnp.asarray(scale_np, jnp.float32)
    if hierarchical:
        return _hierarchical_weights(loc_np, scale_np, groups, parameterisation, prior)
    if parameterisation == "raw" or not groups:
        if prior == "normal":
            return numpyro.sample("w", dist.Normal(loc, scale).to_event(1))
        if prior == "laplace":
            return numpyro.sample("w", dist.Laplace(loc, scale).to_event(1))
        z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([n_features]).to_event(1))
        return numpyro.deterministic("w", z / jnp.linalg.norm(z))
    if parameterisation == "rotated":
        B = jnp.asarray(rotation(groups, scale_np, n_features), jnp.float32)
        if prior == "sphere":
            z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([n_features]).to_event(1))
            return numpyro.deterministic("w", B @ (z / jnp.linalg.norm(z)))
        if prior == "normal":  # B orthonormal: z ~ N(0, I) is exactly the whitened prior
            z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([n_features]).to_event(1))
            return numpyro.deterministic("w", loc + scale * (B @ z))
        z = numpyro.sample("z", dist.ImproperUniform(constraints.real_vector, (), (n_features,)))
        w = numpyro.deterministic("w", loc + scale * (B @ z))
        # the Jacobian of z ↦ w is constant (|det| = Π scale), so the density is the prior's
        numpyro.factor("prior", dist.Laplace(loc, scale).log_prob(w).sum())
        return w
    if parameterisation != "reference":
        raise ValueError(
            f"parameterisation: expected one of {PARAMETERISATIONS}, got {parameterisation!r}"
        )
    refs = reference_features(groups, scale_np, n_features)
    free = np.array([k for k in range(n_features) if k not in refs])
    if prior == "sphere":
        z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([len(free)]).to_event(1))
        w_free = z / jnp.linalg.norm(z)
        fixed = jnp.zeros(n_features, jnp.float32)
    else:
        family = dist.Normal if prior == "normal" else dist.Laplace
        w_free = numpyro.sample("w_free", family(loc[free], scale[free]).to_event(1))
        fixed = loc
    return numpyro.deterministic("w", fixed.at[free].set(w_free))


def _hierarchical_weights(loc, scale, groups, parameterisation: str, prior: str):
    """w [K] with each group's free members partially pooled (module docstring)."""
    if prior != "normal" or not groups:
        raise ValueError("hierarchical: needs the normal prior and declared feature_groups")
    K = len(loc)
    refs = reference_features(groups, scale, K) if parameterisation == "reference" else ()
    w = jnp.asarray(loc, jnp.float32)  # the references stay at their prior location
    grouped = {k for g in groups for k in g}
    alone = [k for k in range(K) if k not in grouped]
    if alone:
        w_alone = numpyro.sample("w_ungrouped", dist.Normal(loc[alone], scale[alone]).to_event(1))
        w = w.at[np.array(alone)].set(w_alone)
    for i, g in enumerate(groups):
        members = np.array([k for k in g if k not in refs])
        s, m = float(scale[members].mean()), float(loc[members].mean())
        centre = numpyro.sample(f"group{i}_centre", dist.Normal(m, s))
        spread = numpyro.sample(f"group{i}_spread", dist.HalfNormal(s))
        z = numpyro.sample(f"group{i}_z", dist.Normal(0.0, 1.0).expand([len(members)]).to_event(1))
        w = w.at[members].set(centre + spread * z)
    return numpyro.deterministic("w", w)


def check_one_hot(features: np.ndarray, terminal: np.ndarray, groups, names) -> None:
    """Refuse groups that are not one-hot in every state of demonstration layouts [.., S, K]
    (padding states, all-zero and terminal, are skipped)."""
    phi = np.asarray(features, dtype=np.float64)
    term = np.asarray(terminal, dtype=bool)
    padding = term & ~phi.any(-1)
    for g in groups:
        sums = phi[..., list(g)].sum(-1)
        bad = ~np.isclose(sums, 1.0) & ~padding
        if bad.any():
            raise ValueError(
                f"feature_groups: {tuple(names[k] for k in g)} is not one-hot in every state "
                f"of the demonstrations' layouts (sums {np.unique(np.round(sums[bad], 3))[:5]})"
            )
