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

Proximal L1 steps (``problem.proximal``) soft-threshold the data step,
``w' = S(w - lr grad L_data(w), lr alpha)``, in place. Their reverse step
first masks the adjoint, ``a <- m_{t+1} a`` with ``m_{t+1} = (w_{t+1} != 0) |
(lr alpha = 0)``, then pulls it through ``I - lr H_data(w_t)``; the λ term
takes ``sign(w_{t+1})``. Their tapes keep ``w_{t+1}`` of the last step too
(``steps + 1`` iterates; ``keep_last`` of
:meth:`~skpoison.hypergrad._unroll.BlockTape.start`).
"""

from __future__ import annotations

import torch

from ..hypergrad._prox import soft_threshold_
from ..hypergrad._unroll import BlockTape, Unroll, fast_loops, ordinary
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
        self._prepare(self.lr)

    def _prepare(self, lr_rows):
        """What every step reuses; ``lr_rows``: ``lr`` shaped to scale a row of weights."""
        penalty = self.problem.penalty
        self.l1 = penalty.kind == "l1"
        self.prox = self.problem.proximal
        self.alpha = penalty.alpha(self.log_lambda)
        self._lr_rows = lr_rows
        lr_alpha = lr_rows * self.alpha
        # L1 steps subtract lr_alpha * sign(w), L2 steps scale by shrink: keep one of them.
        self.lr_alpha = lr_alpha if self.l1 else None
        self.shrink = None if self.l1 else 1.0 - lr_alpha
        # Proximal steps: the thresholds' negative, and where they are nonzero.
        self.neg_lr_alpha = -lr_alpha if self.prox else None
        self.thresholded = lr_alpha != 0 if self.prox else None
        # (a float: dividing by an int converts it to a tensor first, a kernel per
        # step; the same divisor, the same bits)
        self.n = float(self.X.shape[-2])
        self._grad = None   # gradient / H a buffer shared by all steps (one loop at a time)

    def _gradient_buffer(self, w):
        """The ``(n_params,)`` buffer every step concatenates its gradient into."""
        grad = self._grad
        if grad is None or grad.dtype != w.dtype or grad.device != w.device:
            grad = self._grad = torch.empty_like(w)
        return grad

    # -- what one problem and K batched problems compute differently -------------
    def _data_gradient(self, w):
        """``grad L_data(w)`` (in the shared buffer), the pre-activations, the probabilities."""
        layers = self.problem.unflatten(w)
        pre, hidden, scores = calculus.forward(layers, self.X)
        P = calculus.activation(scores)
        pieces, _ = calculus.backward(layers, pre, hidden, (P - self.Y) / self.n)
        del hidden, scores
        return torch.cat(pieces, dim=-1, out=self._gradient_buffer(w)), pre, P

    def _data_hvp(self, w, cache, a, need_hvp):
        """``(H_data a, poison term)`` at ``w`` from its tape entry (``H a`` only if needed)."""
        layers, pre, hidden, P, deltas = self.problem._expand_cache(w, cache, self.X, self.Y)
        pieces, mixed_poison = calculus.directional(
            layers, self.problem.unflatten(a), pre, hidden, P, deltas, self.n, self.n_poison)
        del hidden, deltas
        hvp = torch.cat(pieces, dim=-1, out=self._gradient_buffer(a)) if need_hvp else None
        return hvp, mixed_poison

    def _sub_lr_times(self, target, x):
        """``target -= lr * x``, in place."""
        return target.add_(x, alpha=-self.lr)

    def _lambda_gradient(self, penalty_term):
        """``-lr * sum_group alpha * penalty_term`` (``penalty_term`` is overwritten)."""
        return self.problem.penalty.group_sum(penalty_term.mul_(self.alpha)) * -self._lr_rows

    # -- loops -------------------------------------------------------------------
    def _step(self, w, out=None):
        """``w_{t+1}`` (into ``out``, or new), the pre-activations, the probabilities.

        The gradient is concatenated into the buffer kept across steps and the
        update ``(w - lr * dR(w)) - lr * grad`` formed in ``out``: the same
        operations, in the same order, as ``torch.add(w * shrink, grad,
        alpha=-lr)``, without its two parameter-sized temporaries. Proximal
        steps form ``w - lr * grad`` in ``out`` and soft-threshold it in place.
        """
        grad, pre, P = self._data_gradient(w)
        if out is None:
            out = torch.empty_like(w)
        if self.prox:
            z = self._sub_lr_times(out.copy_(w), grad)
            return soft_threshold_(z, self.lr_alpha, self.neg_lr_alpha), pre, P
        if self.l1:
            torch.addcmul(w, self.lr_alpha, torch.sign(w), value=-1.0, out=out)
        else:
            torch.mul(w, self.shrink, out=out)
        return self._sub_lr_times(out, grad), pre, P

    def train(self, w0, steps):
        # Two buffers used in turn (w0 itself is never written): no allocation per step.
        w, spare = w0, None
        with fast_loops(w0):
            for _ in range(steps):
                w_next = self._step(w, spare)[0]
                spare = None if w is w0 else w
                w = w_next
        return ordinary(w)

    def forward(self, w0, steps, *, reuse=None, capacity=None):
        """``(w_T, tape)``; ``reuse``: a spent tape to overwrite, ``capacity``: room to make.

        The tape (:class:`~skpoison.hypergrad._unroll.BlockTape`) is one block
        of iterates and one block per recorded activation (not tensors per
        step), so that a checkpointed reverse pass can hand the tape of the
        segment it has just reversed back as ``reuse`` and record every
        segment into the same memory. Proximal steps record ``w_T`` in the
        tape too (its last row) and return a copy of it.
        """
        if not steps:
            return w0.clone(), BlockTape.start(reuse, w0, steps, capacity,
                                               keep_last=self.prox)
        with fast_loops(w0):
            tape = BlockTape.start(reuse, w0, steps, capacity, keep_last=self.prox)
            W = tape.W
            for t in range(steps):
                # w_T itself goes to a new tensor, not into the tape (which is reused),
                # except for proximal steps, whose reverse pass reads it from the tape.
                last = t + 1 == steps and not self.prox
                w, pre, P = self._step(W[t], None if last else W[t + 1])
                tape.record(t, (pre, P))
        # (proximal: a copy of the tape's row, made outside inference mode)
        return (w.clone() if self.prox else ordinary(w)), tape

    def backward(self, tape, a, *, return_adjoint=False):
        with fast_loops(a):
            grads = self._reverse(tape, a, return_adjoint)
        return tuple(ordinary(g) for g in grads)

    def _reverse(self, tape, a, return_adjoint):
        if self.prox:
            return self._reverse_prox(tape, a, return_adjoint)
        # sum_t dR(w_t) * a_t, accumulated on the fly: no (T, n_params) adjoint tape.
        penalty_term = torch.zeros_like(a)
        X = self.X
        grad_poison = X.new_zeros((*X.shape[:-2], self.n_poison, X.shape[-1]))
        sign = torch.empty_like(a) if self.l1 else None
        adjoint = None   # this function's own adjoint buffer (the caller's ``a`` is not written)
        for t in range(tape.steps - 1, -1, -1):
            w = tape.W[t]
            need_adjoint = bool(t or return_adjoint)  # that of w_0 itself is rarely needed
            hvp, mixed_poison = self._data_hvp(w, tape.cache(t), a, need_adjoint)
            self._sub_lr_times(grad_poison, mixed_poison)
            # dR(w_t): w_t itself for L2 (no copy), sign(w_t) for L1.
            penalty_term.addcmul_(torch.sign(w, out=sign) if self.l1 else w, a)
            if need_adjoint:
                if adjoint is None:
                    adjoint = a.clone() if self.l1 else a * self.shrink
                elif not self.l1:
                    adjoint.mul_(self.shrink)
                a = self._sub_lr_times(adjoint, hvp)
        grad_lambda = self._lambda_gradient(penalty_term)
        if return_adjoint:
            return grad_lambda, grad_poison, a
        return grad_lambda, grad_poison

    def _reverse_prox(self, tape, a, return_adjoint):
        """:meth:`_reverse` for proximal steps (the module docstring's masked adjoints)."""
        penalty_term = torch.zeros_like(a)
        X = self.X
        grad_poison = X.new_zeros((*X.shape[:-2], self.n_poison, X.shape[-1]))
        sign = torch.empty_like(a)
        adjoint = a.clone()   # (the caller's ``a`` is not written)
        for t in range(tape.steps - 1, -1, -1):
            w_next = tape.W[t + 1]
            # m_{t+1} a: 0 where the threshold zeroed w_{t+1}
            adjoint.masked_fill_(torch.eq(w_next, 0).logical_and_(self.thresholded), 0.0)
            need_adjoint = bool(t or return_adjoint)
            hvp, mixed_poison = self._data_hvp(tape.W[t], tape.cache(t), adjoint, need_adjoint)
            self._sub_lr_times(grad_poison, mixed_poison)
            penalty_term.addcmul_(torch.sign(w_next, out=sign), adjoint)
            if need_adjoint:
                self._sub_lr_times(adjoint, hvp)
        grad_lambda = self._lambda_gradient(penalty_term)
        if return_adjoint:
            return grad_lambda, grad_poison, adjoint
        return grad_lambda, grad_poison


class BatchedMLPUnroll(MLPUnroll):
    """``K`` independent :class:`MLPUnroll` problems as one batched computation.

    ``log_lambda`` is ``(K, n_hyper)``, ``X`` ``(K, n, n_features)``, ``Y``
    ``(K, n, n_outputs)``; iterates and adjoints are ``(K, n_params)``.
    :class:`MLPUnroll`'s loops and hand-written derivatives run unchanged on
    the stacked problems (every product a batched one, ``bmm``): the iterate,
    the gradient and the adjoint of the ``K`` problems live in reused buffers,
    the penalty weights are formed once, and tapes are recycled by a
    checkpointed pass. Only the learning rate differs: a float, or a ``(K,)``
    tensor as :func:`~skpoison.hypergrad.batched_hypergradient` checks them.

    Examples
    --------
    >>> import torch
    >>> from skpoison.models import MLPProblem
    >>> problem = MLPProblem(2, (3,), 1)
    >>> X = torch.rand(4, 5, 2, dtype=torch.float64)
    >>> Y = (torch.rand(4, 5, 1) < 0.5).to(torch.float64)
    >>> unroll = problem.batched_unroll(torch.zeros(4, 1, dtype=torch.float64), X, Y,
    ...                                 lr=0.5, n_poison=2)
    >>> w0 = problem.init_params(torch.Generator().manual_seed(0)).expand(4, -1)
    >>> w_T, tape = unroll.forward(w0, 3)
    >>> [g.shape for g in unroll.backward(tape, torch.ones_like(w_T))]
    [torch.Size([4, 1]), torch.Size([4, 2, 2])]
    """

    def __init__(self, problem, log_lambda, X, Y, *, lr, n_poison=0):
        # (Unroll.__init__ takes one float rate: set the rate(s) afterwards.)
        Unroll.__init__(self, problem, log_lambda, X, Y, lr=0.0, n_poison=n_poison)
        per_problem = isinstance(lr, torch.Tensor) and lr.dim() == 1
        self.lr = lr.to(X) if per_problem else float(lr)   # (X's dtype and device)
        self._prepare(self.lr[:, None] if per_problem else self.lr)

    def _sub_lr_times(self, target, x):
        if isinstance(self.lr, torch.Tensor):   # one rate per problem (leading dimension)
            # (in place, without an x * lr temporary per step)
            return target.addcmul_(x, self.lr.view(-1, *(1,) * (x.dim() - 1)), value=-1.0)
        return target.add_(x, alpha=-self.lr)
