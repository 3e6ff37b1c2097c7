"""An estimator's settings (its parameters) checked before any data is read: one
function, :func:`check_settings`, for every entry point (fit, hypergradient())."""

from __future__ import annotations

import numpy as np

from .._constraints import is_real_array
from ..hypergrad import METHODS
from ..hypergrad._checkpoint import segment_lengths


def check_settings(estimator, method=None):
    """``lambda_bounds`` as ``(low, high)``, once ``estimator``'s settings are checked.

    scikit-learn's parameter constraints, then ``lambda_bounds``
    (:func:`validate_bounds`), then ``method`` (an entry point's own choice of
    hypergradient; None: ``estimator.hypergrad``), then ``checkpoint_every``
    against the estimator's method and ``inner_steps``
    (:func:`validate_checkpointing`; a ``method`` other than the estimator's
    ignores it). The first setting at fault raises, with its own message.

    Parameters
    ----------
    estimator : HypergradRegularizedLR or HypergradMLP
    method : str or None, default=None
        The hypergradient method the caller runs, named ``method`` in its
        error.

    Returns
    -------
    low, high : float
    """
    estimator._validate_params()
    low, high = validate_bounds(estimator.lambda_bounds)
    if method is not None and method not in METHODS:
        raise ValueError(f"method={method!r} is not supported; use one of {METHODS}.")
    if method is None or method == estimator.hypergrad:
        validate_checkpointing(estimator.checkpoint_every, estimator.hypergrad,
                               estimator.inner_steps)
    return low, high


def validate_checkpointing(checkpoint_every, method, steps):
    """``checkpoint_every`` goes with reverse mode and must resolve for ``steps``."""
    if checkpoint_every is None:
        return
    if method != "rmd":
        raise ValueError(f"checkpoint_every={checkpoint_every!r} is a reverse-mode option; "
                         f"hypergrad={method!r} stores no trajectory: use hypergrad='rmd' "
                         "or checkpoint_every=None.")
    segment_lengths(checkpoint_every, steps)   # raises on malformed schedules


def validate_bounds(bounds):
    """``lambda_bounds`` as ``(low, high)`` floats of log λ (``low`` may be -inf)."""
    try:
        # (numbers only: NumPy would read the strings "-12" and "0" as floats)
        if np.ndim(bounds) != 1 or not is_real_array(bounds):
            raise ValueError
        low, high = (float(b) for b in np.asarray(bounds, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"lambda_bounds={bounds!r} must be a pair of floats (low, high) "
                         "of log λ.") from None
    # low = -inf allows no regularization at all (alpha = exp(-inf) = 0).
    if np.isnan(low) or not np.isfinite(high) or low > high:
        raise ValueError(
            f"lambda_bounds={bounds!r} must be (low, high) with low <= high, high finite "
            "and low finite or -inf."
        )
    return low, high
