"""scikit-learn classifiers that learn their regularization on a trusted set."""

from ._hypergradient import Hypergradient, hypergradient
from ._logistic import HypergradRegularizedLR
from ._mlp import HypergradMLP
from ._trusted_scale import TrustedSetWarning

__all__ = ["Hypergradient", "HypergradMLP", "HypergradRegularizedLR", "TrustedSetWarning",
           "hypergradient"]
