"""rewunc: reward uncertainty in reinforcement learning.

Importing rewunc registers the built-in environments (``rewunc/<Name>-v0``) with gymnasium.
"""

import envs as _envs  # noqa: F401  (registers the rewunc/ environments)
from rewunc.mdp import MDPValidationError, TabularMDP

__version__ = "0.1.0"
__all__ = ["MDPValidationError", "TabularMDP", "__version__"]
