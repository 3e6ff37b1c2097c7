"""The per-ratio result of a poisoning attack."""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np


class PoisoningResult(NamedTuple):
    """The poisoned training set at one poisoning ratio (numpy, on the CPU).

    Attributes
    ----------
    ratio : float
        The requested poisoning ratio.
    n_poison : int
        ``round(ratio * n_train)`` poisoning points, ``n_train`` the size of
        the clean training set.
    X : ndarray of shape (n_rows, n_features)
        The poisoned training set: the clean set with the poisoning points in
        place of the replaced rows (``mode="replace"``, ``n_rows = n_train``)
        or appended after it (``mode="inject"``, ``n_rows = n_train + n_poison``).
    y : ndarray of shape (n_rows,)
        Labels, with the caller's label values (poisoning points carry their
        flipped labels).
    poison_mask : ndarray of bool, shape (n_rows,)
        True on the rows of ``X`` that are poisoning points.
    log_lambda : ndarray of shape (n_lambdas,) or None
        λ at the end of the last batch for this ratio: learned
        (``hyperparams="learn"``) or the fixed one. None for attacks without a
        model (label flipping).
    val_loss : float
        The attacker's objective, the trusted validation loss of the model
        trained on ``X`` with ``log_lambda``, at the end (NaN without a model).
    val_loss_path : ndarray of shape (n_evaluations,)
        Validation loss at every evaluation of the attack up to this ratio (a
        prefix of the whole attack's path; see the poisoner's documentation).
    lambda_path : ndarray of shape (n_evaluations, n_lambdas)
        λ at each of those evaluations.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skpoison import LabelFlipPoisoner
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> flip = LabelFlipPoisoner(ratios=(0.05, 0.1), mode="inject", random_state=0)
    >>> _ = flip.fit_resample(X[:200], y[:200], X_val=X[200:250], y_val=y[200:250])
    >>> [(result.ratio, result.n_poison, result.X.shape) for result in flip.results_]
    [(0.05, 10, (210, 64)), (0.1, 20, (220, 64))]
    >>> flip.results_[-1].log_lambda is None          # (no model behind label flipping)
    True
    """

    ratio: float
    n_poison: int
    X: np.ndarray
    y: np.ndarray
    poison_mask: np.ndarray
    log_lambda: Optional[np.ndarray]
    val_loss: float
    val_loss_path: np.ndarray
    lambda_path: np.ndarray
