"""Checks of an estimator's settings (its parameters) beyond scikit-learn's
constraints: ``lambda_bounds``, ``checkpoint_every``."""

from __future__ import annotations

import numpy as np

from .._constraints import is_real_array
from ..hypergrad._checkpoint import segment_lengths


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
