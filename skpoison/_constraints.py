"""scikit-learn parameter constraints that refuse booleans (private)."""

from __future__ import annotations

import numpy as np
from sklearn.utils._param_validation import Interval

__all__ = ["NumberInterval"]


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
