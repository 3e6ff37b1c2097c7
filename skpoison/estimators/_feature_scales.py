"""Whether the features' scales (and the intercept's 1) differ too widely for gradient descent."""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._warn import warn_user

__all__ = ["check_feature_scales", "feature_scale_problem"]

#: The largest column root mean square, or 1 (the intercept's column of ones),
#: may be this many times the median column's before
#: :func:`check_feature_scales` warns. A feature ``s`` times smaller than the
#: largest learns ``s**2`` times slower. Scaled data sets sit near 1 to 4
#: (MNIST, Fashion-MNIST in [0, 1]: 2.5, 2.2; CIFAR-10 in [-1, 1]: 2.0; digits
#: in [0, 1]: 1.8, raw: 1.5; standardized anything: 1; min-max scaled breast
#: cancer: 3.6); raw mixed-unit data lie far above (wine 313, breast cancer
#: 4400), and so do small features (digits in [0, 0.1]: 18, where the
#: test log-loss of the learned model is 0.35 against 0.07 in [0, 1]; in [0,
#: 0.01]: 176, 0.69, chance).
_SCALE_SPREAD_LIMIT = 10.0
#: Root mean squares this close (relatively) are one scale: their sums' rounding
#: (float32 sums of 60000 standardized rows: 6e-6) must not pick the column the
#: warning names, nor, for standardized columns' 1s, which of its sentences it says,
#: nor whether a spread of the limit itself (a median column of 0.1s) is past it.
_SAME_SCALE = 1e-4


def check_feature_scales(X, *, inner_steps):
    """Warn when the typical feature is on a far smaller scale than the largest.

    Gradient descent's stable step is set by the largest curvature, which
    the largest features, or the intercept's column of ones, set
    (``inner_lr="auto"`` computes it; a fixed ``inner_lr`` must respect it
    too), while a feature of root mean square ``s`` moves at a rate of order
    ``s**2`` times that step. With the typical (median) feature more than
    ``_SCALE_SPREAD_LIMIT`` (10) times smaller than the largest, or than 1,
    ``inner_steps`` steps barely move its weight: the model comes back
    nearly untrained (raw wine: test accuracy 0.53 against 1.00 standardized;
    digits in [0, 0.01]: every probability near 0.5), with nothing else to
    say so. Issues a :class:`~sklearn.exceptions.ConvergenceWarning` then.
    Columns that are all zero, and indicator columns (only 0s and 1s: one-hot
    or bag-of-words features, small where they are rare; standardizing them
    did not train binary bag-of-words data any better), do not count in the
    median.

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
    ...     check_feature_scales(X * 1e-3, inner_steps=100)
    >>> [w.category.__name__ for w in caught]
    ['ConvergenceWarning', 'ConvergenceWarning']
    """
    warn_scale_problem(feature_scale_problem(X), inner_steps)


def check_feature_scales_with(rms, indicator, nonzero, X, *, inner_steps):
    """:func:`check_feature_scales` with every column's root mean square, whether
    it is an indicator column and whether it holds a value other than 0 given,
    computed elsewhere (on a device, for ``K`` training sets at once); ``X``
    itself is read only where squares left the float range (an rms that is
    infinite, or below the normal range in a column that is not all zero)."""
    if not np.isfinite(rms).all() or ((rms < _normal_rms(rms.dtype)) & nonzero).any():
        check_feature_scales(X, inner_steps=inner_steps)
    else:
        warn_scale_problem(scale_problem(rms, indicator), inner_steps)


def warn_scale_problem(problem, inner_steps):
    """:func:`check_feature_scales`'s warning of ``problem`` (None: none)."""
    if problem is not None:
        warn_user(
            f"{problem} Gradient descent's step is set by the largest curvature, so in "
            f"inner_steps={inner_steps} steps the weights of the typical features barely "
            "move and the model may come back nearly untrained. Standardize the features "
            "first (e.g. a StandardScaler in a Pipeline), or raise inner_steps.",
            ConvergenceWarning)


def feature_scale_problem(X):
    """What :func:`check_feature_scales` warns of, as a sentence; None when nothing.

    Examples
    --------
    >>> X = np.random.RandomState(0).rand(50, 4)
    >>> feature_scale_problem(X) is None
    True
    >>> feature_scale_problem(X * 1e-3)[:26]
    'The features are small: th'
    """
    if X.size == 0:
        return None
    rms = _column_rms(X)
    redo = ~np.isfinite(rms) | (rms < _normal_rms(X.dtype))
    if redo.any():
        # Squares beyond the dtype's range, or below its normal range (features of
        # 1e-200, or 1e-25 in float32, whose squares round to 0 and would pass for
        # zero columns; 4e-23 in float32, whose subnormal squares kept a digit or
        # two: a root mean square 10 % off): those columns again, each divided by
        # its largest magnitude.
        columns = np.flatnonzero(redo)
        scale = np.max(np.abs(X[:, columns]), axis=0).astype(np.float64)
        nonzero = scale > 0
        if nonzero.any():
            columns, scale = columns[nonzero], scale[nonzero]
            rms[columns] = _column_rms(X[:, columns] / scale.astype(X.dtype)) * scale
    return scale_problem(rms, np.all((X == 0) | (X == 1), axis=0))


def scale_problem(rms, indicator):
    """:func:`feature_scale_problem` from every column's root mean square and
    whether it is an indicator column (only 0s and 1s)."""
    # Indicator columns (one-hot, bag of words) are small where they are rare,
    # not for their units: rescaled they trained no better (measured).
    counted = (rms > 0) & ~indicator
    if not counted.any():
        return None
    typical = float(np.median(rms[counted]))
    # (the first column about as large as the largest: the same on every device)
    largest = int(np.argmax(rms >= np.max(rms) * (1 - _SAME_SCALE)))
    big = rms[largest] >= 1.0 - _SAME_SCALE        # (as large as the intercept's 1s)
    # (and a spread at the limit, to rounding, is not past it: 0.1s' median column)
    limit = _SCALE_SPREAD_LIMIT * (1 + _SAME_SCALE)
    if big and rms[largest] / typical > limit:
        return (f"The features' scales differ widely: column {largest}'s root mean square, "
                f"{rms[largest]:.3g}, is {rms[largest] / typical:.3g} times the median "
                f"column's ({typical:.3g}).")
    if not big and 1.0 / typical > limit:
        return (f"The features are small: the median column's root mean square, "
                f"{typical:.3g}, is {1.0 / typical:.3g} times below that of the intercept's "
                f"column of ones (and the largest column's is {rms[largest]:.3g}).")
    return None


def _normal_rms(dtype):
    """The least root mean square whose squares' sum :func:`_column_rms` holds in
    ``dtype``'s normal range (below it, subnormal squares lose their digits)."""
    return np.sqrt(np.finfo(dtype).tiny)


def _column_rms(X):
    """Every column's root mean square (inf where the squares overflow ``X``'s dtype).

    Summed in ``X``'s own dtype: a heuristic needs no more, and widening
    float32 features on the fly took four times as long.
    """
    with np.errstate(over="ignore"):
        squares = np.einsum("ij,ij->j", X, X).astype(np.float64)
    return np.sqrt(squares / X.shape[0])
