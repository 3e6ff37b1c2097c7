"""The box the poisoning points stay in: ``feature_range`` read, and the data checked in it."""

from __future__ import annotations

import numpy as np

from .._box import box_slack
from .._constraints import is_real_array
from .._messages import shown

__all__ = ["feature_box"]


def feature_box(feature_range, X, X_val):
    """``(low, high)``, one bound per feature, from ``feature_range``; the data checked in it.

    A ValueError where ``feature_range`` is no box (not a pair, not numbers,
    bounds of the wrong shape, low > high or NaN), or where ``X`` or
    ``X_val`` lies outside it by more than a few rounding errors
    (:func:`~skpoison._box.box_slack`: MinMaxScaler's 1 + 1 ulp passes).

    Examples
    --------
    >>> X = np.array([[0.0, 0.5], [1.0, 0.25]])
    >>> low, high = feature_box((0.0, 1.0), X, X)
    >>> low.tolist(), high.tolist()
    ([0.0, 0.0], [1.0, 1.0])
    """
    low, high = _bounds(feature_range, X.shape[1])
    for name, data in (("X", X), ("X_val", X_val)):
        lowest = low - box_slack(low, data.dtype)
        highest = high + box_slack(high, data.dtype)
        # Column extremes first: two reads of the data and no boolean copies,
        # for the usual case that nothing lies outside.
        below, above = data.min(axis=0) < lowest, data.max(axis=0) > highest
        if not (below.any() or above.any()):
            continue
        outside = int(np.sum((data < lowest) | (data > highest)))
        excess = max(np.max(low - data.min(axis=0)), np.max(data.max(axis=0) - high))
        raise ValueError(
            f"{outside} values of {name} lie outside feature_range="
            f"{shown(feature_range)}, by up to {excess:.3g}: the box must contain "
            "the data (scale X and X_val into it before the poisoner, e.g. with a "
            "MinMaxScaler(clip=True) fitted to X, outside an imbalanced-learn Pipeline, "
            "which hands a sampler the raw X_val; or widen feature_range)."
        )
    return low, high


def _bounds(feature_range, n_features):
    if len(feature_range) != 2:
        raise ValueError(f"feature_range={shown(feature_range)} must be a pair (low, high).")
    if not all(is_real_array(bound) for bound in feature_range):
        raise ValueError(f"feature_range={shown(feature_range)} must hold numbers (floats "
                         "or arrays of them; no strings or bools).")
    bounds = [np.asarray(b, dtype=float) for b in feature_range]
    if any(b.ndim > 1 or (b.ndim == 1 and b.shape[0] != n_features) for b in bounds):
        raise ValueError(f"feature_range bounds must be scalars or arrays of shape "
                         f"({n_features},) (one per feature); got shapes "
                         f"{[b.shape for b in bounds]}.")
    low, high = (np.broadcast_to(b, (n_features,)) for b in bounds)
    # low == high pins a feature (a box from the data's range, say, where some
    # pixels are always 0); low > high or NaN has no feasible point.
    bad = np.flatnonzero(np.isnan(low) | np.isnan(high) | (low > high))
    if bad.size:
        listed = ", ".join(f"{i}: ({low[i]}, {high[i]})" for i in bad[:5])
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise ValueError(f"feature_range must have low <= high (and no NaN) for every "
                         f"feature; not for feature {listed}{more}.")
    return low, high
