"""Gridworld layouts: a grid of named tiles and the agent's start (:class:`Layout`), ASCII maps
(:func:`parse_ascii`), shortest paths over free cells (:func:`bfs_distances`), and the tables of
a state beyond the agent's cell (:class:`AuxTables`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1), (0, 0)])  # (d_row, d_col)


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
