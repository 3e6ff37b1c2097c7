"""Forward-mode hypergradients: carry ``dw_t / d theta`` along the solver."""

from __future__ import annotations

import math

import torch
from torch.func import jvp, vmap

from ._checks import check_inputs
from ._divergence import raise_if_diverged, result_status
from ._input_values import named_inputs
from ._problem import FORWARD_AD_LOCK
from ._prox import support
from ._result import HypergradResult
from ._unroll import not_callers


def _group_indicator(penalty, n_hyper, like):
    """``(n_hyper, n_params)``: 1 where a parameter belongs to λ's group, in ``like``'s
    dtype and device."""
    groups = penalty.group_index.to(like.device)
    return (torch.arange(n_hyper, device=like.device)[:, None] == groups[None, :]).to(like.dtype)


def forward_hypergradient(problem, w0, log_lambda, X, Y, X_val, Y_val, *, n_poison,
                          steps, lr):
    """Hypergradients by forward-mode differentiation of the unrolled solver.

    One tangent per hyperparameter and per poison feature is pushed through
    every step (batched with ``torch.func.vmap``), so the cost grows with
    ``n_hyper + n_poison * n_features``: use it for a handful of
    hyperparameters; reverse mode is the method of choice otherwise.

    Without poisoning points, for the models with a group penalty (the
    linear models and the MLP: ``problem.group_penalty``), the tangents are
    pushed with the model's own Hessian-vector products instead of
    ``torch.func.jvp``: one per hyperparameter and step, about the cost of a
    training step each.

    Proximal L1 steps (``problem.proximal``) carry the tangents through the
    soft threshold: ``Z' = m (Z - lr (H_data Z + d grad L_data / dX dX)) - lr
    alpha sign(w') E`` with ``m`` the support of ``w'`` (``hypergrad/_prox.py``).

    Parameters
    ----------
    problem, w0, log_lambda, X, Y, X_val, Y_val, n_poison, steps, lr
        As in :func:`~skpoison.hypergrad.compute_hypergradient` (``n_poison``
        required).

    Returns
    -------
    HypergradResult

    Raises
    ------
    ValueError
        If the inputs are not float32 or float64 tensors or their shapes
        disagree; also where the run came out NaN/inf because an input holds
        NaN/inf or ``exp(log_lambda)`` overflows: the error names that input.
    InnerDivergenceError, HypergradientOverflowError
        As in :func:`~skpoison.hypergrad.compute_hypergradient`.

    Examples
    --------
    The same derivatives as reverse mode:

    >>> import torch
    >>> from skpoison.hypergrad import forward_hypergradient
    >>> from skpoison.models import LinearProblem
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 2.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0], [1.0], [0.0]], dtype=torch.float64)
    >>> problem = LinearProblem(2, 1)
    >>> args = (problem, problem.init_params(), torch.zeros(1, dtype=torch.float64), X, Y, X, Y)
    >>> from skpoison.hypergrad import reverse_hypergradient
    >>> forward = forward_hypergradient(*args, n_poison=1, steps=30, lr=0.5)
    >>> reverse = reverse_hypergradient(*args, n_poison=1, steps=30, lr=0.5)
    >>> torch.allclose(forward.grad_X_poison, reverse.grad_X_poison)
    True
    """
    check_inputs(problem, w0, log_lambda, X, Y, X_val, Y_val, n_poison=n_poison, steps=steps,
                 lr=lr)
    if n_poison == 0 and problem.group_penalty:
        return _forward_lambda_only(problem, problem.penalty, w0, log_lambda, X, Y, X_val,
                                    Y_val, steps=steps, lr=lr)
    n_clean = X.shape[0] - n_poison
    X_clean, X_poison = X[:n_clean], X[n_clean:]
    n_hyper, poison_shape = log_lambda.numel(), X_poison.shape
    n_dirs = n_hyper + X_poison.numel()

    prox = ((problem.penalty.alpha(log_lambda),
             _group_indicator(problem.penalty, n_hyper, X)) if problem.proximal else None)

    def gradient(w, lam, xp):
        X_train = torch.cat([X_clean, xp])
        if prox is not None:   # the data step alone: the threshold is applied after it
            return problem.loss_and_grad(w, X_train, Y)[1]
        return problem.train_grad(w, lam, X_train, Y)

    # The tangents are carried scaled, Z = s dw/dθ with s about 1/lr (see
    # _tangent_scale), the step Z' = Z - lr (H Z + dg/dθ s e), and divided by s
    # once at the end: lr dg/dλ per step underflows float32 on large features
    # (lr ~ 1/||X||², 1e-30 for features of 1e15), where Z does not.
    scale = _tangent_scale(lr, X.dtype)

    def push(scaled_w, scaled_lam, scaled_x):
        return scaled_w - lr * jvp(gradient, (w, log_lambda, X_poison),
                                   (scaled_w, scaled_lam, scaled_x))[1]

    eye = torch.eye(n_dirs, dtype=X.dtype, device=X.device) * scale
    scaled_lam = eye[:, :n_hyper]
    scaled_x = eye[:, n_hyper:].reshape(n_dirs, *poison_shape)
    scaled_w = X.new_zeros((n_dirs, w0.numel()))
    w = w0
    with torch.no_grad():
        for _ in range(steps):
            with FORWARD_AD_LOCK:     # (jvp's state is process-wide: one thread at a time)
                scaled_w = vmap(push)(scaled_w, scaled_lam, scaled_x)
            w, _ = problem.forward_step(w, log_lambda, X, Y, lr)
            if prox is not None:
                alpha, in_group = prox
                scaled_w = (support(w, lr * alpha) * scaled_w
                            - lr * (scaled_lam @ (in_group * (alpha * torch.sign(w)))))
        val_loss, a = problem.loss_and_grad(w, X_val, Y_val)
        total = (scaled_w @ a) / scale
    result = HypergradResult(val_loss, total[:n_hyper], total[n_hyper:].reshape(poison_shape),
                             not_callers(w, w0))
    status = result_status(problem, w0, result, log_lambda, X, Y, lr=lr, Y_val=Y_val)
    raise_if_diverged(status, steps=steps, lr=lr,
                      inputs=named_inputs(w0, log_lambda, X, Y, X_val, Y_val))
    return result


def _forward_lambda_only(problem, penalty, w0, log_lambda, X, Y, X_val, Y_val, *, steps, lr):
    """Forward mode for the λ tangents alone, with the model's own derivatives.

    The step ``w' = w - lr g(w, λ)`` has the tangent map ``V' = V - lr (H V +
    dg/dλ)``; ``H V`` comes from ``problem.hessian_operator`` (closed form for
    the built-in models) and ``dg/dλ_k = exp(λ_k) R'(w)`` on the parameters of
    group ``k`` (``penalty.grad`` masked by group), so nothing goes through
    forward-mode autodiff. The tangents are carried scaled by ``s``, about
    ``1 / lr`` (:func:`_tangent_scale`), ``Z' = Z - lr H Z - lr s dg/dλ``, and
    divided by it once at the end (as in :func:`forward_hypergradient`:
    ``lr dg/dλ`` underflows float32 on large features).
    """
    scale = _tangent_scale(lr, X.dtype)
    lr_scale = lr * scale   # (exact: a power of two times lr)
    n_hyper = log_lambda.numel()
    in_group = _group_indicator(penalty, n_hyper, X)
    threshold = lr * penalty.alpha(log_lambda) if problem.proximal else None
    scaled_w = X.new_zeros((n_hyper, w0.numel()))
    w = w0
    with torch.no_grad():
        for _ in range(steps):
            hvp = problem.hessian_operator(w, log_lambda, X, Y)   # (L1: the data's alone)
            curvature = hvp(scaled_w[0])[None] if n_hyper == 1 else vmap(hvp)(scaled_w)
            pushed = scaled_w - lr * curvature
            if threshold is not None:
                # Z' = m (Z - lr H Z) - lr s alpha sign(w'): the next iterate's mask and sign
                w, _ = problem.forward_step(w, log_lambda, X, Y, lr)
                pushed = support(w, threshold) * pushed
            scaled_w = pushed - lr_scale * (in_group * penalty.grad(w, log_lambda))
            if threshold is None:
                w, _ = problem.forward_step(w, log_lambda, X, Y, lr)
        val_loss, a = problem.loss_and_grad(w, X_val, Y_val)
        grad_log_lambda = (scaled_w @ a) / scale
    result = HypergradResult(val_loss, grad_log_lambda, X.new_zeros((0, X.shape[1])),
                             not_callers(w, w0))
    status = result_status(problem, w0, result, log_lambda, X, Y, lr=lr, Y_val=Y_val)
    raise_if_diverged(status, steps=steps, lr=lr,
                      inputs=named_inputs(w0, log_lambda, X, Y, X_val, Y_val))
    return result


def _tangent_scale(lr, dtype):
    """The factor forward mode's tangents are carried scaled by: about ``1 / lr``.

    A power of two (scaling by it is exact), at most a quarter of ``dtype``'s
    largest power of two: ``1 / lr`` itself would overflow float32 below
    ``lr`` = 3e-39.

    Examples
    --------
    >>> _tangent_scale(0.25, torch.float64), _tangent_scale(1e-39, torch.float32) == 2.0 ** 125
    (4.0, True)
    """
    if isinstance(lr, torch.Tensor):   # (a tensor rate: read once, without its graph)
        lr = lr.detach()
    exponent = -math.frexp(float(lr))[1] + 1       # 2**exponent in [1/lr, 2/lr)
    largest = math.frexp(torch.finfo(dtype).max)[1]   # (128 for float32)
    return 2.0 ** min(exponent, largest - 3)
