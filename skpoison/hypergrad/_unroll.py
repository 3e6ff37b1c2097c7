"""The unrolled inner solver bound to its hyperparameters and data.

:class:`Unroll` runs the ``T`` gradient-descent steps of an
:class:`~skpoison.hypergrad.InnerProblem` (plain, or recording a tape) and the
reverse pass over that tape. Binding ``(log_lambda, X, Y, lr)`` once lets a
model precompute what every step reuses (penalty weights, an augmented design
matrix, ...) and run both loops with as few tensor operations as possible; the
generic implementation here only uses the problem's
:meth:`~skpoison.hypergrad.InnerProblem.forward_step` and
:meth:`~skpoison.hypergrad.InnerProblem.reverse_step`. Models with closed forms
return a faster subclass from :meth:`~skpoison.hypergrad.InnerProblem.unroll`.
"""

from __future__ import annotations

import torch


class Unroll:
    """``T`` steps of gradient descent on ``L_tr(.; log_lambda, X, Y)``.

    Parameters
    ----------
    problem : InnerProblem
    log_lambda : Tensor of shape (n_hyper,)
    X, Y : Tensor
        Training set; its last ``n_poison`` rows are the poisoning points.
    lr : float
        Learning rate of the inner gradient descent.
    n_poison : int, default=0

    Examples
    --------
    >>> import torch
    >>> from skpoison.models import LinearProblem
    >>> from skpoison.hypergrad import Unroll
    >>> problem = LinearProblem(2, 1)
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    >>> unroll = Unroll(problem, torch.zeros(1, dtype=torch.float64), X, Y, lr=1.0)
    >>> w_T, tape = unroll.forward(problem.init_params(), 3)
    >>> grad_lambda, grad_poison = unroll.backward(tape, torch.ones_like(w_T))
    >>> grad_lambda.shape, grad_poison.shape
    (torch.Size([1]), torch.Size([0, 2]))
    """

    def __init__(self, problem, log_lambda, X, Y, *, lr, n_poison=0):
        self.problem = problem
        self.log_lambda = log_lambda
        self.X, self.Y = X, Y
        self.lr = float(lr)
        self.n_poison = int(n_poison)

    def train(self, w0, steps):
        """``w_T`` after ``steps`` steps from ``w0`` (nothing recorded)."""
        w = w0
        for _ in range(steps):
            w, _ = self.problem.forward_step(w, self.log_lambda, self.X, self.Y, self.lr)
        return w

    def forward(self, w0, steps):
        """``(w_T, tape)``; the tape holds what :meth:`backward` needs."""
        tape = []
        w = w0
        for _ in range(steps):
            w_next, cache = self.problem.forward_step(
                w, self.log_lambda, self.X, self.Y, self.lr
            )
            tape.append((w, cache))
            w = w_next
        return w, tape

    def backward(self, tape, a):
        """Pull ``a = dL_val/dw_T`` back through the recorded steps.

        Returns
        -------
        grad_log_lambda : Tensor of shape (n_hyper,)
        grad_X_poison : Tensor of shape (n_poison, n_features)
        """
        problem, lr = self.problem, self.lr
        grad_lambda = torch.zeros_like(self.log_lambda)
        grad_poison = self.X.new_zeros((self.n_poison, self.X.shape[1]))
        for w_t, cache in reversed(tape):
            hvp, mixed_lambda, mixed_poison = problem.reverse_step(
                w_t, cache, self.log_lambda, self.X, self.Y, self.n_poison, a
            )
            grad_lambda = grad_lambda - lr * mixed_lambda
            grad_poison = grad_poison - lr * mixed_poison
            a = a - lr * hvp
        return grad_lambda, grad_poison
