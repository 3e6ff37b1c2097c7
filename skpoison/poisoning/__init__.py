"""Poisoning attacks as imbalanced-learn-style samplers.

:class:`OptimalPoisoner` is the hyperparameter-aware optimal attack of
Carnerero-Cano et al. (2023, Alg. 2); :class:`LabelFlipPoisoner` is its
starting point alone (validation clones with flipped labels), the baseline.
Both return one :class:`PoisoningResult` per poisoning ratio in ``results_``.
:func:`fit_batched` runs one optimal attack on ``K`` data sets of the same
shapes (repetitions) as a single batched computation.
"""

from ._batched import fit_batched
from ._label_flip import LabelFlipPoisoner
from ._optimal import OptimalPoisoner
from ._result import PoisoningResult

__all__ = ["LabelFlipPoisoner", "OptimalPoisoner", "PoisoningResult", "fit_batched"]
