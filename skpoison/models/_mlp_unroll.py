"""Unrolled gradient descent and reverse pass for the MLP, written by hand.

The tape keeps, per step, the iterate, the pre-activations of the hidden
layers and the output probabilities (``n * (sum(hidden) + n_outputs)``
numbers); the reverse step recomputes the cheap rest (hidden outputs, deltas)
and applies the R-operator of :mod:`._mlp_derivatives`: two ``n x d x h_1``
products, as many as a training step.
"""

from __future__ import annotations

import torch

from ..hypergrad._unroll import Unroll, aligned_rows
from . import _mlp_derivatives as calculus


class MLPUnroll(Unroll):
    """:class:`~skpoison.hypergrad.Unroll` specialised to :class:`MLPProblem`.

    Examples
    --------
    >>> import torch
    >>> from skpoison.models import MLPProblem
    >>> problem = MLPProblem(2, (3,), 1)
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    >>> unroll = problem.unroll(torch.zeros(1, dtype=torch.float64), X, Y, lr=1.0)
    >>> type(unroll).__name__
    'MLPUnroll'
    """

    def __init__(self, problem, log_lambda, X, Y, *, lr, n_poison=0):
        super().__init__(problem, log_lambda, X, Y, lr=lr, n_poison=n_poison)
        penalty = problem.penalty
        self.l1 = penalty.kind == "l1"
        self.alpha = penalty.alpha(log_lambda)
        self.lr_alpha = self.lr * self.alpha
        self.shrink = 1.0 - self.lr_alpha
        self.n = X.shape[0]

    def _start(self, w):
        """``w - lr * penalty gradient``."""
        if self.l1:
            return torch.addcmul(w, self.lr_alpha, torch.sign(w), value=-1.0)
        return w * self.shrink

    def _step(self, w, out=None):
        layers = self.problem.unflatten(w)
        pre, hidden, scores = calculus.forward(layers, self.X)
        P = calculus.activation(scores)
        pieces, _ = calculus.backward(layers, pre, hidden, (P - self.Y) / self.n)
        return torch.add(self._start(w), torch.cat(pieces), alpha=-self.lr, out=out), pre, P

    def train(self, w0, steps):
        w = w0
        for _ in range(steps):
            w = self._step(w)[0]
        return w

    def forward(self, w0, steps):
        W = aligned_rows(w0, steps + 1, w0.numel())
        W[0] = w0
        rows, records = W.unbind(0), []
        for t in range(steps):
            _, pre, P = self._step(rows[t], out=rows[t + 1])
            records.append((pre, P))
        # (a copy: a view would keep the whole tape alive as long as w_T)
        return rows[steps].clone(), (W[:steps], records)

    def backward(self, tape, a, *, return_adjoint=False):
        W, records = tape
        steps = W.shape[0]
        penalty = self.problem.penalty
        # sum_t dR(w_t) * a_t, accumulated on the fly: no (T, n_params) adjoint tape.
        penalty_term = torch.zeros_like(a)
        grad_poison = self.X.new_zeros((self.n_poison, self.X.shape[1]))
        unflatten = self.problem.unflatten
        for t in range(steps - 1, -1, -1):
            pre, P = records[t]
            layers = unflatten(W[t])
            hidden = [self.X] + [torch.nn.functional.leaky_relu(Z, calculus.NEGATIVE_SLOPE)
                                 for Z in pre]
            deltas = calculus.deltas(layers, pre, (P - self.Y) / self.n)
            pieces, mixed_poison = calculus.directional(
                layers, unflatten(a), pre, hidden, P, deltas, self.n, self.n_poison
            )
            grad_poison.add_(mixed_poison, alpha=-self.lr)
            penalty_term.addcmul_(penalty.dR(W[t]), a)
            if t or return_adjoint:  # the adjoint of w_0 itself is rarely needed
                start = a if self.l1 else a * self.shrink
                a = torch.add(start, torch.cat(pieces), alpha=-self.lr)
        grad_lambda = -self.lr * penalty.group_sum(self.alpha * penalty_term)
        if return_adjoint:
            return grad_lambda, grad_poison, a
        return grad_lambda, grad_poison
