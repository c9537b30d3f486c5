"""Deep RL agents over a reward posterior, on stable-baselines3 (the ``deep`` extra).

``rewunc.agents.deep`` is the only part of rewunc that imports torch:

- :class:`PosteriorReward` (``reward``): a VecEnv wrapper giving any SB3 learner the reward of a
  scalarisation of the posterior (mean, one draw, mean − κ·sd, per-step quantile), recording
  every episode's discounted feature counts so each draw's return X_m = w_m·μ̂ is known;
- :class:`RiskAversePPO` (``risk_ppo``): PPO over the posterior for BayesMean (λ = 1), CVaR_α
  (λ = 0), BROIL(λ, α) and Maximin (α = 1), with a K-dimensional successor-feature critic that
  gives exact per-draw advantages, and PG-BROIL's weights recomputed from each batch;
- :class:`GridCNN` (``extractors``): a features extractor for one-hot (C, H, W) grids
  (``egocentric=True`` re-centres the grid on the agent);
- :func:`save_agent` / :func:`load_agent` (``saving``): safetensors + JSON, no pickle;
- :func:`train_agent` (``train``): a deep agent by spec (``"CVaR(alpha=0.9)"``, ``"MeanStd"``,
  ``"TrueReward"``, ...) with one seed and :class:`DeepSettings`; :func:`action_probabilities`
  of a learnt policy in every MDP state (for exact evaluation);
- :func:`file_logger`, :class:`ValidationCallback` (``training_log``): SB3's ``progress.csv``
  with a validation goal rate, the learning curve of every agent a study trains.
"""

from rewunc.agents.deep.extractors import GridCNN
from rewunc.agents.deep.reward import SCALARISATIONS, DeepAgentError, PosteriorReward
from rewunc.agents.deep.risk_ppo import (
    FeatureRolloutBuffer,
    RiskAversePPO,
    SuccessorFeaturePolicy,
    broil_weights,
    critic_basis,
)
from rewunc.agents.deep.saving import load_agent, save_agent
from rewunc.agents.deep.train import (
    DeepSettings,
    action_probabilities,
    deep_agent,
    train_agent,
)
from rewunc.agents.deep.training_log import ValidationCallback, file_logger

__all__ = [
    "SCALARISATIONS",
    "DeepAgentError",
    "DeepSettings",
    "FeatureRolloutBuffer",
    "GridCNN",
    "PosteriorReward",
    "RiskAversePPO",
    "SuccessorFeaturePolicy",
    "action_probabilities",
    "broil_weights",
    "critic_basis",
    "deep_agent",
    "load_agent",
    "save_agent",
    "ValidationCallback",
    "file_logger",
    "train_agent",
]
