"""The metrics' common input check (private)."""

import numpy as np


def as_numbers(values, name, what):
    """``values`` as a float64 array; anything but numbers is refused.

    NumPy would read the string ``"0.2"`` as 0.2, ``True`` as 1.0 and ``None``
    as NaN; ``what`` says what the numbers are, for the message.

    Examples
    --------
    >>> as_numbers([0.5, 1], "coef", "weights")
    array([0.5, 1. ])
    >>> as_numbers("0.2", "error_method", "error rates")
    Traceback (most recent call last):
    ...
    ValueError: error_method must hold numbers (error rates), got '0.2'.
    """
    if not holds_numbers(values):
        raise ValueError(f"{name} must hold numbers ({what}), got {values!r}.")
    return np.asarray(values, dtype=np.float64)


def holds_numbers(values):
    """Whether ``values`` holds numbers only: no strings, bools, ``None`` or ragged rows.

    NumPy reads ``[1.0, True]`` as floats: the items of a sequence are looked at too.

    Examples
    --------
    >>> holds_numbers([0.5, 1]), holds_numbers([1.0, True]), holds_numbers(["1"])
    (True, False, False)
    """
    try:
        kind = np.asarray(values).dtype.kind
    except ValueError:   # ragged
        return False
    if kind not in "iuf":
        return False
    if isinstance(values, (list, tuple)):
        return not any(isinstance(item, (bool, np.bool_))
                       for item in np.asarray(values, dtype=object).ravel())
    return True
