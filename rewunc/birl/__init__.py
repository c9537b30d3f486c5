"""Bayesian inverse reinforcement learning: reward posteriors from demonstrations and preferences.

``model`` holds the NumPyro model functions, ``infer`` the sampler and diagnostics,
``choice`` the MDP-free demonstration likelihoods (a sampled normaliser from reference rollouts
or a defensive mixture with replays; the perturbation contrast),
``parameterisation`` how the weights are parameterised (one-hot feature groups), ``sampler`` the
compile-once NUTS sampler, ``policywalk`` the classic PolicyWalk baseline.
"""

from rewunc.birl.choice import (
    ChoiceData,
    choice_data,
    choice_log_likelihood,
    mixture_rollout,
    mixture_rollouts,
    perturbed_replays,
    reference_rollout,
    reference_rollouts,
    replay,
)
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
from rewunc.birl.parameterisation import PARAMETERISATIONS
from rewunc.birl.sampler import CompiledSampler

__all__ = [
    "BIRL",
    "PARAMETERISATIONS",
    "ChoiceData",
    "CompiledSampler",
    "DemoData",
    "MCMCDiagnosticsWarning",
    "PreferenceData",
    "choice_data",
    "choice_log_likelihood",
    "mixture_rollout",
    "mixture_rollouts",
    "reference_rollout",
    "reference_rollouts",
    "default_chain_method",
    "demo_data",
    "demo_log_likelihood",
    "diagnostics",
    "infer",
    "perturbed_replays",
    "preference_data",
    "preference_log_likelihood",
    "replay",
    "reward_model",
    "warn_if_untrustworthy",
]
