"""Result types and errors shared by the hypergradient algorithms."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch


class HypergradResult(NamedTuple):
    """Validation loss and its hypergradients (tensors, on the problem's device).

    Attributes
    ----------
    val_loss : Tensor, 0-d
        ``L_val(w_T)``, the loss of the trained parameters on the validation set.
    grad_log_lambda : Tensor of shape (n_hyper,)
        ``d L_val / d log_lambda``.
    grad_X_poison : Tensor of shape (n_poison, n_features)
        ``d L_val / d X_poison`` (zero rows when there is no poison).
    params : Tensor of shape (n_params,)
        The trained parameters ``w_T``.
    solver_residual : Tensor or None
        Implicit methods: ``||H u - b||`` of the linear solve.
    solver_iterations : int or None
        Implicit methods: conjugate-gradient iterations used.
    """

    val_loss: torch.Tensor
    grad_log_lambda: torch.Tensor
    grad_X_poison: torch.Tensor
    params: torch.Tensor
    solver_residual: Optional[torch.Tensor] = None
    solver_iterations: Optional[int] = None


class InnerDivergenceError(FloatingPointError):
    """The inner gradient descent produced NaN or inf parameters."""


class InnerNotConvergedWarning(UserWarning):
    """The inner problem is not at a stationary point; implicit hypergradients
    then answer a different question from the unrolled ones."""


class HessianSolveWarning(UserWarning):
    """The implicit methods' linear solve ``H u = grad L_val`` missed its
    tolerance: the training Hessian is singular or indefinite there."""


def unstable_rate(problem, log_lambda, lr):
    """Where ``lr * max(α) >= 2`` under an L2 penalty (a device bool), else None.

    Gradient descent on the L2 term alone then multiplies the penalized
    weights by ``1 - lr α``, of modulus at least 1: they grow geometrically,
    and in float64 can reach 1e100 with no inf to show for it. ``log_lambda``
    may be stacked ``(K, n_hyper)`` with ``lr`` a ``(K,)`` tensor.
    """
    if not problem.group_penalty or problem.penalty.kind != "l2" \
            or log_lambda.shape[-1] == 0:
        return None
    return lr * torch.exp(log_lambda.amax(-1)) >= 2


def check_finite(params, *, steps, lr, unstable=None):
    """Raise :class:`InnerDivergenceError` if ``params`` holds NaN or inf.

    Also where ``unstable`` (from :func:`unstable_rate`) holds: the iterates
    then grow without bound even when they are still finite. One host
    synchronization, after the loop, never inside it.
    """
    ok = torch.isfinite(params).all()
    if unstable is not None:
        ok = ok & ~unstable
    if bool(ok):
        return
    if unstable is not None and bool(unstable):
        raise InnerDivergenceError(_UNSTABLE_RATE.format(where="", lr=f"inner_lr={lr:g}"))
    raise InnerDivergenceError(
        f"The inner gradient descent diverged (NaN/inf parameters after {steps} "
        f"steps with inner_lr={lr:g}). The inner learning rate is most likely too "
        "large for this data: lower inner_lr or scale the features."
    )


_UNSTABLE_RATE = (
    "The inner gradient descent diverges{where}: {lr} times the largest L2 weight exp(λ) "
    "is at least 2, so every step multiplies the penalized weights by a factor of "
    "modulus >= 1. Lower the inner learning rate (inner_lr; 'auto' where the model "
    "has it) or the upper end of lambda_bounds (or the fixed λ)."
)
