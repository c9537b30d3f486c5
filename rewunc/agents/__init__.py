"""Agents that act on a reward posterior: exact tabular planners (``rewunc.agents.tabular``)."""

from rewunc.agents.tabular import (
    AGENTS,
    BROIL,
    MAP,
    AgentError,
    BayesMean,
    CVaR,
    Maximin,
    Oracle,
    PessimisticReward,
    PlannedPolicy,
    agent_name,
    make_agent,
    risk_lp,
)

__all__ = [
    "AGENTS",
    "BROIL",
    "MAP",
    "AgentError",
    "BayesMean",
    "CVaR",
    "Maximin",
    "Oracle",
    "PessimisticReward",
    "PlannedPolicy",
    "agent_name",
    "make_agent",
    "risk_lp",
]
