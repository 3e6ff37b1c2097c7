"""Numbers where numbers are due: no bools, no strings (private).

NumPy reads ``True`` as 1, ``"0.2"`` as 0.2 (and ``[1.0, True]`` as floats);
scikit-learn's ``Interval`` takes ``True`` for 1. A flag or a typo where a
count, a rate, a λ or a ratio is due is refused instead.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

__all__ = ["NumberInterval", "check_count", "is_real_array", "real_items"]


class NumberInterval(Interval):
    """scikit-learn's ``Interval`` constraint, refusing ``True`` and ``False``.

    scikit-learn's own takes ``True`` for the number 1 (``inner_steps=True``
    trained one step, ``outer_lr=True`` stepped by 1.0); a flag where a count
    or a rate is due is a mistake, and the other parameters here
    (``lambda_init``, ``ratios``, ``feature_range``) already refuse it.

    Examples
    --------
    >>> from numbers import Integral
    >>> steps = NumberInterval(Integral, 1, None, closed="left")
    >>> steps.is_satisfied_by(3), steps.is_satisfied_by(True)
    (True, False)
    >>> str(steps)
    'an int in the range [1, inf)'
    """

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


def check_count(value, name, minimum):
    """``value`` as an int ``>= minimum``, or a ValueError that names ``name``.

    Any integral type (Python's, NumPy's), never a bool or a float.

    Examples
    --------
    >>> check_count(3, "steps", 1)
    3
    >>> check_count(True, "steps", 1)
    Traceback (most recent call last):
    ...
    ValueError: steps must be an integer >= 1, got True.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral) \
            or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def is_real_array(values):
    """Whether ``values`` is a real number or a (rectangular) array of them, no bools.

    Element by element: NumPy turns ``[True, -4]`` into integers and
    ``("-12", "0")`` into strings it would then read as floats. (A NumPy array
    of a numeric dtype is answered from its dtype.) An int past float's range
    (``10**400``), which every caller would go on to read as a float, is none.

    Examples
    --------
    >>> is_real_array([-12, 0.0]), is_real_array((-12, True)), is_real_array(["-1"])
    (True, False, False)
    >>> is_real_array(10**400)
    False
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return True
    try:
        np.asarray(values, dtype=float)
    except (TypeError, ValueError, OverflowError):   # ragged, not numbers, or no float
        return False
    return all(isinstance(v, Real) and not isinstance(v, (bool, np.bool_))
               for v in real_items(values))


def real_items(values):
    """The elements of ``values`` as Python or NumPy scalars (one, for a scalar).

    0-d arrays and tensors among them (``[np.array(-4.0)]``, ``list(tensor)``)
    are unwrapped to their scalar.

    Examples
    --------
    >>> real_items([np.array(-4.0), 1])
    [-4.0, 1]
    """
    try:
        items = np.asarray(values, dtype=object).ravel().tolist()
    except (TypeError, ValueError):
        items = [values]
    return [v.item() if np.ndim(v) == 0 and hasattr(v, "item") else v for v in items]


def is_missing_label(label):
    """Whether a class label is missing: None, NaN, or pandas' ``NA`` (whose
    comparisons are ``NA``: ``bool()`` of them raises).

    Examples
    --------
    >>> [is_missing_label(v) for v in (None, float("nan"), "a", 0)]
    [True, True, False, False]
    """
    if label is None:
        return True
    try:
        return bool(label != label)
    except TypeError:
        return True
