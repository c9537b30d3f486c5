"""Agents that act on a reward posterior: exact tabular planners (``rewunc.agents.tabular``) and
risk-averse selection among candidate policies on any env (``rewunc.agents.selection``).
Deep RL agents (``rewunc.agents.deep``, the ``deep`` extra) are imported from their module only."""

from rewunc.agents.selection import Selection, Selector, risk_of
from rewunc.agents.tabular import (
    AGENTS,
    BROIL,
    MAP,
    AgentError,
    BayesMean,
    CVaR,
    LayoutPlans,
    Maximin,
    Oracle,
    PessimisticReward,
    PlannedPolicy,
    agent_name,
    make_agent,
    plan_layouts,
    risk_lp,
)

__all__ = [
    "AGENTS",
    "BROIL",
    "MAP",
    "AgentError",
    "LayoutPlans",
    "BayesMean",
    "CVaR",
    "Maximin",
    "Oracle",
    "PessimisticReward",
    "PlannedPolicy",
    "Selection",
    "Selector",
    "agent_name",
    "make_agent",
    "plan_layouts",
    "risk_lp",
    "risk_of",
]
