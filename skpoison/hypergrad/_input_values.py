"""What a failed run says about its inputs: NaN/inf values, an ``exp(λ)`` beyond
the dtype's range, or targets the built-in models' loss is not defined for.

Read on the failure path only. The argument checks (``_checks.py``) read no
values, so that a hypergradient on a GPU costs one host read; NaN/inf inputs then
surface as a run or hypergradient that is not finite, which the divergence checks
would blame on the learning rate or the features' scale. Before raising those,
:func:`raise_if_bad_values` looks at the inputs (the run has failed: the reads cost
nothing that matters) and names the one at fault.

Targets. The built-in models (``problem.group_penalty``) train on the
cross-entropy of :func:`~skpoison.hypergrad._problem.cross_entropy`. With one
output it is ``softplus(s) - y s``, the logistic loss of a label ``y`` in [0, 1]
(0/1, or a probability: soft labels); with ``k`` outputs ``-sum_j y_j log
softmax(s)_j`` of a row of class probabilities (one-hot, or entries in [0, 1]
that sum to 1), and the closed-form derivatives take its gradient to be
``softmax(s) - y``, which it is only where the row sums to 1. Other targets
(labels in {-1, 1} or {0, 2}, class indices, counts) make a loss unbounded
below, and every method returned hypergradients of it without a word. Their
verdict, :func:`targets_valid`, is a device tensor that the divergence check
reads with its own (one host read per hypergradient, as before:
:class:`~skpoison.hypergrad._divergence.RunStatus`); where it fails,
:func:`raise_if_bad_targets` reads the targets and names the argument, what it
must hold and an offending value.
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

#: Rows of probabilities may sum to 1 up to this (float32's ``sqrt(eps)``, or a
#: coarser target dtype's): probabilities rounded to float32 and then widened
#: still pass, while targets of another encoding miss 1 by far more. The
#: closed forms' gradient is off by the row's excess, relatively.
_ROW_SUM_FLOOR = torch.finfo(torch.float32).eps ** 0.5


def row_sum_tolerance(dtype):
    """How far from 1 a row of ``dtype`` probabilities may sum.

    Examples
    --------
    >>> row_sum_tolerance(torch.float64) == row_sum_tolerance(torch.long) < 4e-4
    True
    >>> round(row_sum_tolerance(torch.float16), 3)
    0.031
    """
    if not dtype.is_floating_point:
        return _ROW_SUM_FLOOR
    return max(_ROW_SUM_FLOOR, torch.finfo(dtype).eps ** 0.5)


def valid_rows(Y):
    """Per row of ``Y``, whether it is a target of the built-in loss (a device bool).

    Entries in [0, 1] and, with more than one output, a row sum within
    :func:`row_sum_tolerance` of 1. NaN is no valid target. The result has
    shape ``Y.shape[:-1]``.

    Examples
    --------
    >>> valid_rows(torch.tensor([[0.0], [1.0], [0.3], [-1.0], [2.0]]))
    tensor([ True,  True,  True, False, False])
    >>> valid_rows(torch.tensor([[0.0, 1.0], [0.4, 0.6], [1.0, 1.0], [-1.0, 2.0]]))
    tensor([ True,  True, False, False])
    """
    ok = ((Y >= 0) & (Y <= 1)).all(dim=-1)
    if Y.shape[-1] > 1:
        excess = (Y.sum(dim=-1) - 1).abs()
        ok = ok & (excess <= row_sum_tolerance(Y.dtype))
    return ok


def targets_valid(problem, *targets):
    """Per problem, whether every one of ``targets`` is valid: ``(K,)`` or ``(1,)`` bools.

    ``targets`` are ``(n, n_outputs)`` tensors (one problem) or ``(K, n,
    n_outputs)`` (``K`` stacked ones); None entries are skipped. None where
    the problem is not a built-in model (``group_penalty`` False: its own
    ``data_loss`` may take other targets). Device tensors, no host read.
    """
    if not problem.group_penalty:
        return None
    verdict = None
    for Y in targets:
        if Y is None:
            continue
        rows = valid_rows(Y)
        ok = rows.reshape(Y.shape[0], -1).all(dim=1) if Y.dim() == 3 else rows.all()[None]
        verdict = ok if verdict is None else verdict & ok
    return verdict


def raise_if_bad_targets(named):
    """Raise ``ValueError`` for the first of ``Y``, ``Y_val`` in ``named`` that is not valid.

    The failure path of :func:`targets_valid` (it reads the values). ``named``
    as :func:`~skpoison.hypergrad._input_values.named_inputs` gives it.

    Examples
    --------
    >>> raise_if_bad_targets(dict(Y=torch.tensor([[1.0], [-1.0]])))
    Traceback (most recent call last):
    ...
    ValueError: Y must hold targets in [0, 1] ... got -1.0 in row 1...
    """
    for name in ("Y", "Y_val"):
        Y = named.get(name)
        if Y is None:
            continue
        rows = valid_rows(Y)
        if bool(rows.all()):
            continue
        where = ""
        if Y.dim() == 3:
            bad = torch.nonzero(~rows.reshape(Y.shape[0], -1).all(dim=1)).flatten().tolist()
            where = f" in problems {bad} of {Y.shape[0]}"
        index = tuple(torch.nonzero(~rows)[0].tolist())
        row = Y[index]
        at = f"row {index[-1]}" + (f" of problem {index[0]}" if Y.dim() == 3 else "")
        raise ValueError(_message(name, row, at, where))
    raise ValueError("The targets are not valid for the problem's cross-entropy: Y must "
                     "hold 0/1 labels or probabilities (one output), one-hot rows or rows "
                     "of probabilities summing to 1 (several).")


def _message(name, row, at, where):
    k = row.shape[-1]
    if k == 1:
        return (f"{name} must hold targets in [0, 1] for a problem with one output (the "
                f"logistic loss of a 0/1 label or a probability){where}; got "
                f"{row[0].tolist()!r} in {at}. Labels in {{-1, 1}}: give ({name} + 1) / 2.")
    outside = torch.nonzero(~((row >= 0) & (row <= 1)))
    if outside.numel():
        column = int(outside[0, 0])
        got = f"{row[column].tolist()!r} in column {column} of {at}"
    else:
        got = f"{at}, which sums to {row.sum().tolist()!r}"
    return (f"{name} must hold one row of class probabilities per sample for a problem "
            f"with {k} outputs (softmax cross-entropy): one-hot rows, or entries in [0, 1] "
            f"that sum to 1 (within {row_sum_tolerance(row.dtype):.2g}){where}; got {got}. "
            f"Class indices y: give torch.nn.functional.one_hot(y, {k}).")
