"""The metrics' common input check (private)."""

import numpy as np
import torch
from scipy.sparse import issparse

from .._constraints import is_real_array
from .._torch_utils import to_numpy


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
    values = host_values(values)
    if not is_real_array(values):
        raise ValueError(f"{name} must hold numbers ({what}), got {values!r}.")
    return np.asarray(values, dtype=np.float64)


def host_values(values):
    """A torch tensor (on any device, tracking gradients or not: a model's
    parameters) as a NumPy copy, a sparse matrix (a ``coef_`` that ``sparsify()``
    made sparse; NumPy reads it as a 0-d object) as a dense array with all its
    entries, stored or not; anything else as it is."""
    if isinstance(values, torch.Tensor):
        return to_numpy(values)
    return values.toarray() if issparse(values) else values
