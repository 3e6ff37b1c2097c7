"""Relative decrease of an error with respect to a reference (private)."""

import numbers
import warnings

import numpy as np

from ._numbers import as_numbers

__all__ = ["relative_error_decrease"]


def relative_error_decrease(error_reference, error_method, *, zero_division="warn"):
    """Relative decrease of an error: ``(reference - method) / reference``.

    Used to compare, e.g., the test error of a model whose regularization
    was learned on a trusted set (method) with a baseline (reference):
    positive values mean the method lowers the error (0.25 = 25 % lower),
    negative values that it raises it. Works elementwise on arrays (e.g.
    one value per poisoning ratio).

    Parameters
    ----------
    error_reference : float or array-like
        Reference error(s), non-negative and finite.
    error_method : float or array-like
        Error(s) of the method, non-negative and finite, broadcastable
        against ``error_reference``.
    zero_division : {"warn", "raise"} or float, default="warn"
        What to return where the reference error is 0 (the ratio is then
        undefined): ``"warn"`` returns NaN there and emits a
        ``RuntimeWarning``; ``"raise"`` raises ``ValueError``; a float
        (e.g. ``np.nan`` for silence, or ``0.0``) is returned there as is.

    Returns
    -------
    decrease : float or ndarray
        A float for scalar inputs, an array otherwise.

    Examples
    --------
    >>> from skpoison.metrics import relative_error_decrease
    >>> relative_error_decrease(0.2, 0.1)
    0.5
    >>> relative_error_decrease([0.1, 0.4], [0.2, 0.1])
    array([-1.  ,  0.75])
    """
    if not (zero_division in ("warn", "raise") or
            (isinstance(zero_division, numbers.Real) and not isinstance(zero_division, bool))):
        raise ValueError(
            f'zero_division must be "warn", "raise" or a float, got {zero_division!r}.')
    ref = _error_rates(error_reference, "error_reference")
    met = _error_rates(error_method, "error_method")
    try:
        ref, met = np.broadcast_arrays(ref, met)
    except ValueError:
        raise ValueError(f"error_reference (shape {ref.shape}) and error_method (shape "
                         f"{met.shape}) must broadcast together.") from None
    zero = ref == 0
    if zero.any():
        if zero_division == "raise":
            raise ValueError("error_reference is 0, so the relative decrease is undefined.")
        fill = np.nan if zero_division == "warn" else float(zero_division)
        if zero_division == "warn":
            warnings.warn("error_reference is 0 for some entries; their relative "
                          "decrease is undefined and set to NaN.", RuntimeWarning,
                          stacklevel=2)
    else:
        fill = np.nan
    out = np.full(ref.shape, fill, dtype=np.float64)
    np.divide(ref - met, ref, out=out, where=~zero)
    return float(out) if out.ndim == 0 else out


def _error_rates(values, name):
    """``values`` as a float array of finite, non-negative error rates (numbers only)."""
    rates = as_numbers(values, name, "error rates")
    if not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise ValueError(f"{name} must be finite and non-negative, got {values!r}.")
    return rates
