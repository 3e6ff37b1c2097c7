"""Inner problems (linear models, multilayer perceptrons) and their penalties."""

from ._linear import LinearProblem
from ._mlp import MLPProblem
from ._penalty import PENALTIES, GroupPenalty

__all__ = ["GroupPenalty", "LinearProblem", "MLPProblem", "PENALTIES"]
