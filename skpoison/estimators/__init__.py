"""scikit-learn classifiers that learn their regularization on a trusted set."""

from ._hypergradient import Hypergradient, hypergradient
from ._logistic import HypergradRegularizedLR
from ._mlp import HypergradMLP

__all__ = ["Hypergradient", "HypergradMLP", "HypergradRegularizedLR", "hypergradient"]
