"""MCMC diagnostics figures: ArviZ trace and rank plots per weight (:func:`trace_and_rank`)."""

from __future__ import annotations

import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import stats

from rewunc.posterior import RewardPosterior


def _arviz():
    """ArviZ, imported on first use: it is slow to import and announces its refactor on import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


def _diagnostic_summary(posterior: RewardPosterior, idata) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-weight R-hat and bulk ESS (stored, else computed by ArviZ) and a one-line summary."""
    az = _arviz()
    d = posterior.diagnostics
    K = len(posterior.feature_names)
    rhat = np.asarray(d.get("rhat", []), dtype=float)
    ess = np.asarray(d.get("ess_bulk", []), dtype=float)
    if rhat.shape != (K,):
        rhat = az.rhat(idata, var_names=["w"], method="rank")["w"].to_numpy()
    if ess.shape != (K,):
        ess = az.ess(idata, var_names=["w"], method="bulk")["w"].to_numpy()
    div = d.get("divergences")
    max_rhat = f"{np.nanmax(rhat):.3f}" if np.isfinite(rhat).any() else "n/a"
    min_ess = f"{np.nanmin(ess):.0f}" if np.isfinite(ess).any() else "n/a"
    summary = (
        f"max R-hat {max_rhat}, min bulk ESS {min_ess}, "
        f"divergences {div if div is not None else 'n/a'}"
    )
    return rhat, ess, summary


def trace_and_rank(posterior: RewardPosterior) -> tuple[plt.Figure, plt.Figure]:
    """ArviZ trace plots (each weight's marginal per chain, and draw vs value) and rank plots
    (each chain's histogram of its draws' ranks among all draws) for every weight, with a chain
    legend and the diagnostics in the titles.

    On the rank plots, the dashed line is each chain's expected bar height under uniform ranks,
    and the grey band the range holding 95% of a bar's heights if the chains agreed and their
    draws were independent (correlated draws stray further).
    """
    az = _arviz()
    idata = posterior.to_arviz()
    names = posterior.feature_names
    chains = np.unique(posterior.chain)
    C, K = len(chains), len(names)
    colors = [f"C{i % 10}" for i in range(C)]
    rhat, ess, summary = _diagnostic_summary(posterior, idata)

    with warnings.catch_warnings():  # ArviZ's own use of deprecated matplotlib API
        warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
        axes = az.plot_trace(
            idata,
            compact=False,
            legend=False,
            chain_prop={"color": colors},
            figsize=(11, 1.9 * (K + (posterior.beta is not None)) + 0.8),
            backend_kwargs={"layout": "constrained"},
        )
    ftrace = axes.flat[0].figure
    for k, name in enumerate(names):
        axes[k, 0].set_title(f"w[{name}]: marginal density per chain", fontsize=9)
        axes[k, 1].set_title(
            f"w[{name}]: draws (R-hat {rhat[k]:.3f}, bulk ESS {ess[k]:.0f})", fontsize=9
        )
    for ax in axes[:, 1]:
        ax.set_xlabel("draw", fontsize=8)
    handles = [
        Line2D([], [], color=c, lw=1.5, label=f"chain {ch}")
        for c, ch in zip(colors, chains, strict=True)
    ]
    ftrace.legend(handles=handles, loc="outside upper right", ncol=C, fontsize=8)
    ftrace.suptitle(
        f"MCMC traces per chain: marginal density (left), draws (right)\n{summary}", fontsize=10
    )

    n_per_chain = int(np.bincount(posterior.chain - posterior.chain.min()).min())
    bins = int(np.clip(n_per_chain // 10, 5, 20))
    cols = min(K, 4)
    rows = -(-K // cols)
    frank, ar = plt.subplots(
        rows,
        cols,
        figsize=(3.2 * cols, 0.9 * C * rows + 1.6),
        squeeze=False,
        layout="constrained",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
        az.plot_rank(
            idata,
            var_names=["w"],
            kind="bars",
            bins=bins,
            colors=colors,
            ax=ar.flat[:K],
            ref_line=True,
            ref_line_kwargs={"lw": 1},
        )
    # Under uniform ranks a chain's bar holds Binomial(n, 1/bins) of its n draws. ArviZ stacks
    # the chains' bars (each chain's bottom is a y tick) and scales them so that their mean is
    # the dashed line; the band is the binomial's 95% range on that scale.
    q_lo, q_hi = stats.binom.ppf([0.025, 0.975], n_per_chain, 1 / bins) / (n_per_chain / bins)
    for k, ax in enumerate(ar.flat[:K]):
        bars = list(ax.patches)
        for bottom in ax.get_yticks()[:C]:
            mean = float(np.mean([b.get_height() for b in bars if np.isclose(b.get_y(), bottom)]))
            ax.axhspan(bottom + q_lo * mean, bottom + q_hi * mean, color="0.85", lw=0, zorder=0.5)
            for edge in (q_lo, q_hi):
                ax.axhline(bottom + edge * mean, color="0.3", ls=":", lw=0.9, zorder=3)
        ax.set_title(f"w[{names[k]}]  (R-hat {rhat[k]:.3f})", fontsize=9)
        ax.set_xlabel("rank among all draws", fontsize=8)
        ax.set_ylabel("chain", fontsize=8)
    for ax in ar.flat[K:]:
        ax.axis("off")
    band = Patch(facecolor="0.85", edgecolor="0.3", ls=":", label="95% band if uniform")
    ref = Line2D([], [], color="k", ls="--", lw=1, label="uniform")
    frank.legend(
        handles=[
            *(
                Patch(facecolor=c, label=h.get_label())
                for c, h in zip(colors, handles, strict=True)
            ),
            ref,
            band,
        ],
        loc="outside lower center",
        ncol=C + 2,
        fontsize=8,
    )
    frank.suptitle(
        "rank plots: each chain's histogram of its draws' ranks among all draws (flat when the "
        "chains agree)\ndashed: uniform; grey band (dotted edges): where 95% of bars fall if ranks "
        f"are uniform and draws independent\n{summary}",
        fontsize=9,
    )
    return ftrace, frank
