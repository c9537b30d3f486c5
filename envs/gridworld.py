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

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rewunc.mdp import TabularMDP
from rewunc.protocol import OUTCOMES  # noqa: F401  (re-exported for subclasses)

MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1), (0, 0)])  # (d_row, d_col)
ACTION_NAMES = ("up", "right", "down", "left", "stay")


class LayoutError(ValueError):
    """A layout or ASCII map is malformed."""


@dataclass(frozen=True, eq=False)
class Layout:
    """One gridworld layout.

    Attributes:
        tiles: int array [H, W], indices into the env's ``TILES``.
        start: (row, col) of the agent's start cell.
    """

    tiles: np.ndarray
    start: tuple[int, int]

    @property
    def shape(self) -> tuple[int, int]:
        return self.tiles.shape


@dataclass(frozen=True)
class AuxTables:
    """How the state beyond the agent's cell evolves, for one layout (n_free free cells).

    Attributes:
        next_aux: int [n_aux, n_free], aux after arriving in free cell c with previous aux.
        features: float [n_aux, n_free, K], φ of each state.
        terminal: bool [n_aux, n_free].
    """

    next_aux: np.ndarray
    features: np.ndarray
    terminal: np.ndarray

    @property
    def n_aux(self) -> int:
        return self.next_aux.shape[0]


def parse_ascii(text: str, legend: dict[str, str], tiles: tuple[str, ...], floor: str) -> Layout:
    """Parse an ASCII map into a Layout; 'A' marks the start (on the ``floor`` tile).

    Raises:
        LayoutError: ragged or empty maps, unknown characters, or not exactly one 'A'.
    """
    if not isinstance(text, str):
        raise LayoutError(f"ascii_map: expected a string, got {type(text).__name__}")
    rows = [line.strip() for line in text.strip("\n").splitlines()]
    rows = [r for r in rows if r]
    if not rows:
        raise LayoutError("ascii_map: the map is empty")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise LayoutError(
            f"ascii_map: rows have different lengths {sorted(widths)}; maps must be rectangular"
        )
    known = set(legend) | {"A"}
    grid = np.zeros((len(rows), len(rows[0])), dtype=np.int8)
    starts = []
    for i, row in enumerate(rows):
        for j, ch in enumerate(row):
            if ch not in known:
                raise LayoutError(
                    f"ascii_map: unknown character {ch!r} at row {i}, column {j}; "
                    f"known: {''.join(sorted(known))}"
                )
            if ch == "A":
                starts.append((i, j))
                grid[i, j] = tiles.index(floor)
            else:
                grid[i, j] = tiles.index(legend[ch])
    if len(starts) != 1:
        raise LayoutError(f"ascii_map: expected exactly one agent start 'A', found {len(starts)}")
    return Layout(tiles=grid, start=starts[0])


def bfs_distances(free: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """Shortest-path step counts from ``source`` over free cells [H, W] (-1 where unreachable)."""
    H, W = free.shape
    dist = np.full((H, W), -1, dtype=np.int64)
    dist[source] = 0
    frontier = [source]
    while frontier:
        nxt = []
        for r, c in frontier:
            for dr, dc in MOVES[:4]:
                rr, cc = r + dr, c + dc
                if 0 <= rr < H and 0 <= cc < W and free[rr, cc] and dist[rr, cc] < 0:
                    dist[rr, cc] = dist[r, c] + 1
                    nxt.append((rr, cc))
        frontier = nxt
    return dist


REQUIRED_ATTRIBUTES = ("TILES", "feature_names", "TRUE_WEIGHTS", "TILE_FEATURES")
"""Class attributes every GridWorld subclass declares (besides ``SHIFTS`` and ``_generate``)."""

SHAPES = ("circle", "square", "key", "star", "chest")
WALL_RGB, FLOOR_RGB = (60, 60, 60), (235, 235, 225)
PALETTE = (
    (250, 200, 30),
    (96, 170, 80),
    (230, 70, 20),
    (40, 80, 220),
    (140, 80, 30),
    (150, 90, 200),
    (120, 190, 230),
    (220, 40, 40),
    (30, 160, 160),
    (200, 120, 170),
)
"""Default colours of tiles without one in ``TILE_COLORS``, in ``TILES`` order."""


_DEFAULTED = ("FLOOR", "ASCII", "TILE_COLORS")


def _declared(cls: type, name: str) -> Any:
    """What the nearest class at or below ``cls`` declared for ``name`` in its body (None when
    none did: the default is then derived for ``cls`` itself)."""
    for klass in cls.__mro__:
        if klass is GridWorld:
            return None
        own = vars(klass).get("_OWN_DECLARATIONS", {})
        if name in own:
            return own[name]
    return None


def _configure_subclass(cls: type) -> None:
    """Check a GridWorld subclass's declarations and fill in the optional ones' defaults.

    Raises:
        TypeError: a required declaration is missing or a declaration is malformed, with the
            class and the attribute named.
    """
    name = cls.__name__
    cls._OWN_DECLARATIONS = {a: vars(cls)[a] for a in _DEFAULTED if a in vars(cls)}

    def fail(attr: str, message: str):
        raise TypeError(f"{name}.{attr}: {message}")

    missing = [a for a in REQUIRED_ATTRIBUTES if not hasattr(cls, a)]
    if cls._generate is GridWorld._generate:
        missing.append("_generate(rng)")
    if missing:
        raise TypeError(
            f"{name}: a GridWorld subclass must declare {', '.join(missing)} (see the GridWorld "
            "docstring; an intermediate base class is declared with abstract=True)"
        )

    tiles = cls.TILES
    if isinstance(tiles, str) or not isinstance(tiles, tuple | list):
        fail("TILES", f"expected a tuple of tile names, got {tiles!r}")
    tiles = tuple(tiles)
    if not all(isinstance(t, str) and t for t in tiles):
        fail("TILES", f"tile names must be non-empty strings, got {tiles}")
    if len(set(tiles)) != len(tiles):
        fail("TILES", f"tile names repeat: {tiles}")
    if "wall" not in tiles:
        fail("TILES", f"must include 'wall', got {tiles}")
    if len(tiles) > 127:
        fail("TILES", f"at most 127 tiles (layouts are int8), got {len(tiles)}")
    cls.TILES = tiles

    features = cls.feature_names
    if isinstance(features, str) or not isinstance(features, tuple | list):
        fail("feature_names", f"expected a tuple of feature names, got {features!r}")
    features = tuple(features)
    if not features or not all(isinstance(f, str) and f for f in features):
        fail("feature_names", f"expected non-empty feature names, got {features}")
    if len(set(features)) != len(features):
        fail("feature_names", f"feature names repeat: {features}")
    cls.feature_names = features

    try:
        weights = np.asarray(cls.TRUE_WEIGHTS, dtype=np.float64)
    except (TypeError, ValueError):
        fail("TRUE_WEIGHTS", f"expected {len(features)} numbers, got {cls.TRUE_WEIGHTS!r}")
    if weights.shape != (len(features),):
        fail(
            "TRUE_WEIGHTS",
            f"has {weights.size} weights for {len(features)} features "
            f"({', '.join(features)}); expected one weight per feature",
        )
    if not np.isfinite(weights).all():
        fail("TRUE_WEIGHTS", f"weights must be finite, got {cls.TRUE_WEIGHTS!r}")

    def tile_set(attr: str) -> frozenset[str]:
        value = getattr(cls, attr)
        if isinstance(value, str) or not isinstance(value, set | frozenset | tuple | list):
            fail(attr, f"expected a set of tile names, got {value!r}")
        unknown = sorted(set(value) - set(tiles))
        if unknown:
            fail(attr, f"unknown tiles {unknown}; TILES are {tiles}")
        if "wall" in value:
            fail(attr, "'wall' cannot be entered, so it cannot be one of these")
        return frozenset(value)

    def tile_keys(attr: str, value: Any) -> None:
        if not isinstance(value, dict):
            fail(attr, f"expected a dict keyed by tile name, got {value!r}")
        unknown = sorted(set(value) - set(tiles))
        if unknown:
            fail(attr, f"unknown tiles {unknown}; TILES are {tiles}")

    tile_keys("TILE_FEATURES", cls.TILE_FEATURES)
    for tile, phi in cls.TILE_FEATURES.items():
        if not isinstance(phi, dict):
            fail("TILE_FEATURES", f"{tile!r}: expected {{feature: value}}, got {phi!r}")
        unknown = sorted(set(phi) - set(features))
        if unknown:
            fail(
                "TILE_FEATURES",
                f"{tile!r} names unknown features {unknown}; feature_names are {features}",
            )
        if not all(isinstance(v, int | float | np.number) and np.isfinite(v) for v in phi.values()):
            fail("TILE_FEATURES", f"{tile!r}: feature values must be finite numbers, got {phi}")
    cls.TERMINAL_TILES = tile_set("TERMINAL_TILES")
    cls.HAZARD_TILES = tile_set("HAZARD_TILES")

    shifts = cls.SHIFTS
    if isinstance(shifts, str) or not isinstance(shifts, tuple | list):
        fail("SHIFTS", f"expected a tuple of shift names, got {shifts!r}")
    if not all(isinstance(x, str) and x and x != "train" for x in shifts):
        fail("SHIFTS", f"shift names must be non-empty strings other than 'train', got {shifts}")
    cls.SHIFTS = tuple(shifts)
    if not isinstance(cls.DEFAULT_MAX_STEPS, int) or cls.DEFAULT_MAX_STEPS < 1:
        fail("DEFAULT_MAX_STEPS", f"expected a positive int, got {cls.DEFAULT_MAX_STEPS!r}")

    floor = _declared(cls, "FLOOR")
    if floor is None:
        special = {"wall"} | cls.TERMINAL_TILES | cls.HAZARD_TILES
        candidates = [t for t in tiles if t not in special]
        if not candidates:
            fail("FLOOR", "no default: every tile is a wall, terminal or a hazard; declare FLOOR")
        floor = candidates[0]
    elif floor not in tiles or floor == "wall" or floor in cls.TERMINAL_TILES:
        fail("FLOOR", f"expected a non-wall, non-terminal tile of {tiles}, got {floor!r}")
    cls.FLOOR = floor

    ascii_map = _declared(cls, "ASCII")
    if ascii_map is None:
        ascii_map = {"#": "wall", ".": floor}
        for tile in tiles:
            if tile in ("wall", floor):
                continue
            ch = tile[0]
            if ch in ("#", ".", "A") or ch in ascii_map:
                taken = {"#": "wall", ".": f"the floor {floor!r}", "A": "the agent's start"}
                other = taken.get(ch) or repr(ascii_map[ch])
                fail(
                    "ASCII",
                    f"no default legend: tile {tile!r} would be {ch!r}, which is already "
                    f"{other}; declare ASCII = {{character: tile}}",
                )
            ascii_map[ch] = tile
    if not isinstance(ascii_map, dict):
        fail("ASCII", f"expected a dict {{character: tile}}, got {ascii_map!r}")
    unknown = sorted(set(ascii_map.values()) - set(tiles))
    if unknown:
        fail("ASCII", f"unknown tiles {unknown}; TILES are {tiles}")
    for ch in ascii_map:
        if not isinstance(ch, str) or len(ch) != 1 or ch.isspace() or ch == "A":
            fail("ASCII", f"keys must be single characters other than 'A' and space, got {ch!r}")
    cls.ASCII = dict(ascii_map)

    tile_keys("ANSI_EXTRA", cls.ANSI_EXTRA)
    shown = set(cls.ASCII.values()) | set(cls.ANSI_EXTRA)
    unshown = [t for t in tiles if t not in shown]
    if unshown:
        fail("ASCII", f"tiles {unshown} have no character in ASCII or ANSI_EXTRA to render them")

    colors = dict(_declared(cls, "TILE_COLORS") or {})
    tile_keys("TILE_COLORS", colors)
    for tile, rgb in colors.items():
        if (
            not isinstance(rgb, tuple | list)
            or len(rgb) != 3
            or not all(isinstance(x, int | np.integer) and 0 <= x <= 255 for x in rgb)
        ):
            fail("TILE_COLORS", f"{tile!r}: expected an (r, g, b) of ints in 0..255, got {rgb!r}")
    if set(colors) != set(tiles):
        palette = iter(PALETTE * (1 + len(tiles) // len(PALETTE)))
        defaults = {"wall": WALL_RGB, floor: FLOOR_RGB}
        colors = {t: colors.get(t) or defaults.get(t) or next(palette) for t in tiles}
    cls.TILE_COLORS = colors

    tile_keys("TILE_SHAPES", cls.TILE_SHAPES)
    bad = {t: s for t, s in cls.TILE_SHAPES.items() if s not in SHAPES}
    if bad:
        fail("TILE_SHAPES", f"unknown shapes {bad}; known: {SHAPES}")


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
            _configure_subclass(cls)

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
        self._done = False
        self._hazard_visits = 0
        self._on_reset()
        return self._observation(), {
            "features": np.zeros(len(self.feature_names)),
            "state": self.state_index(),
        }

    def _on_reset(self) -> None:
        """Reset per-episode book-keeping."""

    def step(self, action):
        if self.layout is None:
            raise RuntimeError("call reset() before step()")
        if self._done:
            raise RuntimeError("the episode has ended; call reset()")
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
        if self.HAZARD_TILES:
            info["hazard_visits"] = self._hazard_visits
        self._add_info(info)
        self._done = terminated or truncated
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
        """Put the agent in MDP state ``index`` of the current layout (for tests and experts)."""
        if self.layout is None:
            raise RuntimeError("call reset() before set_state()")
        if not 0 <= index < self.n_states:
            raise ValueError(f"state index: expected an int in [0, {self.n_states}), got {index}")
        self._aux_state, self._cell = divmod(int(index), len(self._free_cells))
        self._done = False

    def observation_of(self, index: int) -> np.ndarray:
        """The observation of MDP state ``index`` of the current layout (the env's state is left
        as it was): for evaluating a learnt policy in every state at once."""
        saved = self._aux_state, self._cell, self._done
        self.set_state(index)
        try:
            return self._observation()
        finally:
            self._aux_state, self._cell, self._done = saved

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
