"""Styles shared by every figure: one colour and marker per agent (:func:`agent_styles`), the
outcome bars' colours, and the small table helpers the figures share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

# Agents: tab10's colours (its grey swapped for dark gold: grey marks BROIL(λ) plans and
# timeouts) crossed with 7 markers (7 and 10 are coprime, so the first 70 agents get distinct
# (colour, marker) pairs and the first 10 distinct colours). Black and the star are kept for the
# Oracle.
AGENT_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#a6761d",
    "#bcbd22",
    "#17becf",
)
AGENT_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
ORACLE_STYLE = {"color": "black", "marker": "*"}

# Outcome bars: (column, label, colour).
BARS = (
    ("goal_rate", "goal", "#2a9d4b"),
    ("capability_rate", "capability (goal ∪ proxy)", "#4a7fc1"),
    ("misgeneralization_rate", "misgeneralization (proxy)", "#e0a030"),
    ("hazard_rate", "hazard", "#d03a20"),
    ("timeout_rate", "timeout", "#9a9a9a"),
)
DEFAULT_INTERVAL = "95% intervals"


def agent_styles(agents: Sequence[str]) -> dict[str, dict]:
    """A distinct ``{"color", "marker"}`` per agent, deterministic in the order given.

    The Oracle (an agent named "Oracle", any case) is always a black star; the other agents take
    ten colours (tab10's, less grey) and seven markers in turn, so the first 10 have distinct
    colours and the first 70 distinct (colour, marker) pairs. Compute it once per run, from the
    full list of agents, and pass it to every figure so an agent looks the same everywhere.
    """
    styles, j = {}, 0
    for agent in dict.fromkeys(str(a) for a in agents):
        if agent.lower() == "oracle":
            styles[agent] = dict(ORACLE_STYLE)
            continue
        styles[agent] = {
            "color": AGENT_COLORS[j % len(AGENT_COLORS)],
            "marker": AGENT_MARKERS[j % len(AGENT_MARKERS)],
        }
        j += 1
    return styles


def _styles_for(agents, styles: Mapping[str, dict] | None) -> dict[str, dict]:
    """``styles`` extended (after its own agents) with styles for agents it lacks."""
    known = dict(styles or {})
    missing = [a for a in dict.fromkeys(agents) if a not in known]
    if missing:
        fresh = agent_styles([*known, *missing])
        known.update({a: fresh[a] for a in missing})
    return known


def interval_text(table: pd.DataFrame) -> str:
    """Which intervals a results table holds: its ``interval`` column (distinct values joined),
    or "95% intervals" for tables without one."""
    if "interval" in table:
        values = [str(v) for v in dict.fromkeys(table["interval"].dropna()) if str(v).strip()]
        if values:
            return "; ".join(values)
    return DEFAULT_INTERVAL


def _require(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; got {list(table.columns)}")
