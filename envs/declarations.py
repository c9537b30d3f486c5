"""What a GridWorld subclass declares (tiles, features, true weights, ASCII, colours, shapes):
checked when the class is created, so that a typo fails at import naming the class and the
attribute, and the optional declarations' defaults filled in."""

from __future__ import annotations

from typing import Any

import numpy as np

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


def _declared(cls: type, name: str, base: type) -> Any:
    """What the nearest class at or below ``cls`` declared for ``name`` in its body (None when
    none did: the default is then derived for ``cls`` itself)."""
    for klass in cls.__mro__:
        if klass is base:
            return None
        own = vars(klass).get("_OWN_DECLARATIONS", {})
        if name in own:
            return own[name]
    return None


def configure_subclass(cls: type, base: type) -> None:
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
    if cls._generate is base._generate:
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

    floor = _declared(cls, "FLOOR", base)
    if floor is None:
        special = {"wall"} | cls.TERMINAL_TILES | cls.HAZARD_TILES
        candidates = [t for t in tiles if t not in special]
        if not candidates:
            fail("FLOOR", "no default: every tile is a wall, terminal or a hazard; declare FLOOR")
        floor = candidates[0]
    elif floor not in tiles or floor == "wall" or floor in cls.TERMINAL_TILES:
        fail("FLOOR", f"expected a non-wall, non-terminal tile of {tiles}, got {floor!r}")
    cls.FLOOR = floor

    ascii_map = _declared(cls, "ASCII", base)
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

    colors = dict(_declared(cls, "TILE_COLORS", base) or {})
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
