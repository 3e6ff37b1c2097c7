"""How a parameter's value appears in a warning or an error message (private)."""

from __future__ import annotations

from numbers import Real

import numpy as np

__all__ = ["shown"]


def shown(value):
    """``value`` for a message: arrays summarized (two items at each end), numbers ``:g``.

    A per-feature ``feature_range`` or ``lambda_init`` of 784 values would
    otherwise fill the message. Sequences (a box, ``(low, high)``) show their
    array-like items summarized too.

    Examples
    --------
    >>> shown(np.array(-np.inf)), shown(np.zeros(100))  # doctest: +ELLIPSIS
    ('-inf', 'array([0., 0., ..., 0., 0.]...')
    >>> shown((0.0, [1.0] * 100))  # doctest: +ELLIPSIS
    '(0.0, array([1., 1., ..., 1., 1.]...)'
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    with np.printoptions(threshold=8, edgeitems=2):
        if isinstance(value, (tuple, list)):
            return repr(tuple(_summarizable(item) for item in value))
        if isinstance(value, (Real, np.number)) and not isinstance(value, (bool, np.bool_)):
            try:
                return f"{float(value):g}"
            except OverflowError:   # (an int past float's range, 10**400: as given)
                pass
        return repr(value)


def _summarizable(item):
    """An array-like item as an array (which prints summarized); anything else as it is."""
    if not (isinstance(item, (list, tuple)) or np.ndim(item) > 0):
        return item
    try:
        return np.asarray(item)
    except (TypeError, ValueError):   # (ragged: shown as given)
        return item
