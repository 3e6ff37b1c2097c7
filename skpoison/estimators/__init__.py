"""scikit-learn classifiers that learn their regularization on a trusted set."""

from ._logistic import HypergradRegularizedLR
from ._mlp import HypergradMLP

__all__ = ["HypergradMLP", "HypergradRegularizedLR"]
