"""Implicit-function hypergradients at a converged inner optimum."""

from __future__ import annotations

import math

import torch

from ._checks import check_inputs
from ._divergence import check_outputs
from ._errors import HessianSolveWarning, InnerNotConvergedWarning
from ._input_values import named_inputs
from ._linear_solve import (
    check_solver_options,
    default_tol,
    dense_operator,
    solve_cg,
    solve_exact,
    stable_norm,
)
from ._prox import fixed_point_residual, support
from ._result import HypergradResult
from ._unrolled import train_checked
from ._warnings import warn

SOLVERS = ("cg", "exact")


def implicit_hypergradient(problem, w0, log_lambda, X, Y, X_val, Y_val, *, n_poison,
                           steps, lr, solver="cg", tol=None, maxiter=None,
                           stationarity_tol=1e-4):
    """Hypergradients from the implicit function theorem.

    Trains ``steps`` steps from ``w0``, then solves ``H(w_T) u = grad L_val(w_T)``
    and returns ``g_lambda = -(d_lambda grad L_tr)^T u``,
    ``g_X = -(d_X grad L_tr)^T u``. This is the hypergradient of the exact
    optimum ``w*``, so it is only meaningful where ``w_T ≈ w*``: a
    :class:`InnerNotConvergedWarning` is issued when
    ``||grad L_tr(w_T)|| > stationarity_tol * max(1, ||grad L_tr(w_0)||)``, or
    when the Newton step that remains is long,
    ``||H^-1 grad L_tr(w_T)|| > sqrt(stationarity_tol) * max(1, ||w_T||)`` (a
    small gradient on a flat problem, far from its optimum, or with none:
    separable data under a vanishing penalty; the hypergradient's relative
    error is of the order of that distance). The step costs one more solve (CG: to a
    relative residual of 1e-2, at most as many iterations as the first).

    With an L1 penalty the training loss is smooth only where no penalized
    weight is zero; there its Hessian is the data Hessian alone and the
    implicit hypergradient is exact (the sign pattern is locally constant).
    Gradient descent, however, rarely settles at such a point: weights whose
    optimum is 0 zigzag around it, the gradient norm then stays of the order
    of ``exp(lambda)`` and the non-convergence warning says so. Use
    ``method="rmd"`` for L1 unless the optimum is known to be dense.

    Proximal L1 steps (``problem.proximal``) do settle: their optimum has
    exact zeros. There the stationarity measure is the fixed-point residual
    ``||w - S(w - lr grad L_data(w), lr alpha)|| / lr`` (``S`` the soft
    threshold; it replaces ``||grad L_tr||`` in the checks above), and the
    system is restricted to the support ``P`` (``w_T != 0``, and the
    unpenalized parameters): ``(P H_data P + I - P) u = P grad L_val``, which
    gives ``g_lambda = -group_sum(alpha sign(w_T) u)`` and ``g_X`` as above.

    Parameters
    ----------
    problem, w0, log_lambda, X, Y, X_val, Y_val, n_poison, steps, lr
        As in :func:`~skpoison.hypergrad.compute_hypergradient` (``n_poison``
        required).
    solver : {"cg", "exact"}, default="cg"
    tol : float, default=None
        Relative CG tolerance; None picks one reachable in the data's dtype
        (``solver="exact"``: that of its float64 solve, or the data dtype's
        machine epsilon where larger, the rounding of ``grad L_val`` itself).
    maxiter : int, default=None
        CG iteration cap (default ``10 * n_params``); CG only.
    stationarity_tol : float, default=1e-4
        Relative threshold of the convergence check above.

    Returns
    -------
    HypergradResult
        With ``solver_residual`` and ``solver_iterations`` filled in (for
        ``solver="exact"`` the residual of the float64 solve, see Notes). A
        :class:`HessianSolveWarning` is issued when the residual stays above
        ``100 * tol * ||grad L_val||`` (a singular or indefinite Hessian, or
        CG stopped by a ``maxiter`` too small). Where CG stops before its
        first step (``grad L_val' H grad L_val <= 0``: an indefinite Hessian,
        a network's off a minimum), ``u = 0`` and the hypergradients are
        exactly 0; the warning then says that this is no estimate and that a
        step on λ from it does not move λ.

    Raises
    ------
    InnerDivergenceError, HypergradientOverflowError
        As in :func:`~skpoison.hypergrad.compute_hypergradient`.
    ValueError
        If ``solver``, ``tol`` or ``maxiter`` is invalid (``maxiter`` with
        ``solver="exact"`` included), the inputs are not float32 or float64 or
        their shapes disagree; also where the run came out NaN/inf because an
        input holds NaN/inf or ``exp(log_lambda)`` overflows (that input named).

    Notes
    -----
    ``solver="exact"`` builds the dense Hessian and solves in float64 whatever
    the data's dtype: at float32's rounding level a singular Hessian (L1 with
    collinear features) and a merely ill-conditioned one look alike (see
    :func:`~skpoison.hypergrad.solve_exact`). It calls
    ``problem.hessian_operator`` with float64 copies of ``w_T``,
    ``log_lambda``, ``X`` and ``Y`` (a model of one's own must accept them),
    and the hypergradients come back in the data's dtype.

    Examples
    --------
    On an inner run long enough to converge, both solvers and reverse mode
    through the run agree:

    >>> import torch
    >>> from skpoison.hypergrad import implicit_hypergradient
    >>> from skpoison.models import LinearProblem
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 2.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0], [1.0], [0.0]], dtype=torch.float64)
    >>> problem = LinearProblem(2, 1)
    >>> args = (problem, problem.init_params(), torch.zeros(1, dtype=torch.float64), X, Y, X, Y)
    >>> from skpoison.hypergrad import reverse_hypergradient
    >>> cg = implicit_hypergradient(*args, n_poison=1, steps=2000, lr=0.5)
    >>> exact = implicit_hypergradient(*args, n_poison=1, steps=2000, lr=0.5, solver="exact")
    >>> unrolled = reverse_hypergradient(*args, n_poison=1, steps=2000, lr=0.5)
    >>> cg.solver_iterations
    3
    >>> torch.allclose(cg.grad_log_lambda, exact.grad_log_lambda)
    True
    >>> torch.allclose(cg.grad_log_lambda, unrolled.grad_log_lambda)
    True

    A run too short to converge, and conjugate gradients capped too early:

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = implicit_hypergradient(*args, n_poison=1, steps=5, lr=0.5)
    ...     _ = implicit_hypergradient(*args, n_poison=1, steps=2000, lr=0.5, maxiter=1)
    >>> [w.category.__name__ for w in caught]
    ['InnerNotConvergedWarning', 'HessianSolveWarning']
    """
    check_inputs(problem, w0, log_lambda, X, Y, X_val, Y_val, n_poison=n_poison, steps=steps,
                 lr=lr)
    if solver not in SOLVERS:
        raise ValueError(f"solver={solver!r} must be one of {sorted(SOLVERS)}.")
    check_solver_options(tol, maxiter)
    if solver == "exact" and maxiter is not None:
        raise ValueError("maxiter caps conjugate-gradient iterations; the exact solve has none "
                         "(use method='cg').")
    w = train_checked(problem, w0, log_lambda, X, Y, steps=steps, lr=lr, Y_val=Y_val)
    with torch.no_grad():
        train_grad = _stationarity(problem, w, log_lambda, X, Y, lr)
        start_norm = torch.linalg.vector_norm(_stationarity(problem, w0, log_lambda, X, Y, lr))
        end_norm = torch.linalg.vector_norm(train_grad)
        stationary = not bool(end_norm > stationarity_tol * torch.clamp(start_norm, min=1.0))
        if not stationary:
            measure = ("the fixed-point residual ||w_T - prox(w_T)|| / lr" if problem.proximal
                       else "||grad L_tr(w_T)||")
            _warn_not_converged(problem, f"{measure} = {float(end_norm):.2e}", steps)
        val_loss, b = problem.loss_and_grad(w, X_val, Y_val)
        inputs = named_inputs(w0, log_lambda, X, Y, X_val, Y_val)
        check_outputs(val_loss, b, inputs=inputs)   # (before the solve: CG would stop at u = 0)
        keep = (support(w, lr * problem.penalty.alpha(log_lambda)) if problem.proximal
                else None)
        if keep is not None:
            b = keep * b
        if solver == "exact":
            # One dense Hessian for both solves, in float64 whatever the data's dtype:
            # at float32's rounding level a singular Hessian (L1 with collinear
            # features) and a merely ill-conditioned one look alike.
            precise = [t.to(torch.float64) for t in (w, log_lambda, X, Y)]
            operator = _restricted(problem.hessian_operator(*precise),
                                   None if keep is None else keep.to(torch.float64))
            matvec = _DenseOnce(operator, b.to(torch.float64))
            u, residual, n_iter = solve_exact(matvec, matvec.like)
            u, residual = u.to(b.dtype), residual.to(b.dtype)
        else:
            matvec = _restricted(problem.hessian_operator(w, log_lambda, X, Y), keep)
            u, residual, n_iter = solve_cg(matvec, b, tol=tol, maxiter=maxiter)
        if tol is None:   # (the exact solve runs in float64: judged at its precision,
            # but no finer than b's own rounding: a float32 b keeps ~eps of its norm
            # along a singular Hessian's null space (a softmax model's shift of its
            # intercepts), which no solve removes)
            tol = (max(default_tol(torch.float64), torch.finfo(b.dtype).eps)
                   if solver == "exact" else default_tol(b.dtype))
        b_norm = stable_norm(b)
        if not bool(residual <= 100 * tol * b_norm + 1e-30):
            relative = f"a relative residual {float(residual / b_norm):.1e}"
            kind = None
            if not bool(u.any()):
                # u = 0 is no estimate: the hypergradient is 0 and a λ step on it none.
                message, kind = _no_solution_message(solver, steps), "no solution"
            elif maxiter is not None and n_iter >= maxiter:
                # The caller's cap, not the Hessian, may have stopped it.
                message = (f"The cg solve of H u = grad L_val stopped at {relative} after "
                           f"maxiter={maxiter} iterations, so the implicit hypergradient is "
                           "inaccurate: raise maxiter (default 10 * n_params); if that does "
                           "not help, the training Hessian is singular or indefinite at "
                           "w_T: use reverse mode (method='rmd').")
            else:
                message = (f"The {solver} solve of H u = grad L_val stopped at {relative}: "
                           "the training Hessian is singular or indefinite at w_T (an L1 "
                           "penalty, a network, or too weak a penalty), so the implicit "
                           "hypergradient is unreliable. Use reverse mode (method='rmd'; "
                           "hypergrad='rmd' in the estimators).")
            warn(message, HessianSolveWarning, stacklevel=3, kind=kind)
        elif stationary:
            # A small gradient on a flat problem can still be far from the optimum
            # (or there is none: separable data under a vanishing penalty). The
            # Newton step H^-1 grad L_tr measures that distance.
            step_norm = _newton_step_norm(solver, matvec, train_grad, n_iter)
            # A relative distance of sqrt(stationarity_tol) (1 %): the hypergradient's
            # error is of its order, and float32's rounding floor lies well below it.
            newton_tol = math.sqrt(stationarity_tol)
            if bool(step_norm > newton_tol * max(1.0, float(stable_norm(w)))):
                _warn_not_converged(problem, f"a Newton step of norm {float(step_norm):.2e} "
                                    "remains", steps)
        _, mixed_lambda, mixed_poison = problem.reverse_step(
            w, None, log_lambda, X, Y, n_poison, u
        )
    check_outputs(val_loss, mixed_lambda, mixed_poison, inputs=inputs)
    return HypergradResult(val_loss, -mixed_lambda, -mixed_poison, w, residual, n_iter)


def _stationarity(problem, w, log_lambda, X, Y, lr):
    """``grad L_tr(w)``, or for proximal steps the fixed-point residual (0 at the optimum)."""
    if not problem.proximal:
        return problem.train_grad(w, log_lambda, X, Y)
    _, data_grad = problem.loss_and_grad(w, X, Y)
    return fixed_point_residual(w, data_grad, lr, problem.penalty.alpha(log_lambda))


def _restricted(matvec, keep):
    """``matvec`` restricted to the support ``keep``: ``P H P + (I - P)`` (``keep`` None: H)."""
    if keep is None:
        return matvec

    def restricted(v):
        return keep * matvec(keep * v) + (1.0 - keep) * v

    if hasattr(matvec, "matrix"):
        restricted.matrix = lambda: (keep[:, None] * matvec.matrix() * keep[None, :]
                                     + torch.diag(1.0 - keep))
    return restricted


class _DenseOnce:
    """``matvec`` whose dense matrix and eigenvalues are computed once, when first asked."""

    def __init__(self, matvec, b):
        self.matvec, self.like, self.A, self.values = matvec, b, None, None

    def __call__(self, v):
        return self.matvec(v)

    def matrix(self):
        if self.A is None:
            self.A = dense_operator(self.matvec, self.like.numel(), dtype=self.like.dtype,
                                    device=self.like.device)
        return self.A

    def eigenvalues(self):
        if self.values is None:
            self.values = torch.linalg.eigvalsh(self.matrix())
        return self.values


def _newton_step_norm(solver, matvec, train_grad, n_iter):
    """``||H^-1 grad L_tr||`` to two digits (CG: at most the first solve's iterations)."""
    if solver == "exact":
        return stable_norm(solve_exact(matvec, train_grad.to(matvec.like.dtype))[0])
    step, _, _ = solve_cg(matvec, train_grad, tol=1e-2, maxiter=max(n_iter, 1))
    return stable_norm(step)


def _no_solution_message(solver, steps):
    """Why the solve returned ``u = 0`` for a nonzero ``grad L_val``, and what to do."""
    if solver == "cg":
        cause = ("The cg solve of H u = grad L_val stopped before its first step: the "
                 "training Hessian does not curve up along grad L_val itself "
                 "(grad L_val' H grad L_val <= 0), so H is not positive definite at w_T "
                 "(a network's Hessian is indefinite away from a minimum")
    else:
        cause = ("The exact solve of H u = grad L_val found grad L_val in the null space of "
                 "the training Hessian at w_T (H is singular there")
    return (f"{cause}; here after {steps} inner steps). The implicit hypergradient it "
            "returns is therefore exactly 0, not an estimate: an outer step on it does not "
            "move λ, and a fit or attack whose every step ends so leaves λ at lambda_init. "
            "Use reverse mode (hypergrad='rmd' in the estimators, method='rmd' in the "
            "engine), which differentiates the inner steps actually taken; more "
            "inner_steps help the implicit methods only if they reach a minimum of the "
            "training loss.")


def _warn_not_converged(problem, evidence, steps):
    l1 = (getattr(getattr(problem, "penalty", None), "kind", None) == "l1"
          and not problem.proximal)
    warn(
        f"The inner problem has not converged ({evidence} after {steps} steps): the "
        "implicit hypergradient assumes an exact optimum and differs from the unrolled one. "
        "Increase inner_steps or inner_lr, or use reverse mode (method='rmd'; "
        "hypergrad='rmd' in the estimators)."
        + (" With the L1 penalty, gradient descent keeps weights whose optimum "
           "is 0 zigzagging around it, so it may never pass this check; "
           "reverse mode differentiates what was actually computed." if l1 else ""),
        InnerNotConvergedWarning,
        stacklevel=4,
    )
