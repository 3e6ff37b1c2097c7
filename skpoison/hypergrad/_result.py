"""The result every hypergradient algorithm returns."""

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

    See Also
    --------
    compute_hypergradient : returns one (its example reads the fields).
    """

    val_loss: torch.Tensor
    grad_log_lambda: torch.Tensor
    grad_X_poison: torch.Tensor
    params: torch.Tensor
    solver_residual: Optional[torch.Tensor] = None
    solver_iterations: Optional[int] = None
