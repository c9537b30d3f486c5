"""Features extractors for rewunc's observations."""

from __future__ import annotations

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class GridCNN(BaseFeaturesExtractor):
    """A small CNN for one-hot (C, H, W) gridworld observations: two 3×3 convolutions (padding 1,
    so every cell keeps its place) and a linear layer. Inputs are cast to float, not scaled.

    ``egocentric=True`` (needs channel ``agent_channel`` to mark the agent's cell with a 1) first
    re-centres the grid on the agent: the other channels are placed on a (2H−1, 2W−1) canvas with
    the agent in the middle, plus one channel that marks the cells inside the grid. What the
    policy must learn ("where is the target relative to me") then no longer depends on where the
    agent stands, which makes procedural layouts far easier to learn.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        features_dim: int = 128,
        channels: int = 32,
        egocentric: bool = False,
        agent_channel: int = 0,
    ):
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 3:
            raise ValueError(
                f"observation_space: expected a (C, H, W) Box, got {observation_space}"
            )
        super().__init__(observation_space, features_dim)
        C, H, W = observation_space.shape
        self.egocentric = bool(egocentric)
        self.agent_channel = int(agent_channel)
        if self.egocentric:
            if not 0 <= self.agent_channel < C:
                raise ValueError(f"agent_channel: expected an int in [0, {C}), got {agent_channel}")
            # tile channels other than the agent's (a plain list: not part of the state_dict)
            self._keep = [i for i in range(C) if i != self.agent_channel]
            C, H, W = C, 2 * H - 1, 2 * W - 1  # C − 1 tile channels + 1 "inside the grid" channel
        self.cnn = nn.Sequential(
            nn.Conv2d(C, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.linear = nn.Sequential(nn.Linear(channels * H * W, features_dim), nn.ReLU())

    def _recentre(self, x: th.Tensor) -> th.Tensor:
        B, C, H, W = x.shape
        agent = x[:, self.agent_channel].reshape(B, H * W).argmax(dim=1)
        r, c = agent // W, agent % W
        inside = th.ones_like(x[:, :1])
        x = th.cat([x[:, self._keep], inside], dim=1)
        x = nn.functional.pad(x, (W - 1, W - 1, H - 1, H - 1))  # [B, C, 3H-2, 3W-2]
        rows = r[:, None] + th.arange(2 * H - 1, device=x.device)  # agent lands at H-1
        cols = c[:, None] + th.arange(2 * W - 1, device=x.device)
        b = th.arange(B, device=x.device)[:, None, None]
        crop = x.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]  # [B, 2H-1, 2W-1, C]
        return crop.permute(0, 3, 1, 2)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        x = observations.float()
        if self.egocentric:
            x = self._recentre(x)
        return self.linear(self.cnn(x))
