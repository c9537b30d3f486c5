"""The gridworld core shared by rewunc's discrete environments.

A *layout* is a grid of named tiles plus the agent's start cell. A subclass says which tiles exist,
what features they carry, how layouts are drawn (``_generate``) and, if its state is more than the
agent's cell (an inventory, objects consumed), how that extra "aux" state evolves (``_aux_tables``).
From that the core provides the gymnasium API, a one-hot symbolic observation, rendering, and the
exact :class:`~rewunc.mdp.TabularMDP` of the current layout.

State indexing: ``index = aux * n_free + free_index[cell]`` where free cells are the non-wall cells
in row-major order. Actions: 0 up, 1 right, 2 down, 3 left, and 4 stay when ``stay_action=True``.
With ``slip > 0`` the chosen action is replaced, with probability ``slip``, by one of the four moves
drawn uniformly (so the intended move happens with probability 1 − slip + slip/4).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rewunc.envs.declarations import configure_subclass
from rewunc.envs.layout import (  # noqa: F401  (re-exported: subclasses import them here)
    MOVES,
    AuxTables,
    Layout,
    LayoutError,
    bfs_distances,
    parse_ascii,
)
from rewunc.mdp import TabularMDP
from rewunc.protocol import (  # noqa: F401  (OUTCOMES re-exported for subclasses)
    OUTCOMES,
    EpisodeEndedError,
    mark_episode_end,
)

ACTION_NAMES = ("up", "right", "down", "left", "stay")


class GridWorld(gym.Env):
    """Base class of rewunc's gridworlds (see the module docstring for the state convention).

    A subclass declares its tiles and features as class attributes and draws layouts in
    ``_generate``; the declarations are checked when the class is created, so a typo fails at
    import with the class and the attribute named.

    ======================  ========  =========================================================
    attribute / hook        required  meaning (default)
    ======================  ========  =========================================================
    ``TILES``               yes       tile names, a tuple that includes ``"wall"``
    ``feature_names``       yes       the K feature names
    ``TRUE_WEIGHTS``        yes       the designer's K weights: reward = w·φ
    ``TILE_FEATURES``       yes       ``{tile: {feature: value}}``; unnamed entries are 0
    ``SHIFTS``              yes       held-out shift names (the base's ``()``: none)
    ``_generate(rng)``      yes       draw a :class:`Layout` from ``rng`` (honour ``self.shift``)
    ``TERMINAL_TILES``      no        tiles that end the episode (none)
    ``HAZARD_TILES``        no        unsafe tiles: ``info["hazard_visits"]``, outcome hazard
    ``FLOOR``               no        the start tile of ASCII maps (first non-wall, non-terminal,
                                      non-hazard tile)
    ``ASCII``               no        ``{char: tile}`` for ``ascii_map`` (``#`` wall, ``.``
                                      floor, else each tile's first letter)
    ``TILE_COLORS``         no        RGB per tile (a default palette)
    ``TILE_SHAPES``         no        draw a tile as a circle, square, key, star or chest
    ``ANSI_EXTRA``          no        render characters of tiles that ASCII maps cannot use
    ``DEFAULT_MAX_STEPS``   no        episode limit (50)
    ``_validate_layout``    no        raise LayoutError on an env-specific rule (no rule)
    ``_terminal_outcome``   no        outcome on a terminal state ("goal")
    ``_timeout_outcome``    no        outcome on truncation ("timeout")
    ``_aux_tables`` & co.   no        state beyond the agent's cell (see KeysChests)
    ======================  ========  =========================================================

    Entering a ``HAZARD_TILES`` tile counts ``info["hazard_visits"]`` (present on every step
    when the env declares hazard tiles), and an episode in which one was entered ends with
    outcome ``hazard``, whether it reached a terminal tile or timed out. A fixed layout
    (``ascii_map`` or ``layout_seed``) with terminal tiles must reach one of them from the start
    (a hazard-free one when there is one). An intermediate base class that is not an env itself
    opts out of the checks with ``class MyBase(GridWorld, abstract=True)``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array", "ansi"], "render_fps": 8}

    TILES: ClassVar[tuple[str, ...]]  # must contain "wall"
    FLOOR: ClassVar[str]  # the tile under the agent's start in ASCII maps
    ASCII: ClassVar[dict[str, str]]  # character -> tile name
    TILE_COLORS: ClassVar[dict[str, tuple[int, int, int]]]
    TILE_SHAPES: ClassVar[dict[str, str]] = {}  # tile -> "circle" | "square" | "key" | "star"
    ANSI_EXTRA: ClassVar[dict[str, str]] = {}  # characters for tiles that ASCII maps cannot use
    feature_names: ClassVar[tuple[str, ...]]
    TRUE_WEIGHTS: ClassVar[tuple[float, ...]]
    TILE_FEATURES: ClassVar[dict[str, dict[str, float]]]  # tile -> {feature: value}
    TERMINAL_TILES: ClassVar[frozenset[str]] = frozenset()
    HAZARD_TILES: ClassVar[frozenset[str]] = frozenset()
    SHIFTS: ClassVar[tuple[str, ...]] = ()
    DEFAULT_MAX_STEPS: ClassVar[int] = 50

    def __init_subclass__(cls, abstract: bool = False, **kwargs):
        super().__init_subclass__(**kwargs)
        if not abstract:
            configure_subclass(cls, GridWorld)

    def __init__(
        self,
        shift: str | None = None,
        *,
        slip: float = 0.0,
        stay_action: bool = False,
        layout_seed: int | None = None,
        ascii_map: str | None = None,
        max_steps: int | None = None,
        render_mode: str | None = None,
    ):
        if shift is not None and shift not in self.SHIFTS:
            raise ValueError(
                f"{type(self).__name__}: unknown shift {shift!r}; expected None "
                f"(training distribution) or one of {list(self.SHIFTS)}"
            )
        if not (0.0 <= slip < 1.0):
            raise ValueError(f"slip: expected a probability in [0, 1), got {slip!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode: expected one of {self.metadata['render_modes']} or "
                f"None, got {render_mode!r}"
            )
        if layout_seed is not None and ascii_map is not None:
            raise ValueError("layout_seed and ascii_map are exclusive: give at most one")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps: expected a positive int, got {max_steps!r}")
        self.shift = shift
        self.slip = float(slip)
        self.stay_action = bool(stay_action)
        self.render_mode = render_mode
        self.max_steps = int(max_steps or self.DEFAULT_MAX_STEPS)
        self.true_weights = np.asarray(self.TRUE_WEIGHTS, dtype=np.float64)
        self._tile_features = np.array(
            [
                [self.TILE_FEATURES.get(t, {}).get(f, 0.0) for f in self.feature_names]
                for t in self.TILES
            ],
            dtype=np.float64,
        )
        self._terminal_tile = np.array([t in self.TERMINAL_TILES for t in self.TILES])
        self._hazard_tile = np.array([t in self.HAZARD_TILES for t in self.TILES])
        self._wall = self.TILES.index("wall")

        self._fixed_layout: Layout | None = None
        if ascii_map is not None:
            self._fixed_layout = self._normalize_ascii_layout(
                parse_ascii(ascii_map, self.ASCII, self.TILES, self.FLOOR)
            )
        elif layout_seed is not None:
            self._fixed_layout = self._generate(np.random.default_rng(layout_seed))
        if self._fixed_layout is not None:
            self._validate_layout(self._fixed_layout)
            where = "ascii_map" if ascii_map is not None else f"layout_seed={layout_seed}"
            self.check_reachable(self._fixed_layout, where)
        # Spaces need the grid size; a fixed layout fixes it, else a generator's sample does.
        probe = self._fixed_layout or self._generate(np.random.default_rng(0))
        H, W = probe.shape
        self.action_space = spaces.Discrete(5 if self.stay_action else 4)
        self.observation_space = spaces.Box(0, 1, (1 + len(self.TILES), H, W), dtype=np.uint8)
        self.layout: Layout | None = None
        self._ended: str | None = None  # how the last episode ended; None while one runs

    # ---- hooks for subclasses ---------------------------------------------------------------

    def _generate(self, rng: np.random.Generator) -> Layout:
        """Draw a layout from ``rng`` (the env's ``np_random``); honour ``self.shift``."""
        raise NotImplementedError(
            f"{type(self).__name__}: a GridWorld subclass implements _generate(rng) -> Layout "
            "(or is used with a fixed ascii_map)"
        )

    def _validate_layout(self, layout: Layout) -> None:
        """Raise LayoutError if the layout breaks an env-specific rule."""

    def _normalize_ascii_layout(self, layout: Layout) -> Layout:
        """Adjust a parsed ASCII layout to the env's conventions (default: unchanged)."""
        return layout

    def _cell_features(self, layout: Layout) -> np.ndarray:
        """φ of each cell [H, W, K]; by default from ``TILE_FEATURES``."""
        return self._tile_features[layout.tiles]

    def _aux_tables(self, layout: Layout, free_cells: np.ndarray) -> AuxTables:
        """Default: no aux state; features and termination come from the tile in the cell."""
        rows, cols = free_cells.T
        phi = self._cell_features(layout)[rows, cols]
        return AuxTables(
            next_aux=np.zeros((1, len(free_cells)), dtype=np.int64),
            features=phi[None],
            terminal=self._terminal_tile[layout.tiles[rows, cols]][None],
        )

    def _effective_tiles(self, layout: Layout, aux: int) -> np.ndarray:
        """The tiles shown in the observation for this aux state [H, W]."""
        return layout.tiles

    def _terminal_outcome(self, cell: tuple[int, int], aux: int) -> str:
        """Outcome of an episode that ended by arriving in a terminal state."""
        return "goal"

    def _timeout_outcome(self, aux: int) -> str:
        return "timeout"

    def _on_arrive(self, cell: tuple[int, int]) -> None:
        """Book-keeping on arrival; must not affect dynamics or reward (hazards: HAZARD_TILES)."""

    def check_reachable(self, layout: Layout, where: str = "layout") -> None:
        """Raise LayoutError if the layout has terminal tiles and none can be reached.

        The targets are the terminal tiles that are not hazards (all terminal tiles if every one
        is a hazard). The search walks over non-wall cells from the start and does not pass
        through terminal cells (arriving in one ends the episode). Envs without
        ``TERMINAL_TILES`` (termination from aux state) are not checked.
        """
        if not self.TERMINAL_TILES:
            return
        targets = self.TERMINAL_TILES - self.HAZARD_TILES or self.TERMINAL_TILES
        names = sorted(targets)
        target = np.isin(layout.tiles, [self.TILES.index(t) for t in names])
        if not target.any():
            return  # nothing to reach; _validate_layout says whether that is allowed
        passable = (layout.tiles != self._wall) & ~self._terminal_tile[layout.tiles]
        passable[layout.start] = True
        H, W = layout.shape
        seen = np.zeros((H, W), dtype=bool)
        seen[layout.start] = True
        frontier = [layout.start]
        while frontier:
            nxt = []
            for r, c in frontier:
                if target[r, c]:
                    return
                if not passable[r, c]:
                    continue
                for dr, dc in MOVES[:4]:
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < H and 0 <= cc < W and not seen[rr, cc]:
                        seen[rr, cc] = True
                        if layout.tiles[rr, cc] != self._wall:
                            nxt.append((int(rr), int(cc)))
            frontier = nxt
        r, c = layout.start
        raise LayoutError(
            f"{where}: no terminal tile ({', '.join(names)}) is reachable from the start at "
            f"({r}, {c})"
        )

    # ---- layout installation ----------------------------------------------------------------

    def _install(self, layout: Layout) -> None:
        self.layout = layout
        H, W = layout.shape
        free = layout.tiles != self._wall
        self._free_cells = np.argwhere(free)
        n_free = len(self._free_cells)
        self._free_index = np.full((H, W), -1, dtype=np.int64)
        self._free_index[free] = np.arange(n_free)
        # move_table[c, m]: free index after move m from free cell c (walls and edges block)
        target = self._free_cells[:, None, :] + MOVES[None, :, :]
        inside = ((target >= 0) & (target < np.array([H, W]))).all(-1)
        tr = np.clip(target[..., 0], 0, H - 1)
        tc = np.clip(target[..., 1], 0, W - 1)
        dest = np.where(inside, self._free_index[tr, tc], -1)
        self._move_table = np.where(dest >= 0, dest, np.arange(n_free)[:, None])
        self._aux = self._aux_tables(layout, self._free_cells)
        self._obs_cache: dict[int, np.ndarray] = {}

    @property
    def n_states(self) -> int:
        return self._aux.n_aux * self.n_cells

    @property
    def n_cells(self) -> int:
        """Free cells of the current layout (states 0..n_cells-1 are the cells at aux 0)."""
        return len(self._free_cells)

    # ---- gymnasium API ----------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        layout = self._fixed_layout or self._generate(self.np_random)
        self._install(layout)
        self._cell = int(self._free_index[layout.start])
        self._aux_state = 0
        self._steps = 0
        self._ended = None
        self._hazard_visits = 0
        self._on_reset()
        return self._observation(), {
            "features": np.zeros(len(self.feature_names)),
            "state": self.state_index(),
        }

    def _on_reset(self) -> None:
        """Reset per-episode book-keeping."""

    def step(self, action):
        EpisodeEndedError.check(self, self.layout is not None, self._ended)
        a = int(action)
        if not 0 <= a < self.action_space.n:
            raise ValueError(
                f"action: expected an int in [0, {self.action_space.n}), got {action!r}"
            )
        move = a
        if self.slip > 0 and self.np_random.random() < self.slip:
            move = int(self.np_random.integers(4))
        cell = int(self._move_table[self._cell, move])
        aux = int(self._aux.next_aux[self._aux_state, cell])
        self._cell, self._aux_state = cell, aux
        self._steps += 1
        rc = tuple(int(x) for x in self._free_cells[cell])
        if self._hazard_tile[self.layout.tiles[rc]]:
            self._hazard_visits += 1
        self._on_arrive(rc)
        phi = self._aux.features[aux, cell]
        reward = float(phi @ self.true_weights)
        terminated = bool(self._aux.terminal[aux, cell])
        truncated = (not terminated) and self._steps >= self.max_steps
        info = {"features": phi.copy(), "state": self.state_index()}
        if terminated:
            info["outcome"] = "hazard" if self._hazard_visits else self._terminal_outcome(rc, aux)
        elif truncated:
            info["outcome"] = "hazard" if self._hazard_visits else self._timeout_outcome(aux)
        self._ended = mark_episode_end(info, terminated, truncated)
        if self.HAZARD_TILES:
            info["hazard_visits"] = self._hazard_visits
        self._add_info(info)
        return self._observation(), reward, terminated, truncated, info

    def _add_info(self, info: dict) -> None:
        """Add env-specific entries to a step's info."""

    def _observation(self) -> np.ndarray:
        base = self._obs_cache.get(self._aux_state)
        if base is None:
            tiles = self._effective_tiles(self.layout, self._aux_state)
            base = np.zeros(self.observation_space.shape, dtype=np.uint8)
            base[1:] = tiles[None] == np.arange(len(self.TILES))[:, None, None]
            self._obs_cache[self._aux_state] = base
        obs = base.copy()
        r, c = self._free_cells[self._cell]
        obs[0, r, c] = 1
        return obs

    # ---- env <-> MDP ------------------------------------------------------------------------

    def state_index(self) -> int:
        """Index of the current state in ``to_mdp()``."""
        return self._aux_state * len(self._free_cells) + self._cell

    def set_state(self, index: int) -> None:
        """Put the agent in MDP state ``index`` of the current layout (for tests and experts);
        an ended episode goes on from there."""
        if self.layout is None:
            raise RuntimeError("call reset() before set_state()")
        if not 0 <= index < self.n_states:
            raise ValueError(f"state index: expected an int in [0, {self.n_states}), got {index}")
        self._aux_state, self._cell = divmod(int(index), len(self._free_cells))
        self._ended = None

    def observation_of(self, index: int) -> np.ndarray:
        """The observation of MDP state ``index`` of the current layout (the env's state is left
        as it was): for evaluating a learnt policy in every state at once."""
        saved = self._aux_state, self._cell, self._ended
        self.set_state(index)
        try:
            return self._observation()
        finally:
            self._aux_state, self._cell, self._ended = saved

    def terminal_states(self) -> np.ndarray:
        """bool [n_states]: the states whose arrival ends the episode (``to_mdp().terminal``,
        without building the MDP)."""
        if self.layout is None:
            raise RuntimeError("call reset() before terminal_states()")
        return self._aux.terminal.reshape(-1).copy()

    def cell_of_state(self, index: int) -> tuple[int, int]:
        """(row, col) of the agent in MDP state ``index``."""
        r, c = self._free_cells[index % len(self._free_cells)]
        return int(r), int(c)

    def to_mdp(self, gamma: float = 0.95) -> TabularMDP:
        """The exact TabularMDP of the current layout (call after ``reset``)."""
        if self.layout is None:
            raise RuntimeError("call reset() before to_mdp()")
        n_free, n_aux = len(self._free_cells), self._aux.n_aux
        A = self.action_space.n
        # Outcome moves per action: the intended one, then (if slipping) each of the four moves.
        if self.slip > 0:
            moves = np.concatenate([np.arange(A)[:, None], np.tile(np.arange(4), (A, 1))], axis=1)
            mprob = np.concatenate(
                [np.full((A, 1), 1 - self.slip), np.full((A, 4), self.slip / 4)], axis=1
            )
        else:
            moves, mprob = np.arange(A)[:, None], np.ones((A, 1))
        dest_cell = self._move_table[:, moves]  # [n_free, A, B]
        dest_aux = self._aux.next_aux[:, dest_cell]  # [n_aux, n_free, A, B]
        next_states = dest_aux * n_free + dest_cell[None]
        terminal = self._aux.terminal.reshape(-1)
        S = n_aux * n_free
        next_states = next_states.reshape(S, A, -1)
        probs = np.broadcast_to(mprob, next_states.shape).copy()
        # Terminal states absorb (their future value is 0 anyway).
        next_states[terminal] = np.arange(S)[terminal, None, None]
        probs[terminal] = 0.0
        probs[terminal, :, 0] = 1.0
        initial = np.zeros(S)
        initial[int(self._free_index[self.layout.start])] = 1.0
        return TabularMDP(
            next_states=next_states,
            probs=probs,
            features=self._aux.features.reshape(S, -1),
            feature_names=tuple(self.feature_names),
            initial=initial,
            terminal=terminal,
            gamma=gamma,
            true_weights=self.true_weights,
            action_names=ACTION_NAMES[:A],
        )

    # ---- rendering --------------------------------------------------------------------------

    def render(self):
        if self.render_mode == "ansi":
            return self._render_ansi()
        if self.render_mode == "rgb_array":
            return self.render_rgb()
        return None

    def _render_ansi(self) -> str:
        inverse = {t: ch for ch, t in self.ASCII.items()} | self.ANSI_EXTRA
        tiles = self._effective_tiles(self.layout, self._aux_state)
        r0, c0 = self._free_cells[self._cell]
        lines = []
        for r in range(tiles.shape[0]):
            lines.append(
                "".join(
                    "A" if (r, c) == (r0, c0) else inverse[self.TILES[tiles[r, c]]]
                    for c in range(tiles.shape[1])
                )
            )
        return "\n".join(lines) + "\n"

    def render_rgb(
        self, cell_px: int = 24, path: list[tuple[int, int]] | None = None
    ) -> np.ndarray:
        """An RGB picture [H·px, W·px, 3] of the current state; ``path`` draws visited cells."""
        tiles = self._effective_tiles(self.layout, self._aux_state)
        H, W = tiles.shape
        img = np.zeros((H * cell_px, W * cell_px, 3), dtype=np.uint8)
        yy, xx = np.mgrid[0:cell_px, 0:cell_px]
        u = (xx + 0.5) / cell_px - 0.5
        v = (yy + 0.5) / cell_px - 0.5
        masks = {
            "circle": u**2 + v**2 <= 0.34**2,
            "square": (np.abs(u) <= 0.3) & (np.abs(v) <= 0.3),
            "key": ((u + 0.12) ** 2 + v**2 <= 0.17**2)
            | ((np.abs(v) <= 0.05) & (u >= 0) & (u <= 0.38)),
            "star": np.abs(u) + np.abs(v) <= 0.36,
            "chest": (np.abs(u) <= 0.34) & (v >= -0.22) & (v <= 0.28),
        }
        floor_rgb = np.array(self.TILE_COLORS[self.FLOOR], dtype=np.uint8)
        for r in range(H):
            for c in range(W):
                name = self.TILES[tiles[r, c]]
                block = img[r * cell_px : (r + 1) * cell_px, c * cell_px : (c + 1) * cell_px]
                shape = self.TILE_SHAPES.get(name)
                if shape is None:
                    block[:] = self.TILE_COLORS[name]
                else:
                    block[:] = floor_rgb
                    block[masks[shape]] = self.TILE_COLORS[name]
                block[0, :] = block[:, 0] = (90, 90, 90)  # grid lines
        ring = u**2 + v**2 <= 0.22**2
        for r, c in path or []:
            block = img[r * cell_px : (r + 1) * cell_px, c * cell_px : (c + 1) * cell_px]
            block[(u**2 + v**2 <= 0.09**2)] = (30, 30, 220)
        r, c = self._free_cells[self._cell]
        block = img[r * cell_px : (r + 1) * cell_px, c * cell_px : (c + 1) * cell_px]
        block[ring] = (20, 20, 20)
        block[(u**2 + v**2 <= 0.12**2)] = (250, 250, 250)
        return img
