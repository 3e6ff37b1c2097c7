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

from contextlib import nullcontext

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten


def aligned_rows(like, n_rows, n_cols):
    """Uninitialised ``(n_rows, n_cols)`` tensor whose rows start on 64-byte boundaries.

    BLAS kernels (MKL at least) round differently depending on the alignment
    of their operands; with every row aligned like a fresh allocation, a step
    computed on a row of a tape gives bitwise the result of the same step on a
    separate tensor (checkpointing relies on it), and vector loads are aligned.

    Examples
    --------
    >>> rows = aligned_rows(torch.zeros(1), 3, 5)
    >>> rows.shape, rows.stride()
    (torch.Size([3, 5]), (16, 1))
    """
    per_line = max(64 // like.element_size(), 1)
    stride = -(-n_cols // per_line) * per_line
    return like.new_empty((n_rows, stride))[:, :n_cols]


def fast_loops(like):
    """:func:`torch.inference_mode` where ``like`` lives on the CPU, else nothing.

    The models' hand-written loops (no autograd graph: they use ``out=``
    kernels) then skip autograd's per-operation bookkeeping: the same kernels,
    the same bits, 10–15 % less time per hypergradient on digits-sized data.
    What they hand back goes through :func:`ordinary`. On CUDA the loops
    replay captured graphs, where the bookkeeping costs nothing; they are
    left as they were (not even a caller's inference mode is switched off).
    """
    return torch.inference_mode() if like.device.type == "cpu" else nullcontext()


def ordinary(tensor):
    """``tensor``, or a copy made outside inference mode if it is an inference tensor.

    Callers may update what the loops return in place, or differentiate it,
    which an inference tensor forbids outside inference mode. (A tape that
    ``forward`` returns may hold inference tensors: it is for ``backward``.)
    """
    return tensor.clone() if tensor.is_inference() else tensor


def not_callers(w, w0):
    """``w``, or a copy of ``w0`` where ``w`` is ``w0`` itself (zero steps taken).

    A result must never be the caller's tensor: editing one would edit the other.
    Nor part of the caller's autograd graph: the copy is detached, as the
    iterates of a run of any length are (the loops run without a graph).
    """
    return w0.detach().clone() if w is w0 else w


def raise_proximal_unsupported(what):
    """Refuse a proximal problem (``problem.proximal``) where ``what`` has no prox steps."""
    raise ValueError(
        f"{what} differentiates gradient steps, not proximal L1 steps "
        "(l1_step='proximal'): use the model's own unroll (LinearProblem's or "
        "MLPProblem's unroll / batched_unroll), or l1_step='subgradient'.")


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
        if problem.proximal and type(self).backward is Unroll.backward:
            raise_proximal_unsupported("The generic Unroll")
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
        return not_callers(w, w0)

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
        return not_callers(w, w0), tape

    def backward(self, tape, a, *, return_adjoint=False):
        """Pull ``a = dL_val/dw_T`` back through the recorded steps.

        Parameters
        ----------
        tape : object
            What :meth:`forward` returned for these steps.
        a : Tensor of shape (n_params,)
            The adjoint of the tape's last iterate.
        return_adjoint : bool, default=False
            Also return the adjoint of the tape's first iterate (what a
            checkpointed reverse pass hands on to the segment before).

        Returns
        -------
        grad_log_lambda : Tensor of shape (n_hyper,)
        grad_X_poison : Tensor of shape (n_poison, n_features)
        adjoint : Tensor of shape (n_params,)
            Only with ``return_adjoint=True``.
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
        if return_adjoint:
            return grad_lambda, grad_poison, a
        return grad_lambda, grad_poison


class BlockTape:
    """A recorded stretch of steps: one block per recorded quantity, not tensors per step.

    Holds the iterates ``w_0 .. w_{T-1}`` (``w_0 .. w_T`` when started with
    ``keep_last=True``: proximal steps' reverse pass reads each step's next
    iterate) in one block of rows (each row
    aligned like a fresh tensor: see :func:`aligned_rows`) and every tensor of
    a step's cache (any nesting of lists, tuples and tensors) in one block of
    its own, ``capacity`` steps long, of which the first ``steps`` are in use.
    A checkpointed reverse pass hands a spent tape back to the unroll, which
    records the next segment over it (:meth:`start`): one allocation for all
    segments, instead of tensors freed and reallocated per step, which
    fragment the heap.

    Examples
    --------
    >>> w0 = torch.zeros(2, 3)
    >>> tape = BlockTape.start(None, w0, steps=4)
    >>> tape.W.shape, tape.capacity
    (torch.Size([4, 2, 3]), 4)
    >>> tape.record(0, ([torch.ones(5)], torch.full((2,), 7.0)))
    >>> tape.cache(0)
    ([tensor([1., 1., 1., 1., 1.])], tensor([7., 7.]))
    >>> BlockTape.start(tape, w0, steps=3) is tape
    True
    """

    __slots__ = ("W", "blocks", "spec", "steps", "extra")

    def __init__(self, W, extra=0):
        self.W, self.blocks, self.spec, self.steps = W, None, None, 0
        self.extra = extra   # iterate rows beyond one per step (1: w_T kept too)

    @classmethod
    def start(cls, reuse, w0, steps, capacity=None, *, keep_last=False):
        """A tape for ``steps`` steps from ``w0``, with ``w0`` as its first row.

        ``reuse`` when it has room for ``steps`` steps like ``w0``, else a new
        tape; ``capacity`` (at least ``steps``) sizes a new tape for longer
        stretches to come. ``reuse`` is overwritten: its owner must be done
        with it. ``keep_last``: one more iterate row, for ``w_T`` (the step
        caches still have ``capacity`` rows).
        """
        tape, extra = reuse, int(keep_last)
        if (tape is None or tape.capacity < steps or tape.extra != extra
                or tape.W.dtype != w0.dtype or tape.W.device != w0.device
                or tape.W.shape[1:] != w0.shape):
            rows = max(steps, capacity or 0) + extra
            tape = cls(aligned_rows(w0, rows, w0.numel()).view(rows, *w0.shape), extra)
        tape.steps = steps
        if steps:
            tape.W[0].copy_(w0)
        return tape

    @property
    def capacity(self):
        """The steps this tape has room for."""
        return self.W.shape[0] - self.extra

    def record(self, t, cache):
        """Copy step ``t``'s cache into the blocks.

        Steps are recorded from ``t = 0``; the blocks are made then when this
        tape has none yet, or none that fit the cache (a reused tape meeting
        a cache of another structure, shape or dtype).
        """
        leaves, spec = tree_flatten(cache)
        if t == 0 and not self._fits(leaves, spec):
            self.blocks = None   # (free the old blocks before making the new ones)
            self.blocks = [leaf.new_empty((self.capacity, *leaf.shape)) for leaf in leaves]
            self.spec = spec
        for block, leaf in zip(self.blocks, leaves):
            block[t].copy_(leaf)

    def _fits(self, leaves, spec):
        return self.blocks is not None and spec == self.spec and all(
            block.shape[1:] == leaf.shape and block.dtype == leaf.dtype
            and block.device == leaf.device for block, leaf in zip(self.blocks, leaves))

    def cache(self, t):
        """Step ``t``'s cache, as recorded (views of the blocks)."""
        if self.spec is None:
            return None
        return tree_unflatten([block[t] for block in self.blocks], self.spec)
