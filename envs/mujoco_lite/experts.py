"""Scripted demonstrators for the point envs: they act from the observation alone.

Each is a callable ``obs -> action`` (what :func:`rewunc.rollout.collect` takes) that heads for
the position its reward weights value most and steers around what they make costly, with Gaussian
action noise of scale ``noise`` from its own generator (seeded once: a demonstrator built with the
same seed acts the same). They stand in for a human demonstrator; the posterior never sees them,
only their trajectories.
"""

from __future__ import annotations

import math

import numpy as np

from rewunc.envs.mujoco_lite.point_lava import N_LAVA, N_MUD

AVOID_MARGIN = 0.08  # how far outside a costly disc a detour passes
CRUISE = 1.5  # the demonstrators' speed (the point's top speed on ground is 2)


def track(velocity: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The force that steers the point mass (gear 4, damping 2) towards ``velocity``: the
    force that holds it, plus a correction of the error (so the point brakes into turns)."""
    return 0.5 * velocity + 1.5 * (velocity - current)


def _unit(v: np.ndarray) -> np.ndarray:
    n = math.hypot(v[0], v[1])
    return v / n if n > 1e-9 else np.zeros(2)


def detour(goal: np.ndarray, discs: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """The direction to head in, from the origin (the agent), for ``goal`` (relative position):
    straight at it, unless the segment passes within a disc (relative centre, radius) — then at
    the nearer side of the nearest such disc, ``AVOID_MARGIN`` outside it."""
    length = math.hypot(goal[0], goal[1])
    if length < 1e-9:
        return np.zeros(2)
    along = goal / length
    blocking = []
    for centre, radius in discs:
        t = float(np.clip(centre @ along, 0.0, length))
        gap = math.hypot(*(centre - t * along))
        reach = radius + AVOID_MARGIN
        if gap < reach and math.hypot(*centre) > radius:  # not already inside it
            blocking.append((t, centre, reach))
    if not blocking:
        return along
    _, centre, reach = min(blocking, key=lambda b: b[0])
    side = np.array([-along[1], along[0]])
    if side @ centre > 0:  # pass on the side away from the centre
        side = -side
    return _unit(centre + side * reach * 1.05)


class PointLavaExpert:
    """Follows the cheapest path to the target under ``weights`` (PointLava's features: ground,
    mud, lava, target, progress), with Gaussian action noise ``noise``.

    Once per layout it solves the shortest path to the target on a 41 × 41 grid over the arena
    (8-neighbour moves, Dijkstra by SciPy), each unit of distance costing −w_terrain times the
    steps a unit takes there (10 on ground and lava, 50 in mud); ``progress`` telescopes and
    ``target`` ends the episode, so neither changes which path is cheapest. Each step it heads
    for the neighbouring grid point nearest the target by that cost.
    """

    GRID = 41
    STEPS_PER_UNIT = (10.0, 50.0, 10.0)  # ground, mud, lava (top speeds 2, 0.4 and 2 per second)

    def __init__(self, weights, noise: float = 0.0, seed: int = 0):
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (5,) or not np.isfinite(w).all():
            raise ValueError(f"weights: expected 5 finite PointLava weights, got {w}")
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise: expected a scale >= 0, got {noise!r}")
        # cost per unit of distance on ground, mud and lava (Dijkstra needs it positive)
        self.unit_cost = np.maximum(-w[:3] * self.STEPS_PER_UNIT, 1e-3)
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)
        self.grid = np.linspace(-1.0, 1.0, self.GRID)
        self._layout = None

    def _plan(self, target: np.ndarray, discs: np.ndarray) -> None:
        """Cost-to-target of every grid point [G, G] for discs (x, y, r, terrain index)."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import dijkstra

        G = self.GRID
        xs, ys = np.meshgrid(self.grid, self.grid, indexing="ij")
        cost = np.full((G, G), self.unit_cost[0])
        for x, y, r, terrain in sorted(discs.tolist(), key=lambda d: d[3]):  # lava over mud
            reach = r + AVOID_MARGIN  # plan a margin around discs: the point has momentum
            cost[(xs - x) ** 2 + (ys - y) ** 2 < reach * reach] = self.unit_cost[int(terrain)]
        index = np.arange(G * G).reshape(G, G)
        rows, cols, weights = [], [], []
        step = self.grid[1] - self.grid[0]
        for di, dj in ((0, 1), (1, 0), (1, 1), (1, -1)):
            a = index[max(0, -di) : G - max(0, di), max(0, -dj) : G - max(0, dj)]
            b = index[max(0, di) : G + min(0, di) or None, max(0, dj) : G + min(0, dj) or None]
            ca, cb = cost.ravel()[a.ravel()], cost.ravel()[b.ravel()]
            w = 0.5 * (ca + cb) * step * math.hypot(di, dj)
            rows += [a.ravel(), b.ravel()]
            cols += [b.ravel(), a.ravel()]
            weights += [w, w]
        graph = coo_matrix(
            (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
            shape=(G * G, G * G),
        ).tocsr()
        ti = np.abs(self.grid - target[0]).argmin()
        tj = np.abs(self.grid - target[1]).argmin()
        self._to_go = dijkstra(graph, indices=index[ti, tj]).reshape(G, G)

    def __call__(self, obs) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        p = obs[0:2]
        target = obs[4:6] + p
        slots = obs[6:].reshape(N_MUD + N_LAVA, 3)
        terrain = np.array([1.0] * N_MUD + [2.0] * N_LAVA)
        present = slots[:, 2] > 0
        discs = np.column_stack([slots[:, :2] + p, slots[:, 2], terrain])[present]
        layout = tuple(np.round(np.concatenate([target, discs.ravel()]), 3))
        if layout != self._layout:  # a new episode's layout: plan once
            self._plan(target, discs)
            self._layout = layout
        if math.dist(p, target) < 0.15:
            action = _unit(target - p)
        else:
            G = self.GRID
            i, j = (int(np.abs(self.grid - c).argmin()) for c in p)
            best, best_value = None, math.inf
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    a, b = i + di, j + dj
                    if (di or dj) and 0 <= a < G and 0 <= b < G and self._to_go[a, b] < best_value:
                        best, best_value = (a, b), self._to_go[a, b]
            action = _unit(np.array([self.grid[best[0]], self.grid[best[1]]]) - p)
        action = track(action * CRUISE, obs[2:4])
        if self.noise:
            action = action + self.noise * self.rng.standard_normal(2)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def __repr__(self) -> str:
        return f"PointLavaExpert(noise={self.noise})"


class PointColorExpert:
    """Heads for the object its ``weights`` (PointColor's 9) value most — touching it, and
    approaching it — around the other one; Gaussian action noise ``noise``."""

    def __init__(self, weights, noise: float = 0.0, seed: int = 0):
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (9,) or not np.isfinite(w).all():
            raise ValueError(f"weights: expected 9 finite PointColor weights, got {w}")
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise: expected a scale >= 0, got {noise!r}")
        self.weights, self.noise = w, float(noise)
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        slots = obs[4:].reshape(2, 4)  # relative x, y, is_sphere, is_red
        touch, approach = self.weights[0:4], self.weights[4:8]
        value = [(touch + approach) @ (r, 1 - r, s, 1 - s) for _, _, s, r in slots]
        best = int(np.argmax(value))
        other = slots[1 - best]
        action = track(detour(slots[best, :2], [(other[:2], 0.17)]) * CRUISE, obs[2:4])
        if self.noise:
            action = action + self.noise * self.rng.standard_normal(2)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def __repr__(self) -> str:
        return f"PointColorExpert(noise={self.noise})"
