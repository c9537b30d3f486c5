import os

# Tests run on the CPU, deterministic, and never grab all cores for XLA's thread pool.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gymnasium import spaces  # noqa: E402

import rewunc  # noqa: E402,F401  (registers the environments)
from rewunc.mdp import TabularMDP  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _sb3_log_folder(tmp_path_factory):
    """Tests that call SB3's ``learn()`` on their own models (not through rewunc's
    ``train_agent``, which sets a file-less logger) would each leave an empty ``SB3-<date>``
    folder in the temp dir; SB3 puts them in ``SB3_LOGDIR`` when that is set."""
    os.environ.setdefault("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3")))


def random_mdp(
    seed: int,
    S: int = 5,
    A: int = 2,
    B: int = 2,
    K: int = 3,
    gamma: float = 0.9,
    n_terminal: int = 1,
) -> TabularMDP:
    """A small random MDP with a few terminal states (for brute-force comparisons)."""
    rng = np.random.default_rng(seed)
    terminal = np.zeros(S, bool)
    terminal[S - n_terminal :] = True
    initial = np.zeros(S)
    initial[: S - n_terminal] = rng.dirichlet(np.ones(S - n_terminal))
    return TabularMDP(
        next_states=rng.integers(0, S, (S, A, B)),
        probs=rng.dirichlet(np.ones(B), (S, A)),
        features=rng.normal(size=(S, K)),
        feature_names=tuple(f"f{i}" for i in range(K)),
        initial=initial,
        terminal=terminal,
        gamma=gamma,
    )


@pytest.fixture
def small_mdp():
    return random_mdp(0)


class Drift(gym.Env):
    """A tiny non-tabular env: a point on a line, Box observation and Box action."""

    feature_names = ("goal", "step")
    true_weights = np.array([1.0, -0.1])
    SHIFTS = ("far",)
    observation_space = spaces.Box(-10, 10, (2,), np.float32)
    action_space = spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, shift=None):
        self.shift = shift

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = 0.0, 0
        self.goal = float(self.np_random.uniform(1, 2)) * (3 if self.shift else 1)
        return self._obs(), {"features": np.zeros(2)}

    def _obs(self):
        return np.array([self.x, self.goal], np.float32)

    def step(self, action):
        self.x += float(np.clip(action, -1, 1)[0])
        self.t += 1
        reached = abs(self.x - self.goal) < 0.5
        phi = np.array([float(reached), 1.0])
        info = {"features": phi}
        truncated = not reached and self.t >= 8
        if reached or truncated:
            info["outcome"] = "goal" if reached else "timeout"
        return self._obs(), float(phi @ self.true_weights), reached, truncated, info
