"""skpoison: hyperparameter learning and optimal data poisoning.

Estimators whose ``fit`` learns their regularization on a small trusted
validation set by hypergradient descent, and the optimal poisoning attack
against them (Carnerero-Cano et al., IEEE TNNLS 2023).
"""

from .estimators import (Hypergradient, HypergradMLP, HypergradRegularizedLR, TrustedSetWarning,
                         hypergradient)
from .poisoning import LabelFlipPoisoner, OptimalPoisoner, PoisoningResult

__version__ = "0.1.0"

__all__ = [
    "Hypergradient",
    "HypergradMLP",
    "HypergradRegularizedLR",
    "LabelFlipPoisoner",
    "OptimalPoisoner",
    "PoisoningResult",
    "TrustedSetWarning",
    "__version__",
    "hypergradient",
]
