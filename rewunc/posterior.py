"""RewardPosterior: samples of reward weights with their diagnostics, saved as .npz + .json."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rewunc.io import read_npz, write_json, write_npz
from rewunc.mdp import TabularMDP


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
    """

    weights: np.ndarray
    feature_names: tuple[str, ...]
    chain: np.ndarray
    beta: np.ndarray | None = None
    log_density: np.ndarray | None = None
    diagnostics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)

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

    def save(self, path, *, force: bool = False) -> tuple[Path, Path]:
        """Write ``path.npz`` (arrays) and ``path.json`` (names, diagnostics, config)."""
        path = Path(path)
        arrays = {"weights": self.weights, "chain": self.chain}
        if self.beta is not None:
            arrays["beta"] = self.beta
        if self.log_density is not None:
            arrays["log_density"] = self.log_density
        meta = {
            "format": "rewunc.posterior.v1",
            "feature_names": list(self.feature_names),
            "n_samples": self.n_samples,
            "diagnostics": _jsonable(self.diagnostics),
            "config": _jsonable(self.config),
        }
        npz = write_npz(_sibling(path, ".npz"), arrays, force=force)
        meta_path = write_json(_sibling(path, ".json"), meta, force=force)
        return npz, meta_path

    @classmethod
    def load(cls, path) -> RewardPosterior:
        path = Path(path)
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
        )

    def to_arviz(self):
        """An arviz InferenceData (needs the optional dependency arviz)."""
        try:
            import arviz as az
        except ImportError as err:
            raise ImportError("to_arviz needs arviz: pip install arviz") from err
        chains = np.unique(self.chain)
        draws = {"w": np.stack([self.weights[self.chain == c] for c in chains])}
        if self.beta is not None:
            draws["beta"] = np.stack([self.beta[self.chain == c] for c in chains])
        return az.from_dict(
            posterior=draws, coords={"feature": list(self.feature_names)}, dims={"w": ["feature"]}
        )


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
