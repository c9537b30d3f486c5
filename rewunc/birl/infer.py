"""Posterior inference for the BIRL model: NUTS by default, diagnostics, RewardPosterior."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import NUTS

from rewunc.birl.choice import ChoiceData, choice_data, normaliser_ess
from rewunc.birl.model import PRIORS, DemoData, PreferenceData, reward_model
from rewunc.birl.parameterisation import (
    check_groups,
    check_one_hot,
    check_parameterisation,
    group_indices,
    reference_features,
)
from rewunc.birl.sampler import CompiledSampler
from rewunc.data import DataError, Demonstrations, Preferences, Trajectory, TrajectoryChoices
from rewunc.planning import MDPArrays, soft_plan_arrays, stack_mdps
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
    """Preferences, or pairs (preferred, other) of trajectories or feature-count vectors [K].

    The ``equal`` mask is always an array (zeros for pairs), so the compiled model is shared.
    """
    if isinstance(pairs, Preferences):
        if pairs.better.shape[1] != n_features:
            raise DataError(f"preferences: {pairs.better.shape[1]} features, expected {n_features}")
        return PreferenceData(
            jnp.asarray(pairs.better, jnp.float32),
            jnp.asarray(pairs.worse, jnp.float32),
            jnp.asarray(pairs.equal, jnp.float32),
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
    return PreferenceData(
        jnp.asarray(better, jnp.float32),
        jnp.asarray(worse, jnp.float32),
        jnp.zeros(len(better), jnp.float32),
    )


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
    draws per chain (8 for a single chain), ESS with fewer than 4 draws per chain, and both for
    a coordinate that never varies (a weight the parameterisation fixes, e.g. a reference).
    """
    x = np.asarray(draws, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"draws: expected an array [chains, draws, K], got shape {x.shape}")
    C, N, K = x.shape
    out = {key: np.full(K, np.nan) for key in ("rhat", "ess_bulk", "ess_tail")}
    varies = np.ptp(x, axis=(0, 1)) > 0 if x.size else np.zeros(K, bool)
    if N < 4 or not varies.any():  # below ArviZ's minimum: it would log a warning and give NaN
        return out
    x = x[..., varies]
    az = _arviz()
    data = az.convert_to_dataset({"w": x})
    out["ess_bulk"][varies] = az.ess(data, method="bulk")["w"].to_numpy()
    out["ess_tail"][varies] = az.ess(data, method="tail")["w"].to_numpy()
    if C == 1 and N >= 8:
        x = x[0, : N // 2 * 2].reshape(2, N // 2, x.shape[-1])
    if x.shape[0] >= 2:
        out["rhat"][varies] = az.rhat(az.convert_to_dataset({"w": x}), method="rank")[
            "w"
        ].to_numpy()
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


@partial(jax.jit, static_argnames=("tol", "solver"))
def _layout_values(mdps: MDPArrays, w, beta, tol, solver):
    """Soft V [C, L, S] of every layout under each chain's weights w [C, K] and β [C]."""

    def one(w, beta):
        def layout(mdp):
            reward = (mdp.features @ w)[None]
            return soft_plan_arrays(mdp, reward, beta, tol, 20_000, solver=solver).v[0]

        return jax.vmap(layout)(mdps)

    return jax.vmap(one)(w, beta)


class BIRL:
    """Bayesian IRL with a reusable, compile-once sampler.

    Calling :meth:`fit` again with data of the same shapes compiles nothing: the data are
    traced arguments of programs built once (:class:`rewunc.birl.sampler.CompiledSampler`;
    NumPyro's own ``MCMC.run`` recompiles on every call).

    ``feature_groups`` (names; an env declares its one-hot groups as ``feature_groups``) and
    ``parameterisation`` ("raw", "rotated", "reference") decide how each group's weakly
    identified constant is sampled and what the returned weights mean; ``hierarchical`` pools
    each group's free weights around a learnt centre (:mod:`rewunc.birl.parameterisation`).
    ``solver`` ("sweeps", "anderson") is the soft value iteration's fixed-point solver;
    ``warm_start`` starts each chain's solves from the soft V at that chain's latest warm-up
    state (refreshed every warm-up chunk, then fixed for sampling), which changes the sweeps
    needed, not the posterior beyond the solver's tolerance.
    ``grad_tol`` is the tolerance of the gradient's adjoint solve (None: ``tol``): the values,
    hence the posterior, are solved to ``tol``; NUTS stays exact with a deterministic
    approximate gradient (leapfrog remains reversible and volume-preserving), which at 1e-3
    is as accurate as float32 allows at ``tol`` = 1e-6 on LavaLand and needs half the sweeps.
    These three default to the fast path (5× fewer sweeps per gradient than plain sweeps from
    V = 0 on 64×64 LavaLand); ``solver="sweeps", warm_start=False, grad_tol=None`` is the
    numerics before issue #11 (the same posterior, other draws); the studies use the defaults.
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
        feature_groups: Sequence[Sequence[str]] | None = None,
        parameterisation: str = "reference",
        solver: str = "anderson",
        warm_start: bool = True,
        grad_tol: float | None = 1e-3,
        hierarchical: bool = False,
    ):
        check_parameterisation(parameterisation)
        groups = check_groups(feature_groups)
        if hierarchical and (prior != "normal" or not groups):
            raise ValueError("hierarchical: needs prior='normal' and feature_groups to pool over")
        if solver not in ("sweeps", "anderson"):
            raise ValueError(f"solver: expected 'sweeps' or 'anderson', got {solver!r}")
        if grad_tol is not None and not 0 < grad_tol < 1:
            raise ValueError(f"grad_tol: expected a tolerance in (0, 1) or None, got {grad_tol!r}")
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
            parameterisation=parameterisation,
            solver=solver,
            grad_tol=grad_tol,
            hierarchical=bool(hierarchical),
        )
        self._model_options = model_options
        self._groups = groups
        self._kernel_factory = kernel
        self._kernel_options = dict(
            target_accept_prob=target_accept_prob,
            dense_mass=dense_mass,
            max_tree_depth=max_tree_depth,
        )
        self._samplers: dict = {}  # one compiled sampler per (feature names, data kinds)
        self.config = dict(
            model_options,
            feature_groups=[list(g) for g in groups],
            warm_start=bool(warm_start),
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
        self.progress_bar = progress_bar

    def fixed_weights(self, feature_names: Sequence[str]) -> dict[int, float]:
        """{feature index: value} of the weights the sampler holds fixed: with
        ``parameterisation="reference"``, each declared group's reference at its prior loc (a
        one-hot group's weights are identified only up to a shared constant). Empty otherwise.
        Another sampler given these (e.g. PolicyWalk's ``fixed``) targets the same posterior."""
        names = tuple(feature_names)
        if self.config["parameterisation"] != "reference" or not self._groups:
            return {}
        K = len(names)
        groups = group_indices(self._groups, names)
        loc = np.broadcast_to(np.asarray(self.config["prior_loc"], float), (K,))
        return {k: float(loc[k]) for k in reference_features(groups, self.config["prior_scale"], K)}

    def _sampler(self, names: tuple[str, ...], warm: bool) -> CompiledSampler:
        """The compiled sampler for these feature names (built on first use, then reused)."""
        key = (names, warm)
        if key not in self._samplers:
            groups = group_indices(self._groups, names)
            model = partial(reward_model, feature_groups=groups, **self._model_options)
            if self._kernel_factory is not None:
                kernel = self._kernel_factory(model)
            else:
                kernel = NUTS(model, **self._kernel_options)
            self._samplers[key] = CompiledSampler(
                kernel,
                num_warmup=self.config["num_warmup"],
                num_samples=self.config["num_samples"],
                num_chains=self.config["num_chains"],
                chain_method=self.config["chain_method"],
                progress_bar=self.progress_bar,
                refresh=self._refresh if warm else None,
                args_axes=(DemoData(None, None, 0), None, None) if warm else None,
            )
        return self._samplers[key]

    def _refresh(self, sites, args):
        """Warm starts: each chain's soft V at its current weights (and β)."""
        d = args[0]
        w = sites["w"]
        beta = self.config["beta"]
        beta = sites["beta"] if beta is None else jnp.full(w.shape[:1], beta, w.dtype)
        v0 = _layout_values(d.mdps, w, beta, self.config["tol"], self.config["solver"])
        return (d._replace(v0=v0), *args[1:])

    def fit(
        self,
        demos: Demonstrations | None = None,
        preferences=None,
        choices: TrajectoryChoices | ChoiceData | None = None,
        *,
        seed: int = 0,
        feature_names: Sequence[str] | None = None,
        warn: bool = True,
    ) -> RewardPosterior:
        """Sample the posterior given demonstrations, preference pairs and/or choices.

        Args:
            demos: tabular Demonstrations (or None).
            preferences: Preferences, PreferenceData, or a sequence of (preferred, other)
                trajectory or feature-count pairs (or None).
            choices: TrajectoryChoices or ChoiceData, the MDP-free demonstration likelihood of
                :mod:`rewunc.birl.choice` (or None).
            seed: the one integer the chains are seeded from.
            feature_names: needed when only preferences, or raw DemoData or ChoiceData, are
                given.
        """
        if demos is None and preferences is None and choices is None:
            raise DataError("infer: give demonstrations, preferences or both, or choices")
        raw = isinstance(demos, DemoData)  # pre-built counts and layouts (e.g. hand-made MDPs)
        names = (
            tuple(demos.feature_names)
            if demos is not None and not raw
            else tuple(
                feature_names
                or getattr(preferences, "feature_names", ())
                or getattr(choices, "feature_names", ())
            )
        )
        if not names:
            raise DataError("infer: feature_names are needed with raw preferences or choices")
        if isinstance(preferences, Preferences) and preferences.feature_names != names:
            raise DataError(
                f"feature names differ: preferences {preferences.feature_names} vs {names}"
            )
        if isinstance(choices, TrajectoryChoices) and choices.feature_names != names:
            raise DataError(f"feature names differ: choices {choices.feature_names} vs {names}")
        if feature_names is not None and tuple(feature_names) != names:
            raise DataError(f"feature names differ: {tuple(feature_names)} vs {names}")
        for key in ("prior_loc", "prior_scale"):
            value = self.config[key]
            if isinstance(value, tuple) and len(value) != len(names):
                raise ValueError(f"{key}: {len(value)} values for {len(names)} features {names}")
        groups = group_indices(self._groups, names)  # refuses unknown names before any work
        d = demos if raw else (demo_data(demos) if demos is not None else None)
        if d is not None and groups:
            check_one_hot(d.mdps.features, d.mdps.terminal, groups, names)
        p = preferences
        if p is not None and not isinstance(p, PreferenceData):
            p = preference_data(p, len(names))
        c = None if choices is None else choice_data(choices, len(names))
        warm = d is not None and bool(self.config["warm_start"])
        if d is not None:
            C = self.config["num_chains"]
            v0 = jnp.zeros((C,) + d.counts.shape[:2], d.counts.dtype) if warm else None
            d = d._replace(v0=v0)
        t0 = time.perf_counter()
        run = self._sampler(names, warm).run(jax.random.PRNGKey(seed), (d, p, c))
        wall = time.perf_counter() - t0
        samples = run.sites
        w = np.asarray(samples["w"], dtype=np.float64)  # [C, N, K]
        C, N, K = w.shape
        extra = {"diverging": run.diverging, "potential_energy": run.potential_energy}
        fixed = self.fixed_weights(names)  # a fixed reference has no R-hat or ESS: NaN
        free = [k for k in range(K) if k not in fixed]
        diag = {key: np.full(K, np.nan) for key in ("rhat", "ess_bulk", "ess_tail")}
        for key, value in diagnostics(w[..., free]).items():
            diag[key][free] = value
        stats = sample_stats(run)
        diag["divergences"] = int(stats["diverging"].sum())
        diag["mean_tree_depth"] = float(np.mean(stats["tree_depth"]))
        diag["mean_steps"] = float(np.mean(stats["n_steps"]))
        diag["step_size"] = run.step_size.tolist()
        if (
            c is not None
            and float(c.chosen_in_set) == 0.0
            and isinstance(self.config["beta"], float | int)
        ):
            ess = normaliser_ess(
                c, w.reshape(C * N, K)[:: max(1, C * N // 200)], self.config["beta"]
            )
            diag["normaliser_ess"] = float(np.median(ess.min(axis=1)))  # worst demo, typical draw
            diag["n_alternatives"] = int(c.alternatives.shape[1])
        diag["wall_seconds"] = wall
        diag["compile_seconds"] = run.compile_seconds
        diag["run_seconds"] = run.run_seconds
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
            sample_stats=stats,
            config=dict(
                self.config,
                seed=seed,
                reference_features=[names[k] for k in fixed],
                n_trajectories=len(demos) if demos is not None and not raw else 0,
                n_preferences=int(p.better.shape[0]) if p is not None else 0,
                n_choices=int(c.chosen.shape[0]) if c is not None else 0,
            ),
        )
        if warn:
            warn_if_untrustworthy(posterior)
        return posterior


def sample_stats(run) -> dict[str, np.ndarray]:
    """The sampler's per-draw statistics [C·N] (chain-major), named as ArviZ's
    ``sample_stats``: diverging, n_steps (leapfrog steps), tree_depth (log2(n_steps + 1), as
    ``mean_tree_depth``), energy (the Hamiltonian, for ``az.bfmi`` / ``az.plot_energy``),
    acceptance_rate and step_size (each chain's adapted one, on its every draw)."""
    C, N = np.shape(run.diverging)
    n_steps = np.asarray(run.num_steps, dtype=np.int64)
    return {
        "diverging": np.asarray(run.diverging, dtype=bool).reshape(-1),
        "n_steps": n_steps.reshape(-1),
        "tree_depth": np.log2(n_steps + 1).reshape(-1),
        "energy": np.asarray(run.energy, dtype=np.float64).reshape(-1),
        "acceptance_rate": np.asarray(run.accept_prob, dtype=np.float64).reshape(-1),
        "step_size": np.repeat(np.asarray(run.step_size, dtype=np.float64).reshape(C), N),
    }


def warn_if_untrustworthy(
    posterior: RewardPosterior,
    max_rhat: float = 1.01,
    min_ess: float = 400.0,
    min_normaliser_ess: float = 30.0,
) -> list[str]:
    """Warn (MCMCDiagnosticsWarning) when any R-hat > 1.01, bulk ESS < 400, divergences > 0, or
    the sampled normaliser's importance weights have an effective sample size < 30."""
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
    if d.get("normaliser_ess", np.inf) < min_normaliser_ess:
        problems.append(
            f"the sampled normaliser rests on an effective {d['normaliser_ess']:.1f} of "
            f"{d['n_alternatives']} alternatives (worst demonstration, median draw): log Ẑ is "
            "biased low and the posterior over-confident; use more alternatives"
        )
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
    choices: TrajectoryChoices | ChoiceData | None = None,
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
    return BIRL(**options).fit(demos, preferences, choices, seed=seed, feature_names=feature_names)
