"""The reward map of a rewunc gridworld: its layout with a tile legend, and the posterior mean
and sd of the reward of arriving in each cell (:func:`reward_map`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from rewunc.posterior import RewardPosterior


class NotAGridWorldError(TypeError):
    """The env has no gridworld cells to draw (raised by :func:`reward_map`)."""


GRIDWORLD_API = ("layout", "TILES", "TILE_COLORS", "cell_of_state", "render_rgb", "to_mdp")
_SHAPE_MARKERS = {"circle": "o", "square": "s", "star": "D", "key": "P", "chest": "s"}


def _tile_handles(base, tiles_present) -> list:
    """Legend handles for the tiles in a layout: a patch in the tile's colour, or the tile's
    shape (drawn on the floor colour) for tiles drawn as shapes."""
    shapes = getattr(base, "TILE_SHAPES", {})
    floor = np.array(base.TILE_COLORS.get(getattr(base, "FLOOR", ""), (255, 255, 255))) / 255
    handles = []
    for name in tiles_present:
        color = np.array(base.TILE_COLORS[name]) / 255
        if name in shapes:
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="",
                    marker=_SHAPE_MARKERS.get(shapes[name], "o"),
                    ms=9,
                    mfc=color,
                    mec=floor * 0.6,
                    label=name,
                )
            )
        else:
            handles.append(Patch(facecolor=color, edgecolor="0.35", label=name))
    handles.append(
        Line2D(
            [], [], ls="", marker="o", ms=8, mfc="white", mec="0.1", mew=2.5, label="agent start"
        )
    )
    return handles


def reward_map(
    posterior: RewardPosterior,
    env_id: str,
    env_kwargs: dict | None = None,
    shift: str | None = None,
    layout_seed: int = 0,
) -> plt.Figure:
    """The layout (with a tile legend), and the posterior mean and sd of the reward of arriving
    in each cell, r = w·φ(cell), over all draws of ``posterior``.

    Only rewunc gridworlds (``layout``, ``TILES``, ``TILE_COLORS``, ``cell_of_state``,
    ``render_rgb``, ``to_mdp``) have cells to map; other envs raise TypeError. For envs whose
    state is more than the cell (e.g. an inventory), the map shows the cells as first seen.
    """
    import gymnasium as gym

    kwargs = dict(env_kwargs or {}, **({} if shift is None else {"shift": shift}))
    env = gym.make(env_id, **kwargs)
    try:
        base = env.unwrapped
        missing = [a for a in GRIDWORLD_API if not hasattr(base, a)]
        if missing:
            raise NotAGridWorldError(
                f"reward_map: {env_id} ({type(base).__name__}) is not a rewunc GridWorld: it "
                f"lacks {missing}; reward maps need a gridworld's cells"
            )
        env.reset(seed=int(layout_seed))
        r = posterior.rewards(base.to_mdp())  # [M, S]
        H, W = base.layout.shape
        mean, sd = np.full((H, W), np.nan), np.full((H, W), np.nan)
        # Arriving in cell c from the start's extra state (aux 0: e.g. an empty inventory) lands
        # in state next_aux[0, c]·n_cells + c; envs without extra state have aux 0 only.
        aux = getattr(base, "_aux", None)
        stateful = aux is not None and aux.n_aux > 1
        for c in range(base.n_cells):
            s = int(aux.next_aux[0, c]) * base.n_cells + c if stateful else c
            row, col = base.cell_of_state(s)
            mean[row, col], sd[row, col] = r[:, s].mean(), r[:, s].std()
        picture = base.render_rgb()
        present = [base.TILES[i] for i in np.unique(base.layout.tiles)]
        handles = _tile_handles(base, present)
        wall = np.array(base.TILE_COLORS.get("wall", (60, 60, 60))) / 255
        env_name = type(base).__name__
    finally:
        env.close()

    fig, axes = plt.subplots(1, 3, figsize=(12.5, 4.6), layout="constrained")
    axes[0].imshow(picture)
    axes[0].set_title("layout", fontsize=9)
    axes[0].legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=min(3, len(handles)),
        fontsize=7,
        frameon=False,
        handlelength=1.2,
    )
    lim = float(np.nanmax(np.abs(mean))) or 1.0
    for ax, img, label, cmap, vmin, vmax in (
        (axes[1], mean, "posterior mean", "RdBu", -lim, lim),
        (axes[2], sd, "posterior sd", "viridis", 0.0, float(np.nanmax(sd)) or 1.0),
    ):
        cm = plt.get_cmap(cmap).with_extremes(bad=wall)
        im = ax.imshow(np.ma.masked_invalid(img), cmap=cm, vmin=vmin, vmax=vmax)
        ax.set_title(f"{label} of r(cell)", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        if H * W <= 196:  # small grids: print each cell's value
            norm = plt.Normalize(vmin, vmax)
            for (i, j), v in np.ndenumerate(img):
                if np.isfinite(v):
                    rgb = np.array(cm(norm(v))[:3])
                    dark = rgb @ (0.299, 0.587, 0.114) < 0.5
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if dark else "black",
                    )
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"{env_name}, shift '{shift or 'train'}', layout seed {layout_seed}: reward of arriving "
        f"in each cell, r = w·φ(cell), over {posterior.n_samples} posterior draws"
        + ("\n(arriving with the extra state the episode starts with, e.g. no keys)" * stateful),
        fontsize=10,
    )
    return fig
