"""Argument checks shared by the engine's public entry points.

Shapes, dtypes, devices and counts only: nothing here reads a tensor's
values, so the checks cost no host synchronization on a GPU. (The targets'
values are judged on the device with the run, ``_input_values.py``, and read
with its divergence check.)
"""

from __future__ import annotations

import math
import operator
from numbers import Real

import torch

#: The floating dtypes the engine computes in (those of the estimators' ``dtype``).
ENGINE_DTYPES = (torch.float32, torch.float64)


def check_inputs(problem, w0, log_lambda, X, Y, X_val=None, Y_val=None, *, n_poison=0,
                 steps, lr=None, batched=False):
    """Refuse malformed engine arguments with a message naming the argument.

    Parameters
    ----------
    problem : InnerProblem
    w0, log_lambda, X, Y, X_val, Y_val : Tensor
        As in :func:`~skpoison.hypergrad.compute_hypergradient`; with
        ``batched=True`` every tensor has a leading dimension ``K`` (``w0``
        and ``log_lambda`` may instead be shared, 1-D).
    n_poison, steps : int
    lr : float or None
        None: checked by the caller (the batched functions take one rate
        per problem).
    batched : bool, default=False
        Whether the tensors hold ``K`` problems along a leading dimension.

    Examples
    --------
    >>> import torch
    >>> from skpoison.models import LinearProblem
    >>> problem = LinearProblem(2, 1)
    >>> X, Y = torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, 1, dtype=torch.float64)
    >>> check_inputs(problem, problem.init_params(), torch.zeros(2, dtype=torch.float64),
    ...              X, Y, steps=5, lr=0.5)
    Traceback (most recent call last):
    ...
    ValueError: log_lambda must have shape (1,) (n_hyper of the problem); got (2,).
    """
    lead = 1 if batched else 0
    if _as_int(steps) is None or _as_int(steps) < 0:
        raise ValueError(f"steps must be a non-negative int; got {steps!r}.")
    if lr is not None and not _positive_real(lr):
        raise ValueError(f"lr must be a finite positive number; got {lr!r}.")
    tensors = {"w0": w0, "log_lambda": log_lambda, "X": X, "Y": Y}
    if X_val is not None:
        tensors.update(X_val=X_val, Y_val=Y_val)
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(tensor).__name__}.")
    _check_rows(X, Y, "X", "Y", problem, lead)
    if X_val is not None:
        _check_rows(X_val, Y_val, "X_val", "Y_val", problem, lead)
        if X_val.shape[-1] != X.shape[-1]:
            raise ValueError(f"X_val has {X_val.shape[-1]} features but X has "
                             f"{X.shape[-1]}.")
    for name, size, what in (("w0", problem.n_params, "n_params"),
                             ("log_lambda", problem.n_hyper, "n_hyper")):
        tensor = tensors[name]
        if tensor.dim() not in ((1, 2) if batched else (1,)) or tensor.shape[-1] != size:
            raise ValueError(f"{name} must have shape ({size},) ({what} of the problem)"
                             + (" or (K, {size})".format(size=size) if batched else "")
                             + f"; got {tuple(tensor.shape)}.")
    for name, tensor in tensors.items():
        if name in ("Y", "Y_val"):
            # Integer or narrower floating targets are promoted to X's dtype where
            # they are used; wider ones would promote the products and fail there.
            if torch.promote_types(tensor.dtype, X.dtype) != X.dtype:
                raise ValueError(f"{name} has dtype {tensor.dtype}, wider than X's "
                                 f"{X.dtype}: give the targets X's dtype.")
        elif tensor.dtype != X.dtype:
            raise ValueError(f"{name} has dtype {tensor.dtype} but X has {X.dtype}: give "
                             "every tensor the same floating dtype.")
        if tensor.device != X.device:
            raise ValueError(f"{name} is on {tensor.device} but X is on {X.device}: move "
                             "every tensor to one device.")
    n = X.shape[-2]
    if _as_int(n_poison) is None or not 0 <= _as_int(n_poison) <= n:
        raise ValueError(f"n_poison must be an int in [0, {n}] (the last n_poison rows of "
                         f"X are the poisoning points); got {n_poison!r}.")


def _as_int(value):
    """``value`` as an int (Python, NumPy or 0-d tensor integers), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _positive_real(value):
    if (isinstance(value, torch.Tensor) and value.dim() == 0
            and value.dtype not in (torch.bool, torch.complex64, torch.complex128)):
        value = float(value.detach())   # outside any loop: one read at most
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    return 0.0 < float(value) < math.inf


def _check_rows(X, Y, x_name, y_name, problem, lead):
    if not X.is_floating_point():
        raise ValueError(f"{x_name} must be a floating-point tensor; got {X.dtype}.")
    if X.dtype not in ENGINE_DTYPES:
        # Half precision's range ends at exp(11) (float16) and its rounding (1e-2 to
        # 1e-3) swamps T steps' hypergradients and the divergence checks' tolerances.
        raise ValueError(f"{x_name} has dtype {X.dtype}; the engine computes in float32 or "
                         f"float64 (as the estimators' dtype): use {x_name}.float() or "
                         f"{x_name}.double(), and the other tensors alike.")
    if X.dim() != 2 + lead or X.shape[-2] == 0:
        shape = "(K, n, n_features)" if lead else "(n, n_features)"
        raise ValueError(f"{x_name} must have shape {shape} with n >= 1; got "
                         f"{tuple(X.shape)}.")
    if tuple(Y.shape[:lead + 1]) != tuple(X.shape[:-1]):
        where = f" in each of the {X.shape[0]} problems" if lead else ""
        raise ValueError(f"{y_name} must have {X.shape[-2]} rows{where}, one per row of "
                         f"{x_name}; got shape {tuple(Y.shape)}.")
    if not problem.group_penalty:
        return   # a custom data_loss may take other targets (class indices, say)
    if Y.dtype == torch.bool:
        raise ValueError(f"{y_name} must be a numeric tensor (0/1 or one-hot); got torch.bool: "
                         f"use {y_name}.to({x_name}.dtype).")
    expected = (*X.shape[:-1], problem.n_outputs)
    if tuple(Y.shape) != expected:
        raise ValueError(
            f"{y_name} must have shape {expected}: one row per row of {x_name} and "
            f"{problem.n_outputs} column(s) (a 0/1 column for binary problems, one-hot "
            f"rows otherwise); got {tuple(Y.shape)}.")
