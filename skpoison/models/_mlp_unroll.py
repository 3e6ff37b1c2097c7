"""Unrolled gradient descent and reverse pass for the MLP, written by hand.

The tape keeps, per step, the iterate, the pre-activations of the hidden
layers and the output probabilities (``n * (sum(hidden) + n_outputs)``
numbers); the reverse step recomputes the cheap rest (hidden outputs, deltas)
and applies the R-operator of :mod:`._mlp_derivatives`: two ``n x d x h_1``
products, as many as a training step.

Memory: the parameter-sized vectors of the loops (the gradient, the next
iterate, the adjoint) live in buffers reused from step to step and updated in
place, and a tape is one block per recorded quantity that a checkpointed
reverse pass records every segment into (``forward(..., reuse=tape)``): on
long unrolls fresh parameter-sized temporaries at every step, and a fresh
tape per segment, fragment the heap (glibc) and grow the resident set well
beyond what is alive. In-place updates only touch tensors the loops own
(never the caller's ``w0`` or adjoint).
"""

from __future__ import annotations

import torch

from ..hypergrad._unroll import BlockTape, Unroll
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

    #: :meth:`forward` can record over a spent tape (``reuse=``, ``capacity=``);
    #: the checkpointed reverse pass (``hypergrad._checkpoint``) checks this flag.
    recycles_tapes = True

    def __init__(self, problem, log_lambda, X, Y, *, lr, n_poison=0):
        super().__init__(problem, log_lambda, X, Y, lr=lr, n_poison=n_poison)
        penalty = problem.penalty
        self.l1 = penalty.kind == "l1"
        self.alpha = penalty.alpha(log_lambda)
        lr_alpha = self.lr * self.alpha
        # L1 steps subtract lr_alpha * sign(w), L2 steps scale by shrink: keep one of them.
        self.lr_alpha = lr_alpha if self.l1 else None
        self.shrink = None if self.l1 else 1.0 - lr_alpha
        self.n = X.shape[0]
        self._grad = None   # gradient / H a buffer shared by all steps (one loop at a time)

    def _gradient_buffer(self, w):
        """The ``(n_params,)`` buffer every step concatenates its gradient into."""
        grad = self._grad
        if grad is None or grad.dtype != w.dtype or grad.device != w.device:
            grad = self._grad = torch.empty_like(w)
        return grad

    def _step(self, w, out=None):
        """``w_{t+1}`` (into ``out``, or new), the pre-activations, the probabilities.

        The gradient is concatenated into the buffer kept across steps and the
        update ``(w - lr * dR(w)) - lr * grad`` formed in ``out``: the same
        operations, in the same order, as ``torch.add(w * shrink, grad,
        alpha=-lr)``, without its two parameter-sized temporaries.
        """
        layers = self.problem.unflatten(w)
        pre, hidden, scores = calculus.forward(layers, self.X)
        P = calculus.activation(scores)
        pieces, _ = calculus.backward(layers, pre, hidden, (P - self.Y) / self.n)
        del hidden, scores
        grad = torch.cat(pieces, out=self._gradient_buffer(w))
        del pieces
        if out is None:
            out = torch.empty_like(w)
        if self.l1:
            torch.addcmul(w, self.lr_alpha, torch.sign(w), value=-1.0, out=out)
        else:
            torch.mul(w, self.shrink, out=out)
        return out.add_(grad, alpha=-self.lr), pre, P

    def train(self, w0, steps):
        # Two buffers used in turn (w0 itself is never written): no allocation per step.
        w, spare = w0, None
        for _ in range(steps):
            w_next = self._step(w, spare)[0]
            spare = None if w is w0 else w
            w = w_next
        return w

    def forward(self, w0, steps, *, reuse=None, capacity=None):
        """``(w_T, tape)``; ``reuse``: a spent tape to overwrite, ``capacity``: room to make.

        The tape (:class:`~skpoison.hypergrad._unroll.BlockTape`) is one block
        of iterates and one block per recorded activation (not tensors per
        step), so that a checkpointed reverse pass can hand the tape of the
        segment it has just reversed back as ``reuse`` and record every
        segment into the same memory.
        """
        tape = BlockTape.start(reuse, w0, steps, capacity)
        if not steps:
            return w0.clone(), tape
        W = tape.W
        for t in range(steps):
            # w_T itself goes to a new tensor, not into the tape (which is reused).
            w, pre, P = self._step(W[t], W[t + 1] if t + 1 < steps else None)
            tape.record(t, (pre, P))
        return w, tape

    def backward(self, tape, a, *, return_adjoint=False):
        penalty = self.problem.penalty
        # sum_t dR(w_t) * a_t, accumulated on the fly: no (T, n_params) adjoint tape.
        penalty_term = torch.zeros_like(a)
        grad_poison = self.X.new_zeros((self.n_poison, self.X.shape[1]))
        unflatten = self.problem.unflatten
        sign = torch.empty_like(a) if self.l1 else None
        adjoint = None   # this function's own adjoint buffer (the caller's ``a`` is not written)
        for t in range(tape.steps - 1, -1, -1):
            w = tape.W[t]
            layers, pre, hidden, P, deltas = self.problem._expand_cache(
                w, tape.cache(t), self.X, self.Y)
            pieces, mixed_poison = calculus.directional(
                layers, unflatten(a), pre, hidden, P, deltas, self.n, self.n_poison
            )
            del hidden, deltas
            grad_poison.add_(mixed_poison, alpha=-self.lr)
            # dR(w_t): w_t itself for L2 (no copy), sign(w_t) for L1.
            penalty_term.addcmul_(torch.sign(w, out=sign) if self.l1 else w, a)
            if t or return_adjoint:  # the adjoint of w_0 itself is rarely needed
                hvp = torch.cat(pieces, out=self._gradient_buffer(a))
                del pieces
                if adjoint is None:
                    adjoint = a.clone() if self.l1 else a * self.shrink
                elif not self.l1:
                    adjoint.mul_(self.shrink)
                a = adjoint.add_(hvp, alpha=-self.lr)
        grad_lambda = -self.lr * penalty.group_sum(penalty_term.mul_(self.alpha))
        if return_adjoint:
            return grad_lambda, grad_poison, a
        return grad_lambda, grad_poison

