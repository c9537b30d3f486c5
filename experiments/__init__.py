"""The experiment registry: every study rewunc runs, as a record the CLI and the sweep driver read.

Each record names the script's ``main``, its config class (the flags), its ``FAST`` preset and the
summary metrics it prints. Adding an experiment is one script and one line here; nothing finds
experiments by introspection, and no experiment imports another (shared loops live in
``rewunc.study``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rewunc.experiments import (
    color_goal,
    corner_goal,
    deep_corner_goal,
    deep_lavaland,
    lavaland,
    lavaland_robustness,
    point_color,
    point_lava,
)


@dataclass(frozen=True)
class Experiment:
    """One registered experiment: ``rewunc run NAME`` calls ``main(argv)``, whose flags are
    ``config``'s fields; ``fast`` is its ``--fast`` preset; ``summary`` the metrics its tables
    print; ``about`` one line for listings."""

    name: str
    main: Callable[[list[str] | None], int]
    config: type
    fast: dict
    summary: tuple[str, ...]
    about: str


def _record(name: str, module, config: type) -> Experiment:
    about = (module.__doc__ or name).strip().splitlines()[0]
    return Experiment(name, module.main, config, module.FAST, tuple(module.SUMMARY), about)


REGISTRY: dict[str, Experiment] = {
    e.name: e
    for e in (
        _record("lavaland", lavaland, lavaland.LavaLandConfig),
        _record(
            "lavaland_robustness", lavaland_robustness, lavaland_robustness.LavaLandRobustnessConfig
        ),
        _record("corner_goal", corner_goal, corner_goal.CornerGoalConfig),
        _record("color_goal", color_goal, color_goal.ColorGoalConfig),
        _record("deep_lavaland", deep_lavaland, deep_lavaland.DeepLavaLandConfig),
        _record("deep_corner_goal", deep_corner_goal, deep_corner_goal.DeepCornerGoalConfig),
        _record("point_lava", point_lava, point_lava.PointLavaConfig),
        _record("point_color", point_color, point_color.PointColorConfig),
    )
}


def experiment(name: str) -> Experiment:
    """The registered experiment ``name``; KeyError naming the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown experiment {name!r}; expected one of {sorted(REGISTRY)}") from None
