"""K independent hypergradient problems as one batched computation.

Repetitions with different data of the same shape, a grid of λ, random
restarts: ``K`` problems that share a model and the shapes of their data run
as one computation, each step a batched kernel (``torch.func.vmap`` over the
problem's closed-form, out-of-place ``forward_step`` / ``reverse_step``, or
the model's own stacked loops where it has them, ``problem.batched_unroll``:
the linear models) instead of ``K`` sequences of small kernels. On a GPU the per-kernel launch cost is paid once for the ``K``
problems; on a CPU the work is the same as ``K`` sequential calls.
"""

from __future__ import annotations

import torch
from torch.func import vmap

from ._result import HypergradResult, InnerDivergenceError


def _check_batched(tensor, K, name):
    if tensor.dim() < 2 or tensor.shape[0] != K:
        raise ValueError(f"{name} must have a leading dimension of size K={K}; "
                     f"got shape {tuple(tensor.shape)}.")


def _check_finite(w, K, steps, lr):
    """One host synchronization, after the forward pass."""
    finite = torch.isfinite(w).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().tolist()
        raise InnerDivergenceError(
            f"The inner gradient descent diverged for problems {bad} of {K} (NaN/inf "
            f"parameters after {steps} steps with inner_lr={lr:g}). The inner "
            "learning rate is most likely too large for this data: lower inner_lr "
            "or scale the features.")


def batched_hypergradient(problem, w0, log_lambda, X, Y, X_val, Y_val, *, n_poison=0,
                          steps, lr, method="rmd"):
    """Reverse-mode hypergradients of ``K`` independent problems at once.

    Parameters
    ----------
    problem : InnerProblem
        Shared by the ``K`` problems (same model, same λ groups).
    w0 : Tensor of shape (K, n_params) or (n_params,)
        Starting points; one shared by all when 1-D.
    log_lambda : Tensor of shape (K, n_hyper) or (n_hyper,)
        Hyperparameters; one shared by all when 1-D.
    X, Y : Tensor of shape (K, n, n_features), (K, n, n_outputs)
        Training sets; the last ``n_poison`` rows of each are its poisoning points.
    X_val, Y_val : Tensor of shape (K, m, n_features), (K, m, n_outputs)
        Validation sets.
    n_poison : int
    steps, lr : int, float
        The inner solver, shared.
    method : {"rmd"}
        Reverse mode (the only batched method).

    Returns
    -------
    HypergradResult
        Every field with a leading dimension ``K``: ``val_loss (K,)``,
        ``grad_log_lambda (K, n_hyper)``, ``grad_X_poison (K, n_poison,
        n_features)``, ``params (K, n_params)``.

    Raises
    ------
    InnerDivergenceError
        If the inner descent diverged for any of the problems (checked once,
        after the forward pass).

    Examples
    --------
    >>> import torch
    >>> from skpoison.models import LinearProblem
    >>> problem = LinearProblem(2, 1)
    >>> X = torch.rand(4, 6, 2, dtype=torch.float64)            # K = 4 problems
    >>> Y = (torch.rand(4, 6, 1) < 0.5).to(torch.float64)
    >>> res = batched_hypergradient(problem, problem.init_params(),
    ...     torch.zeros(4, 1, dtype=torch.float64), X, Y, X, Y, n_poison=2, steps=10, lr=0.5)
    >>> res.grad_log_lambda.shape, res.grad_X_poison.shape
    (torch.Size([4, 1]), torch.Size([4, 2, 2]))
    """
    if method != "rmd":
        raise ValueError(f"method={method!r} is not supported by batched_hypergradient; "
                         "use 'rmd'.")
    if X.dim() != 3:
        raise ValueError(f"X must have shape (K, n, n_features); got {tuple(X.shape)}.")
    K = X.shape[0]
    if w0.dim() == 1:
        w0 = w0.expand(K, -1)
    if log_lambda.dim() == 1:
        log_lambda = log_lambda.expand(K, -1)
    for tensor, name in ((w0, "w0"), (log_lambda, "log_lambda"), (Y, "Y"),
                         (X_val, "X_val"), (Y_val, "Y_val")):
        _check_batched(tensor, K, name)
    lr, n_poison = float(lr), int(n_poison)

    batched_unroll = getattr(problem, "batched_unroll", None)
    if batched_unroll is not None:   # the model's own stacked loops (bmm)
        with torch.no_grad():
            unroll = batched_unroll(log_lambda, X, Y, lr=lr, n_poison=n_poison)
            w, tape = unroll.forward(w0, steps)
            _check_finite(w, K, steps, lr)
            val_loss, a = vmap(problem.loss_and_grad)(w, X_val, Y_val)
            grad_lambda, grad_poison = unroll.backward(tape, a)
        return HypergradResult(val_loss, grad_lambda, grad_poison, w)

    def forward_step(w, lam, x, y):
        return problem.forward_step(w, lam, x, y, lr)

    def reverse_step(w, cache, lam, x, y, a):
        return problem.reverse_step(w, cache, lam, x, y, n_poison, a)

    forward_step, reverse_step = vmap(forward_step), vmap(reverse_step)
    with torch.no_grad():
        tape, w = [], w0
        for _ in range(steps):
            w_next, cache = forward_step(w, log_lambda, X, Y)
            tape.append((w, cache))
            w = w_next
        _check_finite(w, K, steps, lr)
        val_loss, a = vmap(problem.loss_and_grad)(w, X_val, Y_val)
        grad_lambda = torch.zeros_like(log_lambda)
        grad_poison = X.new_zeros((K, n_poison, X.shape[2]))
        while tape:
            w_t, cache = tape.pop()
            hvp, mixed_lambda, mixed_poison = reverse_step(w_t, cache, log_lambda, X, Y, a)
            grad_lambda = grad_lambda - lr * mixed_lambda
            grad_poison = grad_poison - lr * mixed_poison
            a = a - lr * hvp
    return HypergradResult(val_loss, grad_lambda, grad_poison, w)
