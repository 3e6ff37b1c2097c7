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


def check_finite(params, *, steps, lr):
    """Raise :class:`InnerDivergenceError` if ``params`` holds NaN or inf.

    One host synchronization, after the loop, never inside it.
    """
    if not bool(torch.isfinite(params).all()):
        raise InnerDivergenceError(
            f"The inner gradient descent diverged (NaN/inf parameters after {steps} "
            f"steps with inner_lr={lr:g}). The inner learning rate is most likely too "
            "large for this data: lower inner_lr or scale the features."
        )
