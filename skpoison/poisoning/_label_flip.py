"""LabelFlipPoisoner: validation clones with flipped labels, no optimization."""

from __future__ import annotations

import numpy as np

from ._base import BasePoisoner


class LabelFlipPoisoner(BasePoisoner):
    """Label-flipping baseline: the optimal attack's starting point, not optimized.

    Poisoning points are clones of trusted validation points (uniformly,
    without duplicates) with flipped labels, which replace randomly chosen
    training points (or are appended), in cumulative batches up to each
    ratio. With the same ``random_state``, ``ratios``, ``batch_size``,
    ``mode``, ``label_strategy`` and ``reuse_validation`` it produces exactly
    the initial poisoning points of :class:`OptimalPoisoner`, so the two
    measure what the optimization adds.

    Every parameter means what it means in :class:`OptimalPoisoner`.

    Parameters
    ----------
    ratios : array-like of float, default=(0.04, 0.08, 0.12, 0.16, 0.2)
    batch_size : int, default=20
    mode : {"replace", "inject"}, default="replace"
    label_strategy : {"random", "next"}, default="random"
    reuse_validation : bool, default=False
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    results_ : list of PoisoningResult
        One per ratio; ``log_lambda`` is None, ``val_loss`` NaN and the paths
        are empty (there is no model).
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skpoison import LabelFlipPoisoner
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> flip = LabelFlipPoisoner(ratios=(0.1,), random_state=0)
    >>> X_p, y_p = flip.fit_resample(X[:200], y[:200], X_val=X[200:250], y_val=y[200:250])
    >>> result = flip.results_[0]
    >>> result.n_poison, int(result.poison_mask.sum()), X_p.shape
    (20, 20, (200, 64))
    """

    def __init__(self, *, ratios=(0.04, 0.08, 0.12, 0.16, 0.2), batch_size=20,
                 mode="replace", label_strategy="random", reuse_validation=False,
                 random_state=None):
        self.ratios = ratios
        self.batch_size = batch_size
        self.mode = mode
        self.label_strategy = label_strategy
        self.reuse_validation = reuse_validation
        self.random_state = random_state

    def _fit_resample(self, X, y, y_enc, X_val, y_val_enc):
        ratios, schedule, _ = self._make_schedule(X.shape[0], y_val_enc)
        poison = X_val[schedule.val_index]
        return [
            self._make_result(i, ratio, schedule, X, y, poison, None, np.nan,
                              np.empty(0), np.empty((0, 0)))
            for i, ratio in enumerate(ratios)
        ]
