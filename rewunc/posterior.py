"""RewardPosterior: samples of reward weights with their diagnostics and the sampler's per-draw
statistics, saved as .npz + .json and as an ArviZ InferenceData netCDF (.nc).

The .nc is what ArviZ users open (``az.from_netcdf``: ``az.summary``, ``az.plot_energy``,
``az.bfmi``, ``az.plot_trace(..., divergences=True)``); :meth:`RewardPosterior.load` reads
either. The .npz + .json pair stays the run folders' record: it loads without xarray and every
committed run names it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rewunc.io import atomic_write, read_npz, write_json, write_npz
from rewunc.mdp import TabularMDP

STAT_PREFIX = "stat_"  # sample_stats arrays in the .npz


class PosteriorError(ValueError):
    """A posterior file or argument is invalid."""


@dataclass(frozen=True, eq=False)
class RewardPosterior:
    """Posterior samples of linear reward weights.

    Attributes:
        weights: float [M, K], M draws (all chains, chain-major).
        feature_names: K names (matched against an MDP's before use).
        chain: int [M], the chain of each draw.
        beta: float [M] samples of the rationality, or None when it was fixed.
        log_density: float [M], each draw's unnormalised log posterior density (for MAP), or
            None when the sampler did not record it.
        diagnostics: {"rhat": [K], "ess_bulk": [K], "ess_tail": [K], "divergences": int,
            "step_size": [C], "mean_tree_depth": float, ...} (JSON-able).
        config: the inference configuration that produced it (JSON-able).
        sample_stats: the sampler's statistics per draw, {name: [M]}, named as ArviZ's
            ``sample_stats`` group (NUTS: ``diverging``, ``n_steps``, ``tree_depth``,
            ``energy``, ``acceptance_rate``, ``step_size``); empty when the sampler kept none.
            The log density is ``lp`` there.
    """

    weights: np.ndarray
    feature_names: tuple[str, ...]
    chain: np.ndarray
    beta: np.ndarray | None = None
    log_density: np.ndarray | None = None
    diagnostics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    sample_stats: dict = field(default_factory=dict)

    def __post_init__(self):
        w = np.asarray(self.weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[0] == 0:
            raise PosteriorError(f"weights: expected a non-empty [M, K] array, got {w.shape}")
        if w.shape[1] != len(self.feature_names):
            raise PosteriorError(
                f"weights: {w.shape[1]} columns but {len(self.feature_names)} feature names"
            )
        if not np.isfinite(w).all():
            raise PosteriorError("weights: contain NaN or inf")
        chain = np.asarray(self.chain, dtype=np.int64)
        if chain.shape != (w.shape[0],):
            raise PosteriorError(f"chain: expected shape ({w.shape[0]},), got {chain.shape}")
        beta = None if self.beta is None else np.asarray(self.beta, dtype=np.float64)
        if beta is not None and beta.shape != (w.shape[0],):
            raise PosteriorError(f"beta: expected shape ({w.shape[0]},), got {beta.shape}")
        logp = None if self.log_density is None else np.asarray(self.log_density, np.float64)
        if logp is not None and logp.shape != (w.shape[0],):
            raise PosteriorError(f"log_density: expected shape ({w.shape[0]},), got {logp.shape}")
        object.__setattr__(self, "log_density", logp)
        stats = {}
        for name, value in dict(self.sample_stats).items():
            value = np.asarray(value)
            if value.shape != (w.shape[0],) or name in ("lp", "w", "beta"):
                raise PosteriorError(
                    f"sample_stats[{name!r}]: expected a stat of shape ({w.shape[0]},) not named "
                    f"lp, w or beta, got shape {value.shape}"
                )
            stats[str(name)] = value
        object.__setattr__(self, "sample_stats", stats)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "chain", chain)
        object.__setattr__(self, "beta", beta)
        object.__setattr__(self, "feature_names", tuple(str(n) for n in self.feature_names))

    @property
    def n_samples(self) -> int:
        return self.weights.shape[0]

    def mean(self) -> np.ndarray:
        return self.weights.mean(0)

    def map_weights(self) -> np.ndarray:
        """The draw of highest log density, [K] (needs ``log_density``)."""
        if self.log_density is None:
            raise PosteriorError("map_weights: this posterior has no log_density")
        return self.weights[int(np.argmax(self.log_density))]

    def std(self) -> np.ndarray:
        return self.weights.std(0, ddof=1)

    def thin(self, n: int) -> RewardPosterior:
        """``n`` draws evenly spaced over the (chain-major) draws; itself if it has no more."""
        if n >= self.n_samples:
            return self
        idx = np.linspace(0, self.n_samples - 1, n).round().astype(int)
        return dataclasses.replace(
            self,
            weights=self.weights[idx],
            chain=self.chain[idx],
            beta=None if self.beta is None else self.beta[idx],
            log_density=None if self.log_density is None else self.log_density[idx],
            sample_stats={k: v[idx] for k, v in self.sample_stats.items()},
        )

    def credible_interval(self, mass: float = 0.9) -> np.ndarray:
        """Equal-tailed intervals [K, 2] holding ``mass`` of each weight's marginal."""
        if not 0 < mass < 1:
            raise PosteriorError(f"mass: expected a value in (0, 1), got {mass}")
        q = (1 - mass) / 2
        return np.quantile(self.weights, [q, 1 - q], axis=0).T

    def rewards(self, mdp: TabularMDP) -> np.ndarray:
        """State rewards of every draw on ``mdp``, [M, S]."""
        if tuple(mdp.feature_names) != self.feature_names:
            raise PosteriorError(
                f"feature names differ: posterior {self.feature_names}, "
                f"MDP {tuple(mdp.feature_names)}"
            )
        return self.weights @ mdp.features.T

    def summary(self) -> str:
        """A table: mean, sd, 90% interval, R-hat and bulk ESS per feature."""
        ci = self.credible_interval(0.9)
        mean, sd = self.mean(), self.std()
        rhat = self.diagnostics.get("rhat", [np.nan] * len(self.feature_names))
        ess = self.diagnostics.get("ess_bulk", [np.nan] * len(self.feature_names))
        lines = [
            f"{'feature':>12s} {'mean':>8s} {'sd':>7s} {'5%':>8s} {'95%':>8s} "
            f"{'r_hat':>6s} {'ess_bulk':>8s}"
        ]
        for k, name in enumerate(self.feature_names):
            lines.append(
                f"{name:>12s} {mean[k]:8.3f} {sd[k]:7.3f} "
                f"{ci[k, 0]:8.3f} {ci[k, 1]:8.3f} {rhat[k]:6.3f} {ess[k]:8.0f}"
            )
        if "divergences" in self.diagnostics:
            lines.append(f"divergences: {self.diagnostics['divergences']}, draws: {self.n_samples}")
        return "\n".join(lines)

    def save(self, path, *, force: bool = False) -> tuple[Path, Path, Path]:
        """Write ``path.npz`` (arrays), ``path.json`` (names, diagnostics, config) and
        ``path.nc`` (:meth:`to_arviz` as netCDF), each atomically."""
        path = Path(path)
        arrays = {"weights": self.weights, "chain": self.chain}
        if self.beta is not None:
            arrays["beta"] = self.beta
        if self.log_density is not None:
            arrays["log_density"] = self.log_density
        arrays.update({f"{STAT_PREFIX}{k}": v for k, v in self.sample_stats.items()})
        meta = {
            "format": "rewunc.posterior.v1",
            "feature_names": list(self.feature_names),
            "n_samples": self.n_samples,
            "diagnostics": _jsonable(self.diagnostics),
            "config": _jsonable(self.config),
        }
        npz = write_npz(_sibling(path, ".npz"), arrays, force=force)
        meta_path = write_json(_sibling(path, ".json"), meta, force=force)
        idata = self.to_arviz()
        nc = atomic_write(_sibling(path, ".nc"), idata.to_netcdf, force=force)
        return npz, meta_path, nc

    @classmethod
    def load(cls, path) -> RewardPosterior:
        """Read a posterior saved by :meth:`save`: ``path`` (or ``path.npz`` / ``path.json``)
        reads the .npz + .json pair, ``path.nc`` the netCDF (:meth:`from_arviz`)."""
        path = Path(path)
        if path.suffix == ".nc":
            return cls.from_netcdf(path)
        try:
            meta = json.loads(_sibling(path, ".json").read_text())
            arrays = read_npz(_sibling(path, ".npz"))
        except (OSError, ValueError) as err:
            raise PosteriorError(f"{path}: cannot read the posterior: {err}") from err
        if not isinstance(meta, dict) or meta.get("format") != "rewunc.posterior.v1":
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise PosteriorError(f"{path}.json: not a rewunc posterior (format {found!r})")
        if "weights" not in arrays or "chain" not in arrays:
            raise PosteriorError(f"{path}.npz: missing 'weights' or 'chain'")
        if arrays["weights"].shape[0] != meta.get("n_samples"):
            raise PosteriorError(
                f"{path}: .npz holds {arrays['weights'].shape[0]} draws, "
                f".json says {meta.get('n_samples')}"
            )
        return cls(
            arrays["weights"],
            tuple(meta["feature_names"]),
            arrays["chain"],
            arrays.get("beta"),
            arrays.get("log_density"),
            meta.get("diagnostics", {}),
            meta.get("config", {}),
            {k[len(STAT_PREFIX) :]: v for k, v in arrays.items() if k.startswith(STAT_PREFIX)},
        )

    def to_arviz(self):
        """An ArviZ InferenceData: ``posterior`` (``w`` with a ``feature`` coordinate, and
        ``beta`` when sampled), ``sample_stats`` (the per-draw statistics and ``lp``), and
        attributes naming the likelihoods, the prior and a hash of the inference config. Needs
        equal-length chains."""
        import arviz as az

        chains = np.unique(self.chain)
        sizes = {int((self.chain == c).sum()) for c in chains}
        if len(sizes) != 1:
            raise PosteriorError(f"to_arviz: chains of unequal lengths {sorted(sizes)}")

        def by_chain(x):  # [M, ...] chain-major -> [C, N, ...]
            return np.stack([x[self.chain == c] for c in chains])

        draws = {"w": by_chain(self.weights)}
        if self.beta is not None:
            draws["beta"] = by_chain(self.beta)
        stats = {k: by_chain(v) for k, v in self.sample_stats.items()}
        if self.log_density is not None:
            stats["lp"] = by_chain(self.log_density)
        idata = az.from_dict(
            posterior=draws,
            sample_stats=stats or None,
            coords={"feature": list(self.feature_names), "chain": chains.tolist()},
            dims={"w": ["feature"]},
        )
        attrs = self._attrs()
        for group in idata.groups():
            idata[group].attrs = dict(attrs)  # no created_at: the same draws, the same file
        return idata

    def _attrs(self) -> dict:
        """netCDF attributes (strings and numbers): the likelihoods used, the prior, the
        config hash, and the config and diagnostics as JSON."""
        config = _jsonable(self.config)
        used = [
            name
            for name, key in (
                ("demonstrations", "n_trajectories"),
                ("preferences", "n_preferences"),
                ("choices", "n_choices"),
            )
            if int(config.get(key, 0) or 0) > 0
        ]
        prior = {k: config[k] for k in sorted(config) if k.startswith("prior")}
        text = json.dumps(config, sort_keys=True)
        return {
            "format": "rewunc.posterior.v1",
            "inference_library": "numpyro",
            "likelihoods": ",".join(used),
            "prior": json.dumps(prior, sort_keys=True),
            "config_hash": hashlib.sha256(text.encode()).hexdigest(),
            "config": text,
            "diagnostics": json.dumps(_jsonable(self.diagnostics), sort_keys=True),
        }

    @classmethod
    def from_arviz(cls, idata) -> RewardPosterior:
        """The posterior of an InferenceData made by :meth:`to_arviz` (or read from its .nc)."""
        post = idata.posterior
        if "w" not in post or "feature" not in post["w"].dims:
            raise PosteriorError("from_arviz: no posterior variable 'w' over 'feature'")
        w = post["w"].transpose("chain", "draw", "feature").values
        C, N, K = w.shape
        attrs = post.attrs
        beta = post["beta"].values.reshape(-1) if "beta" in post else None
        stats, logp = {}, None
        if "sample_stats" in idata.groups():
            for name, value in idata.sample_stats.data_vars.items():
                flat = value.transpose("chain", "draw").values.reshape(-1)
                if name == "lp":
                    logp = flat
                else:
                    stats[str(name)] = flat
        return cls(
            w.reshape(C * N, K),
            tuple(str(f) for f in post["feature"].values),
            np.repeat(np.asarray(post["chain"].values, dtype=np.int64), N),
            beta,
            logp,
            json.loads(attrs.get("diagnostics", "{}")),
            json.loads(attrs.get("config", "{}")),
            stats,
        )

    @classmethod
    def from_netcdf(cls, path) -> RewardPosterior:
        """Read a posterior's .nc (:meth:`save`) through ArviZ."""
        import arviz as az

        try:
            idata = az.from_netcdf(str(path))
        except (OSError, ValueError) as err:
            raise PosteriorError(f"{path}: cannot read the netCDF posterior: {err}") from err
        return cls.from_arviz(idata)


def _sibling(path: Path, ext: str) -> Path:
    """``path`` + ``ext``, dropping a given .npz/.json suffix. Not ``with_suffix``: a name such as
    "posterior_p=0.1" has no suffix to replace, and replacing ".1" made runs overwrite each
    other's posteriors."""
    path = Path(path)
    if path.suffix in (".npz", ".json"):
        path = path.with_suffix("")
    return path.parent / (path.name + ext)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
