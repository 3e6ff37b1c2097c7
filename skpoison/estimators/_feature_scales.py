"""Whether the training features' scales differ too widely for plain gradient descent."""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._warn import warn_user

__all__ = ["check_feature_scales"]

#: The largest column root mean square may be this many times the median
#: column's before :func:`check_feature_scales` warns. Scaled data sets sit
#: near 1 to 2 (MNIST, Fashion-MNIST and digits in [0, 1]: 1.7 to 1.9;
#: CIFAR-10 in [-1, 1]: 1.3; standardized or min-max scaled anything: 1 to
#: 1.7; raw digits, whose pixels share one range: 1.7), raw mixed-unit data
#: far above (wine 313, breast cancer 4400).
_SCALE_SPREAD_LIMIT = 100.0


def check_feature_scales(X, *, inner_steps):
    """Warn when some features are on a far larger scale than the typical one.

    Gradient descent's stable step is set by the largest curvature, which
    the largest features set (``inner_lr="auto"`` computes it; a fixed
    ``inner_lr`` must respect it too), while a feature of root mean square
    ``s`` moves at a rate of order ``s**2`` times that step. With the
    typical feature more than ``_SCALE_SPREAD_LIMIT`` (100) times smaller
    than the largest, ``inner_steps`` steps barely move its weight: the model
    comes back nearly untrained (raw wine: test accuracy 0.53 against 1.00
    standardized), with nothing else to say so. Issues a
    :class:`~sklearn.exceptions.ConvergenceWarning` then. Columns that are
    all zero do not count.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite training features.
    inner_steps : int
        For the message.

    Examples
    --------
    >>> import warnings
    >>> X = np.random.RandomState(0).rand(50, 4)
    >>> check_feature_scales(X, inner_steps=100)                      # silent
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_feature_scales(X * [1, 1, 1, 1e4], inner_steps=100)
    >>> caught[0].category.__name__
    'ConvergenceWarning'
    """
    if X.size == 0:
        return
    rms = _column_rms(X)
    if not np.isfinite(rms).all():      # (squares beyond the dtype: read X / max|X| instead)
        unit = float(np.max(np.abs(X)))
        rms = _column_rms(X / unit) * unit
    varying = rms > 0
    if not varying.any():
        return
    typical = float(np.median(rms[varying]))
    largest = int(np.argmax(rms))
    spread = rms[largest] / typical
    if spread <= _SCALE_SPREAD_LIMIT:
        return
    warn_user(
        f"The features' scales differ widely: column {largest}'s root mean square, "
        f"{rms[largest]:.3g}, is {spread:.3g} times the median column's ({typical:.3g}). "
        "Gradient descent's step is set by the largest features, so in "
        f"inner_steps={inner_steps} steps the weights of the others barely move and the "
        "model may come back nearly untrained. Standardize the features first (e.g. a "
        "StandardScaler in a Pipeline).", ConvergenceWarning)


def _column_rms(X):
    """Every column's root mean square (inf where the squares overflow ``X``'s dtype).

    Summed in ``X``'s own dtype: a heuristic needs no more, and widening
    float32 features on the fly took four times as long.
    """
    with np.errstate(over="ignore"):
        squares = np.einsum("ij,ij->j", X, X).astype(np.float64)
    return np.sqrt(squares / X.shape[0])
