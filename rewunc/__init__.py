"""rewunc: reward uncertainty in reinforcement learning.

Importing rewunc registers the built-in environments (``rewunc/<Name>-v0``) with gymnasium;
``gym.make("rewunc:rewunc/LavaLand-v0")`` imports it for you.
"""

from rewunc.mdp import MDPValidationError, TabularMDP
from rewunc.registry import register_builtin

register_builtin()

__version__ = "0.1.0"
__all__ = ["MDPValidationError", "TabularMDP", "__version__"]
