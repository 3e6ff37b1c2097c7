"""What a failed run says about its inputs: NaN/inf values, or an ``exp(λ)`` beyond
the dtype's range.

Read on the failure path only. The argument checks (``_checks.py``) read no
values, so that a hypergradient on a GPU costs one host read; NaN/inf inputs then
surface as a run or hypergradient that is not finite, which the divergence checks
would blame on the learning rate or the features' scale. Before raising those,
:func:`raise_if_bad_values` looks at the inputs (the run has failed: the reads cost
nothing that matters) and names the one at fault.
"""

from __future__ import annotations

import math

import torch


def named_inputs(w0, log_lambda, X, Y, X_val=None, Y_val=None):
    """The engine's tensors by argument name (the validation set where given)."""
    named = dict(w0=w0, log_lambda=log_lambda, X=X, Y=Y)
    if X_val is not None:
        named.update(X_val=X_val, Y_val=Y_val)
    return named


def raise_if_bad_values(named):
    """Raise ``ValueError`` for the first input holding NaN/inf, or an overflowing ``exp(λ)``.

    Parameters
    ----------
    named : dict of str to Tensor
        As :func:`named_inputs` gives them; ``K`` stacked problems where ``X`` is
        3-D (every tensor then has a leading ``K``: the error names the problems).

    Examples
    --------
    >>> X = torch.tensor([[1.0, float("nan")]], dtype=torch.float64)
    >>> raise_if_bad_values(named_inputs(torch.zeros(3, dtype=torch.float64),
    ...                                  torch.zeros(1, dtype=torch.float64), X, X[:, :1]))
    Traceback (most recent call last):
    ...
    ValueError: X holds NaN or inf: the engine needs finite inputs ...
    """
    K = named["X"].shape[0] if named["X"].dim() == 3 else None
    for name, tensor in named.items():
        if name == "log_lambda":   # (-inf is no penalty, a valid λ: NaN and +inf are not)
            bad = _bad(torch.isnan(tensor) | torch.isposinf(tensor), K)
            advice = "Give each λ a number, or -inf for no penalty."
        else:
            bad = _bad(~torch.isfinite(tensor), K)
            advice = ("Drop or impute those values (scikit-learn's SimpleImputer, say)."
                      if name in ("X", "Y", "X_val", "Y_val") else "Start from finite values.")
        if bad:
            raise ValueError(
                f"{name} holds NaN or inf{_where(bad, K)}: the engine needs finite inputs "
                f"(the inner run or its hypergradient came out NaN/inf). {advice}")
    log_lambda = named["log_lambda"]
    bad = _bad(torch.isinf(torch.exp(log_lambda)), K)
    if bad:
        limit = math.log(torch.finfo(log_lambda.dtype).max)
        raise ValueError(
            f"exp(log_lambda) overflows {log_lambda.dtype}{_where(bad, K)}: log_lambda "
            f"reaches {float(log_lambda.max()):g}, above log of the dtype's largest number "
            f"({limit:.4g}), so the penalty weight is inf. Keep log_lambda below it "
            "(lambda_bounds in the estimators); float64 reaches 709.8.")


def _bad(mask, K):
    """The problems (``K`` stacked) or ``[0]`` (one) where ``mask`` holds a True, else []."""
    if K is None:
        return [0] if bool(mask.any()) else []
    if mask.dim() == 0 or mask.shape[0] != K:   # (a shared tensor: every problem)
        return list(range(K)) if bool(mask.any()) else []
    return torch.nonzero(mask.reshape(K, -1).any(dim=1)).flatten().tolist()


def _where(bad, K):
    return "" if K is None else f" in problems {bad} of {K}"
