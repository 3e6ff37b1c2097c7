"""Implicit-function hypergradients at a converged inner optimum."""

from __future__ import annotations

import warnings

import torch

from ._linear_solve import solve_cg, solve_exact
from ._result import HypergradResult, InnerNotConvergedWarning
from ._unrolled import train

SOLVERS = {"cg": solve_cg, "exact": solve_exact}


def implicit_hypergradient(problem, w0, log_lambda, X, Y, X_val, Y_val, *, n_poison,
                           steps, lr, solver="cg", tol=1e-10, maxiter=None,
                           stationarity_tol=1e-4):
    """Hypergradients from the implicit function theorem.

    Trains ``steps`` steps from ``w0``, then solves ``H(w_T) u = grad L_val(w_T)``
    and returns ``g_lambda = -(d_lambda grad L_tr)^T u``,
    ``g_X = -(d_X grad L_tr)^T u``. This is the hypergradient of the exact
    optimum ``w*``, so it is only meaningful where ``w_T ≈ w*``: a
    :class:`InnerNotConvergedWarning` is issued when
    ``||grad L_tr(w_T)|| > stationarity_tol * max(1, ||grad L_tr(w_0)||)``.

    Returns
    -------
    HypergradResult
        With ``solver_residual`` and ``solver_iterations`` filled in.
    """
    w = train(problem, w0, log_lambda, X, Y, steps=steps, lr=lr)
    with torch.no_grad():
        start_norm = torch.linalg.vector_norm(problem.train_grad(w0, log_lambda, X, Y))
        end_norm = torch.linalg.vector_norm(problem.train_grad(w, log_lambda, X, Y))
        if bool(end_norm > stationarity_tol * torch.clamp(start_norm, min=1.0)):
            warnings.warn(
                f"The inner problem has not converged (||grad L_tr(w_T)|| = "
                f"{float(end_norm):.2e} after {steps} steps): the implicit hypergradient "
                "assumes an exact optimum and differs from the unrolled one. Increase "
                "inner_steps or inner_lr, or use method='rmd'.",
                InnerNotConvergedWarning,
                stacklevel=3,
            )
        val_loss, b = problem.loss_and_grad(w, X_val, Y_val)

        def matvec(v):
            return problem.hvp(w, log_lambda, X, Y, v)

        if solver == "cg":
            u, residual, n_iter = solve_cg(matvec, b, tol=tol, maxiter=maxiter)
        else:
            u, residual, n_iter = SOLVERS[solver](matvec, b)
        _, mixed_lambda, mixed_poison = problem.reverse_step(
            w, None, log_lambda, X, Y, n_poison, u
        )
    return HypergradResult(val_loss, -mixed_lambda, -mixed_poison, w, residual, n_iter)
