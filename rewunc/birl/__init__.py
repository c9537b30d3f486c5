"""Bayesian inverse reinforcement learning: reward posteriors from demonstrations and preferences.

``model`` holds the NumPyro model functions, ``infer`` the sampler and diagnostics,
``policywalk`` the classic PolicyWalk baseline.
"""

from rewunc.birl.infer import (
    BIRL,
    MCMCDiagnosticsWarning,
    default_chain_method,
    demo_data,
    diagnostics,
    infer,
    preference_data,
    warn_if_untrustworthy,
)
from rewunc.birl.model import (
    DemoData,
    PreferenceData,
    demo_log_likelihood,
    preference_log_likelihood,
    reward_model,
)

__all__ = [
    "BIRL",
    "DemoData",
    "MCMCDiagnosticsWarning",
    "PreferenceData",
    "default_chain_method",
    "demo_data",
    "demo_log_likelihood",
    "diagnostics",
    "infer",
    "preference_data",
    "preference_log_likelihood",
    "reward_model",
    "warn_if_untrustworthy",
]
