"""Posterior inference for the BIRL model: NUTS by default, diagnostics, RewardPosterior."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS

from rewunc.birl.model import PRIORS, DemoData, PreferenceData, reward_model
from rewunc.data import DataError, Demonstrations, Preferences, Trajectory
from rewunc.planning import stack_mdps
from rewunc.posterior import RewardPosterior


class MCMCDiagnosticsWarning(RuntimeWarning):
    """R-hat, ESS or divergences say the chains should not be trusted yet."""


# ---- data ---------------------------------------------------------------------------------


def demo_data(demos: Demonstrations, dtype=jnp.float32) -> DemoData:
    """Stack the distinct layouts' MDPs and their pooled (state, action) counts."""
    if demos.mdps is None:
        raise DataError(
            "demonstration likelihood needs tabular demonstrations "
            "(collected from an env with to_mdp())"
        )
    mdps, counts = demos.layout_counts()
    return DemoData(stack_mdps(list(mdps), dtype), jnp.asarray(counts, dtype))


def preference_data(
    pairs: Preferences | Sequence[tuple[Trajectory | np.ndarray, Trajectory | np.ndarray]],
    n_features: int,
) -> PreferenceData:
    """Preferences, or pairs (preferred, other) of trajectories or feature-count vectors [K]."""
    if isinstance(pairs, Preferences):
        if pairs.better.shape[1] != n_features:
            raise DataError(f"preferences: {pairs.better.shape[1]} features, expected {n_features}")
        return PreferenceData(
            jnp.asarray(pairs.better, jnp.float32), jnp.asarray(pairs.worse, jnp.float32)
        )
    if len(pairs) == 0:
        raise DataError("preferences: expected at least one pair, got none")

    def counts(x):
        v = np.asarray(x.feature_counts if isinstance(x, Trajectory) else x, dtype=np.float64)
        if v.shape != (n_features,) or not np.isfinite(v).all():
            raise DataError(
                f"preferences: expected finite feature counts of shape "
                f"({n_features},), got {v.shape}"
            )
        return v

    better = np.stack([counts(a) for a, _ in pairs])
    worse = np.stack([counts(b) for _, b in pairs])
    return PreferenceData(jnp.asarray(better, jnp.float32), jnp.asarray(worse, jnp.float32))


# ---- diagnostics --------------------------------------------------------------------------


def _arviz():
    """ArviZ, imported on first use: it is slow to import and announces its refactor on import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


def diagnostics(draws: np.ndarray) -> dict:
    """ArviZ's rank-normalised split R-hat, bulk ESS and tail ESS per coordinate; draws [C, N, K].

    Returns ``{"rhat": [K], "ess_bulk": [K], "ess_tail": [K]}`` (float arrays). ArviZ computes
    R-hat from two or more chains only, so a single chain is first cut into halves (ArviZ then
    splits each half again). Values that cannot be computed are NaN: R-hat with fewer than 4
    draws per chain (8 for a single chain), ESS with fewer than 4 draws per chain.
    """
    x = np.asarray(draws, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"draws: expected an array [chains, draws, K], got shape {x.shape}")
    C, N, K = x.shape
    out = {key: np.full(K, np.nan) for key in ("rhat", "ess_bulk", "ess_tail")}
    if N < 4:  # below ArviZ's minimum: it would log a warning and return NaN
        return out
    az = _arviz()
    data = az.convert_to_dataset({"w": x})
    out["ess_bulk"] = az.ess(data, method="bulk")["w"].to_numpy()
    out["ess_tail"] = az.ess(data, method="tail")["w"].to_numpy()
    if C == 1 and N >= 8:
        x = x[0, : N // 2 * 2].reshape(2, N // 2, K)
    if x.shape[0] >= 2:
        out["rhat"] = az.rhat(az.convert_to_dataset({"w": x}), method="rank")["w"].to_numpy()
    return out


# ---- inference ----------------------------------------------------------------------------


def default_chain_method(num_chains: int) -> str:
    """vectorized on accelerators; parallel on CPU when there are enough devices; else sequential.

    On CPU, JAX exposes one device unless XLA_FLAGS=--xla_force_host_platform_device_count=N is
    set before JAX starts; chains then run one after another.
    """
    if jax.default_backend() != "cpu":
        return "vectorized"
    return "parallel" if jax.local_device_count() >= num_chains else "sequential"


class BIRL:
    """Bayesian IRL with a reusable, compile-once sampler.

    Calling :meth:`fit` again with data of the same shapes reuses the compiled sampler (the
    model's arguments are traced: ``jit_model_args=True``).
    """

    def __init__(
        self,
        *,
        prior: str = "normal",
        prior_scale: float | Sequence[float] = 1.0,
        prior_loc: float | Sequence[float] = 0.0,
        beta: float | None = 1.0,
        beta_prior: tuple[float, float] = (0.0, 1.0),
        num_warmup: int = 500,
        num_samples: int = 1000,
        num_chains: int = 4,
        kernel=None,
        chain_method: str | None = None,
        progress_bar: bool = True,
        target_accept_prob: float = 0.8,
        dense_mass: bool = False,
        max_tree_depth: int = 10,
        tol: float = 1e-6,
    ):
        if prior not in PRIORS:
            raise ValueError(f"prior: expected one of {PRIORS}, got {prior!r}")
        if beta is not None and not beta > 0:
            raise ValueError(f"beta: expected a rationality > 0 or None (inferred), got {beta!r}")
        if np.any(np.asarray(prior_scale, dtype=float) <= 0):
            raise ValueError(f"prior_scale: expected > 0, got {prior_scale!r}")
        if prior == "sphere" and (np.ndim(prior_scale) or np.ndim(prior_loc) or prior_loc):
            raise ValueError("prior_loc and per-weight prior_scale apply to normal and laplace")
        prior_scale = tuple(prior_scale) if np.ndim(prior_scale) else float(prior_scale)
        prior_loc = tuple(prior_loc) if np.ndim(prior_loc) else float(prior_loc)
        # Options are bound statically; only the data are traced (compile once per shape).
        model_options = dict(
            prior=prior,
            prior_scale=prior_scale,
            prior_loc=prior_loc,
            beta=beta,
            beta_prior=tuple(beta_prior),
            tol=tol,
        )
        self.model = partial(reward_model, **model_options)
        self.config = dict(
            model_options,
            beta_prior=list(beta_prior),
            num_warmup=num_warmup,
            num_samples=num_samples,
            num_chains=num_chains,
            chain_method=chain_method or default_chain_method(num_chains),
            target_accept_prob=target_accept_prob,
            dense_mass=dense_mass,
            max_tree_depth=max_tree_depth,
            kernel=getattr(kernel, "__name__", repr(kernel)) if kernel else "NUTS",
        )
        self.kernel = (
            kernel(self.model)
            if kernel is not None
            else NUTS(
                self.model,
                target_accept_prob=target_accept_prob,
                dense_mass=dense_mass,
                max_tree_depth=max_tree_depth,
            )
        )
        self.mcmc = MCMC(
            self.kernel,
            num_warmup=num_warmup,
            num_samples=num_samples,
            num_chains=num_chains,
            chain_method=self.config["chain_method"],
            progress_bar=progress_bar,
            jit_model_args=True,
        )

    def fit(
        self,
        demos: Demonstrations | None = None,
        preferences=None,
        *,
        seed: int = 0,
        feature_names: Sequence[str] | None = None,
        warn: bool = True,
    ) -> RewardPosterior:
        """Sample the posterior given demonstrations and/or preference pairs.

        Args:
            demos: tabular Demonstrations (or None).
            preferences: Preferences, PreferenceData, or a sequence of (preferred, other)
                trajectory or feature-count pairs (or None).
            seed: the one integer the chains are seeded from.
            feature_names: needed when only preferences, or raw DemoData, are given.
        """
        if demos is None and preferences is None:
            raise DataError("infer: give demonstrations, preferences or both")
        raw = isinstance(demos, DemoData)  # pre-built counts and layouts (e.g. hand-made MDPs)
        names = (
            tuple(demos.feature_names)
            if demos is not None and not raw
            else tuple(feature_names or getattr(preferences, "feature_names", ()))
        )
        if not names:
            raise DataError("infer: feature_names are needed with preferences only")
        if isinstance(preferences, Preferences) and preferences.feature_names != names:
            raise DataError(
                f"feature names differ: preferences {preferences.feature_names} vs {names}"
            )
        if feature_names is not None and tuple(feature_names) != names:
            raise DataError(f"feature names differ: {tuple(feature_names)} vs {names}")
        for key in ("prior_loc", "prior_scale"):
            value = self.config[key]
            if isinstance(value, tuple) and len(value) != len(names):
                raise ValueError(f"{key}: {len(value)} values for {len(names)} features {names}")
        d = demos if raw else (demo_data(demos) if demos is not None else None)
        p = preferences
        if p is not None and not isinstance(p, PreferenceData):
            p = preference_data(p, len(names))
        t0 = time.perf_counter()
        self.mcmc.run(
            jax.random.PRNGKey(seed),
            d,
            p,
            extra_fields=("diverging", "num_steps", "potential_energy"),
        )
        # JAX dispatch is asynchronous: wait for the draws before stopping the clock.
        samples = jax.block_until_ready(self.mcmc.get_samples(group_by_chain=True))
        wall = time.perf_counter() - t0
        w = np.asarray(samples["w"], dtype=np.float64)  # [C, N, K]
        C, N, K = w.shape
        extra = self.mcmc.get_extra_fields(group_by_chain=True)
        diag = diagnostics(w)
        diag["divergences"] = int(np.asarray(extra["diverging"]).sum())
        diag["mean_tree_depth"] = float(np.mean(np.log2(np.asarray(extra["num_steps"]) + 1)))
        diag["step_size"] = np.atleast_1d(
            np.asarray(self.mcmc.last_state.adapt_state.step_size)
        ).tolist()
        diag["wall_seconds"] = wall
        beta = None
        if "beta" in samples:
            beta = np.asarray(samples["beta"], dtype=np.float64).reshape(-1)
            diag["beta_rhat"] = float(
                diagnostics(np.asarray(samples["beta"])[..., None])["rhat"][0]
            )
        energy = extra.get("potential_energy")
        posterior = RewardPosterior(
            weights=w.reshape(C * N, K),
            feature_names=names,
            chain=np.repeat(np.arange(C), N),
            beta=beta,
            # NumPyro's potential energy is the negative unnormalised log density
            log_density=None if energy is None else -np.asarray(energy, np.float64).reshape(-1),
            diagnostics=diag,
            config=dict(
                self.config,
                seed=seed,
                n_trajectories=len(demos) if demos is not None and not raw else 0,
                n_preferences=int(p.better.shape[0]) if p is not None else 0,
            ),
        )
        if warn:
            warn_if_untrustworthy(posterior)
        return posterior


def warn_if_untrustworthy(
    posterior: RewardPosterior, max_rhat: float = 1.01, min_ess: float = 400.0
) -> list[str]:
    """Warn (MCMCDiagnosticsWarning) when any R-hat > 1.01, bulk ESS < 400 or divergences > 0."""
    d = posterior.diagnostics
    problems = []
    rhat = np.asarray(d.get("rhat", []), dtype=float)
    if np.any(rhat > max_rhat):
        problems.append(f"R-hat up to {np.nanmax(rhat):.3f} > {max_rhat}")
    ess = np.asarray(d.get("ess_bulk", []), dtype=float)
    if np.any(ess < min_ess):
        problems.append(f"bulk ESS down to {np.nanmin(ess):.0f} < {min_ess:.0f}")
    if d.get("divergences", 0) > 0:
        problems.append(f"{d['divergences']} divergent transitions")
    if problems:
        warnings.warn(
            "MCMC diagnostics: " + "; ".join(problems) + ". Run longer chains, more "
            "warm-up, or reparameterise before trusting this posterior.",
            MCMCDiagnosticsWarning,
            stacklevel=3,
        )
    return problems


def infer(
    demos: Demonstrations | None = None,
    preferences=None,
    *,
    seed: int = 0,
    feature_names: Sequence[str] | None = None,
    **options,
) -> RewardPosterior:
    """Sample a RewardPosterior (NUTS by default).

    ``kernel`` is a factory from the model to any NumPyro kernel, e.g. ``numpyro.infer.HMC`` or
    ``functools.partial(NUTS, max_tree_depth=8)``.

    ``options`` are those of :class:`BIRL` (prior, prior_scale, beta, beta_prior, num_warmup,
    num_samples, num_chains, kernel, chain_method, progress_bar, target_accept_prob, tol).
    """
    return BIRL(**options).fit(demos, preferences, seed=seed, feature_names=feature_names)
