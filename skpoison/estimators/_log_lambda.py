"""λ's values (log λ): numbers checked as such, one per hyperparameter, and where
the steps on λ start."""

from __future__ import annotations

import numpy as np
import torch

from .._constraints import is_real_array, real_items
from .._messages import shown
from .._warn import warn_user


def as_log_lambda(values, name):
    """``values`` (log λ: a number, or an array of numbers) as a float array.

    Strings and bools are refused, though NumPy would read ``"1"`` and
    ``True`` as 1.0: a typo must not become a regularization strength.

    Examples
    --------
    >>> as_log_lambda([-4, 0], "lambda_init")
    array([-4.,  0.])
    >>> as_log_lambda(True, "fixed_lambda")
    Traceback (most recent call last):
    ...
    ValueError: fixed_lambda=True must be a float or an array of floats (log λ), not a bool.
    """
    if not is_real_array(values):
        is_bool = any(isinstance(v, (bool, np.bool_)) for v in real_items(values))
        raise ValueError(f"{name}={values!r} must be a float or an array of floats "
                         f"(log λ){', not a bool' if is_bool else ''}.")
    # A copy: a read-only view (a pandas Series') made torch warn in as_tensor.
    return np.asarray(values, dtype=float).copy()


def check_log_lambda(values, name, *, dtype=None):
    """``values`` (log λ: a number, or a non-empty 1-D array of them) as a checked float array.

    NaN and +inf are refused; -inf (no regularization) passes; with
    ``dtype``, so do only values whose ``exp`` is finite in it (λ given
    outside ``lambda_bounds``: a fixed λ, a CV grid). The shape against the
    model's hyperparameters is :func:`lambda_vector`'s check, once the model
    is known.

    Examples
    --------
    >>> check_log_lambda([-4, -np.inf], "lambda_init")
    array([ -4., -inf])
    >>> check_log_lambda([], "log_lambda")
    Traceback (most recent call last):
    ...
    ValueError: log_lambda must be a number or a non-empty 1-D array; got shape (0,).
    """
    values = as_log_lambda(values, name)
    if values.ndim > 1 or values.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-D array; got shape "
                         f"{values.shape}.")
    if np.isnan(values).any() or np.isposinf(values).any():
        raise ValueError(f"{name} must not be NaN or +inf (-inf: no regularization).")
    if dtype is not None and (values >= max_log_lambda_for(dtype)).any():
        raise ValueError(f"{name} is log λ: values up to {max_log_lambda_for(dtype):.1f} are "
                         f"finite in {np.dtype(dtype).name}; got max {float(values.max())}.")
    return values


def max_log_lambda_for(dtype):
    """The largest log λ whose ``exp`` is finite in ``dtype`` (709.8 in float64).

    Examples
    --------
    >>> round(max_log_lambda_for("float32"), 1)
    88.7
    """
    return float(np.log(np.finfo(np.dtype(dtype)).max))


def lambda_vector(values, n_hyper, name, **tensor):
    """Checked ``values`` (:func:`check_log_lambda`) as a tensor of shape ``(n_hyper,)``.

    A number is repeated for every hyperparameter.

    Examples
    --------
    >>> lambda_vector(check_log_lambda(-4, "lambda_init"), 2, "lambda_init")
    tensor([-4., -4.], dtype=torch.float64)
    """
    values = np.full(n_hyper, float(values)) if values.ndim == 0 else values
    if values.shape != (n_hyper,):
        raise ValueError(f"{name} has shape {values.shape}; the model has {n_hyper} "
                         f"hyperparameter{'' if n_hyper == 1 else 's'}: give a number or one "
                         "value each.")
    return torch.as_tensor(values, **tensor)


def initial_lambda(lambda_init, n_hyper, low, high, **tensor):
    """λ_0 from a number or one value per hyperparameter, projected on [low, high].

    Warns when the projection moves it: ``lambda_init=-np.inf`` with
    ``outer_steps=0``, "no regularization", silently trained with λ = -12.
    """
    values = check_log_lambda(lambda_init, "lambda_init")
    vector = lambda_vector(values, n_hyper, "lambda_init", **tensor)
    warn_if_clipped(values, low, high)
    return vector.clamp(low, high)


def warn_if_clipped(lambda_init, low, high):
    """Warn that ``lambda_init`` (checked log λ) starts clipped to ``[low, high]``, if it does."""
    if np.any((np.asarray(lambda_init) < low) | (np.asarray(lambda_init) > high)):
        warn_user(f"lambda_init={shown(lambda_init)} lies outside lambda_bounds=({low:g}, "
                  f"{high:g}) and starts clipped to them; widen lambda_bounds (its low end "
                  "may be -np.inf) to start at it (with outer_steps=0: to train with it).")


def warn_if_lambda_stays(log_lambda, outer_steps, otherwise):
    """Warn when λ steps would start from ``-inf``: a fixed point, where λ stays.

    ``otherwise``: how to get no regularization on purpose (the message's end).
    """
    if outer_steps > 0 and bool(torch.isneginf(log_lambda).any()):
        warn_user("lambda_init=-inf (no regularization) is a fixed point of the λ steps: "
                  "those λ stay at -inf, whatever outer_steps. Start from a finite "
                  f"lambda_init to learn them, or {otherwise}.")
