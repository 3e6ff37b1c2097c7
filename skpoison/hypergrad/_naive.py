"""Naive autograd through the unrolled loop: the reference and the baseline."""

from __future__ import annotations

import torch

from ._checks import check_inputs
from ._divergence import raise_if_diverged, result_status
from ._input_values import named_inputs
from ._result import HypergradResult


def unrolled_autograd_hypergradient(problem, w0, log_lambda, X, Y, X_val, Y_val, *,
                                    n_poison, steps, lr):
    """Hypergradients by plain autograd through all ``steps`` (graph kept in memory).

    Every step's gradient is taken with ``create_graph=True`` from the model's
    loss (never its closed forms), so this shares no derivative code with the
    other methods: the tests use it as an independent oracle and the
    benchmarks as the in-run baseline.

    Parameters
    ----------
    problem, w0, log_lambda, X, Y, X_val, Y_val, n_poison, steps, lr
        As in :func:`~skpoison.hypergrad.compute_hypergradient` (``n_poison``
        required); ``problem``'s loss must be twice differentiable by autograd.

    Returns
    -------
    HypergradResult
        Found by one ``torch.autograd.grad`` through the graph of all
        ``steps`` steps, which it keeps in memory until then.

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import unrolled_autograd_hypergradient
    >>> from skpoison.models import LinearProblem
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 2.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0], [1.0], [0.0]], dtype=torch.float64)
    >>> problem = LinearProblem(2, 1)
    >>> args = (problem, problem.init_params(), torch.zeros(1, dtype=torch.float64), X, Y, X, Y)
    >>> from skpoison.hypergrad import reverse_hypergradient
    >>> oracle = unrolled_autograd_hypergradient(*args, n_poison=1, steps=30, lr=0.5)
    >>> reverse = reverse_hypergradient(*args, n_poison=1, steps=30, lr=0.5)
    >>> torch.allclose(oracle.grad_log_lambda, reverse.grad_log_lambda)
    True
    """
    check_inputs(problem, w0, log_lambda, X, Y, X_val, Y_val, n_poison=n_poison, steps=steps,
                 lr=lr)
    n_clean = X.shape[0] - n_poison
    with torch.inference_mode(False), torch.enable_grad():
        # Inference tensors (made under torch.inference_mode) cannot be saved
        # for backward: the graph is recorded on normal copies of them.
        X, Y, X_val, Y_val = (t.clone() if t.is_inference() else t
                              for t in (X, Y, X_val, Y_val))
        lam = log_lambda.detach().clone().requires_grad_(True)
        X_poison = X[n_clean:].detach().clone().requires_grad_(True)
        X_train = torch.cat([X[:n_clean], X_poison])
        w = w0.detach().clone().requires_grad_(True)
        # Proximal L1 steps: the data step, then the soft threshold written out
        # with torch operations (not skpoison's), which autograd differentiates.
        threshold = lr * problem.penalty.alpha(lam) if problem.proximal else None
        for _ in range(steps):
            if threshold is None:
                loss = problem.data_loss(w, X_train, Y) + problem.penalty_value(w, lam)
            else:
                loss = problem.data_loss(w, X_train, Y)
            (grad_w,) = torch.autograd.grad(loss, w, create_graph=True)
            w = w - lr * grad_w
            if threshold is not None:
                # (where the threshold is 0, w itself: its derivative is 1 even at z = 0)
                shrunk = torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0)
                w = torch.where(threshold > 0, shrunk, w)
        val_loss = problem.data_loss(w, X_val, Y_val)
        grad_lambda, grad_poison = torch.autograd.grad(
            val_loss, [lam, X_poison], allow_unused=True
        )
    if grad_lambda is None:  # steps == 0: w_T = w_0 does not depend on λ
        grad_lambda = torch.zeros_like(log_lambda)
    if grad_poison is None:
        grad_poison = X.new_zeros((n_poison, X.shape[1]))
    result = HypergradResult(val_loss.detach(), grad_lambda, grad_poison, w.detach())
    status = result_status(problem, w0, result, log_lambda, X, Y, lr=lr, Y_val=Y_val)
    raise_if_diverged(status, steps=steps, lr=lr,
                      inputs=named_inputs(w0, log_lambda, X, Y, X_val, Y_val))
    return result
