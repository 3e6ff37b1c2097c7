"""skpoison: hyperparameter learning and optimal data poisoning.

Estimators whose ``fit`` learns their regularization on a small trusted
validation set by hypergradient descent, and the optimal poisoning attack
against them (Carnerero-Cano et al., IEEE TNNLS 2023).

The names below (and the subpackages) are imported on first use, so that
``import skpoison`` and the command line's ``--help`` do not load torch.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

__version__ = "0.1.0"

if TYPE_CHECKING:   # what the names are, for type checkers and IDEs
    from .estimators import (Hypergradient, HypergradMLP, HypergradRegularizedLR,
                             TrustedSetWarning, hypergradient)
    from .hypergrad import HypergradientOverflowError, InnerDivergenceError
    from .poisoning import LabelFlipPoisoner, OptimalPoisoner, PoisoningResult

#: Public name -> the subpackage that defines it.
_EXPORTS = {
    "Hypergradient": "estimators",
    "HypergradMLP": "estimators",
    "HypergradRegularizedLR": "estimators",
    "TrustedSetWarning": "estimators",
    "hypergradient": "estimators",
    # What a fit raises when its inner training diverged (or the hypergradient
    # overflowed): named here, where a user catching it looks first.
    "HypergradientOverflowError": "hypergrad",
    "InnerDivergenceError": "hypergrad",
    "LabelFlipPoisoner": "poisoning",
    "OptimalPoisoner": "poisoning",
    "PoisoningResult": "poisoning",
}
_SUBPACKAGES = ("datasets", "estimators", "experiments", "hypergrad", "metrics", "models",
                "poisoning")

__all__ = ["Hypergradient", "HypergradMLP", "HypergradRegularizedLR",
           "HypergradientOverflowError", "InnerDivergenceError", "LabelFlipPoisoner",
           "OptimalPoisoner", "PoisoningResult", "TrustedSetWarning", "__version__",
           "hypergradient"]

__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, _SUBPACKAGES)
