import os

# Tests run on the CPU, deterministic, and never grab all cores for XLA's thread pool.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rewunc  # noqa: E402,F401  (registers the environments)
from rewunc.mdp import TabularMDP  # noqa: E402


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
