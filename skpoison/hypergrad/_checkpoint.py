"""Checkpointed reverse pass: bounded memory for long unrolls.

Plain reverse mode stores all ``T`` iterates (and each step's cache), so its
memory grows as ``T * (n_params + cache)``. Checkpointing stores only every
``k``-th iterate during the forward pass; the reverse pass then walks the
segments from last to first, recomputes each segment's ``k`` steps forward
from its checkpoint (recording a tape for those ``k`` steps only) and pulls
the adjoint back through it. Memory: ``ceil(T / k)`` iterates plus one
segment's tape; time: one extra forward pass (the last segment is recorded on
the first pass and never recomputed). ``k = ceil(sqrt(T))`` minimises the sum.

Nested levels (``checkpoint_every=(k1, k2, ...)``, decreasing) apply the same
idea inside every segment: a segment of ``k1`` steps is itself checkpointed
every ``k2`` steps, and so on; only the innermost segments are recorded in
full. Each level costs one more forward pass and divides the memory again
(``"cbrt"``: ``(T^{2/3}, T^{1/3})``, three passes, ``~3 T^{1/3}`` iterates).

The checkpoints of each level live in one block and the tapes are recorded
over each other (see :class:`_Workspace`): the memory is allocated by the
first pass and reused by the reverse pass.

The recomputed iterates are bitwise those of the first pass (the same
kernels on the same inputs), so checkpointed hypergradients equal the plain
ones up to the order in which per-segment sums are added.
"""

from __future__ import annotations

import math
from numbers import Integral

from ._unroll import aligned_rows

CHECKPOINT_SCHEDULES = ("sqrt", "cbrt")


def segment_lengths(checkpoint_every, steps):
    """Resolve ``checkpoint_every`` into decreasing segment lengths (outermost first).

    Parameters
    ----------
    checkpoint_every : None, int, sequence of int, "sqrt" or "cbrt"
        ``None``: store every iterate (no checkpointing). ``k``: store every
        ``k``-th iterate. ``(k1, k2, ...)``: nested levels. ``"sqrt"``:
        ``ceil(sqrt(T))``. ``"cbrt"``: ``(ceil(T^{2/3}), ceil(T^{1/3}))``.
    steps : int
        ``T``.

    Returns
    -------
    list of int
        Empty when nothing is checkpointed.

    Examples
    --------
    >>> segment_lengths("sqrt", 1000), segment_lengths("cbrt", 1000)
    ([32], [100, 10])
    >>> segment_lengths(None, 50), segment_lengths(10, 50), segment_lengths((100, 10), 50)
    ([], [10], [10])
    """
    if checkpoint_every is None:
        return []
    if isinstance(checkpoint_every, str):
        if checkpoint_every not in CHECKPOINT_SCHEDULES:
            raise ValueError(
                f"checkpoint_every={checkpoint_every!r} is not supported; use None, a "
                f"positive int, a decreasing sequence of them, or one of "
                f"{CHECKPOINT_SCHEDULES}.")
        if checkpoint_every == "sqrt":
            lengths = [math.ceil(math.sqrt(steps))]
        else:
            lengths = [math.ceil(steps ** (2 / 3) - 1e-9), math.ceil(steps ** (1 / 3) - 1e-9)]
    else:
        if isinstance(checkpoint_every, (list, tuple)):
            items = list(checkpoint_every)
        else:
            items = [checkpoint_every]
        if not items:
            raise ValueError(f"checkpoint_every={checkpoint_every!r} is empty; use None for "
                             "no checkpointing.")
        lengths = []
        for k in items:
            if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
                raise ValueError(
                    f"checkpoint_every={checkpoint_every!r}: segment lengths must be "
                    "positive ints.")
            lengths.append(int(k))
        if any(b >= a for a, b in zip(lengths, lengths[1:])):
            raise ValueError(
                f"checkpoint_every={checkpoint_every!r}: nested segment lengths must "
                "decrease.")
    # A level whose segments cover all of the steps checkpoints nothing.
    return [k for k in lengths if k < steps]


class _Plan:
    """The stored state of ``steps`` steps from ``w``: a tape or checkpoints."""

    __slots__ = ("tape", "checkpoints", "length", "inner", "last")


class _Workspace:
    """The memory a checkpointed pass reuses: one checkpoint block per level, one tape.

    Only one plan per level is alive at a time (a segment is planned once the
    one after it has been reversed) and only one tape, so the checkpoints of
    every segment of a level go to that level's block, and every tape is
    recorded over the one reversed before it when the unroll can do so
    (``recycles_tapes``: ``forward(w, steps, reuse=tape, capacity=k)``, as
    :class:`~skpoison.models.MLPProblem`'s unroll does). The reverse pass then
    allocates nothing but per-step temporaries of fixed sizes, which the heap
    recycles. (Allocating them afresh for every segment fragmented glibc's
    heap: on the CIFAR-sized MLP of ``benchmarks/bench_memory.py`` the
    resident set grew ~20 MiB above the ~27 MiB of checkpoints and tape.)
    """

    __slots__ = ("blocks", "spare", "recycles", "tape_capacity")

    def __init__(self, unroll, w0, steps, lengths):
        # A plan at level i runs at most k_{i-1} steps (k_{-1} = T), so it
        # stores (k_{i-1} - 1) // k_i checkpoints at most; a tape, k_last steps.
        # (Rows of w0's shape: a batched unroll's iterates are (K, n_params).)
        self.blocks = [aligned_rows(w0, (n - 1) // k, w0.numel()).view(-1, *w0.shape)
                       for n, k in zip([steps, *lengths], lengths)]
        self.recycles = bool(getattr(unroll, "recycles_tapes", False))
        self.tape_capacity = lengths[-1] if lengths else steps
        self.spare = None

    def checkpoints(self, lengths, n):
        """``n`` rows of the block of the level that ``lengths`` (the levels left) names."""
        return self.blocks[len(self.blocks) - len(lengths)][:n]

    def forward(self, unroll, w, steps):
        """``unroll.forward(w, steps)``, over the spare tape when there is one."""
        if not self.recycles:
            return unroll.forward(w, steps)
        spare, self.spare = self.spare, None
        return unroll.forward(w, steps, reuse=spare, capacity=self.tape_capacity)


def _plan(unroll, w, steps, lengths, space):
    """Run ``steps`` steps from ``w``; return ``(w_end, plan)``.

    With no level left the steps are recorded in full (``plan.tape``);
    otherwise the start of every segment but the last is stored and the last
    segment is planned at the next level (it is reversed first, so it is kept).
    """
    plan = _Plan()
    while lengths and lengths[0] >= steps:   # levels whose segment covers the steps
        lengths = lengths[1:]
    if not lengths:
        plan.checkpoints = None
        w_end, plan.tape = space.forward(unroll, w, steps)
        return w_end, plan
    k = lengths[0]
    n_full = (steps - 1) // k          # segments before the last one
    checkpoints = space.checkpoints(lengths, n_full)
    for i in range(n_full):
        checkpoints[i].copy_(w)
        w = unroll.train(w, k)
    plan.tape, plan.checkpoints, plan.length, plan.inner = None, checkpoints, k, lengths[1:]
    w_end, plan.last = _plan(unroll, w, steps - n_full * k, plan.inner, space)
    return w_end, plan


def _reverse(unroll, plan, box, need_adjoint, space):
    """Pull the adjoint back through a plan; returns ``(g_lambda, g_poison)``.

    The adjoint travels in ``box``, a one-item list: taken out for the
    segment being reversed and put back (when ``need_adjoint``) for the one
    before, so that no frame above keeps a spent adjoint alive.
    """
    if plan.checkpoints is None:
        tape, plan.tape = plan.tape, None   # drop the plan's reference
        result = unroll.backward(tape, box.pop(), return_adjoint=need_adjoint)
        if space.recycles:
            space.spare = tape              # the next segment is recorded over it
        if need_adjoint:
            box.append(result[2])
        return result[0], result[1]
    checkpoints, k, inner = plan.checkpoints, plan.length, plan.inner
    last, plan.last = plan.last, None
    n_full = checkpoints.shape[0]
    grad_lambda, grad_poison = _reverse(unroll, last, box, need_adjoint or n_full > 0, space)
    del last
    for i in range(n_full - 1, -1, -1):
        segment = _plan(unroll, checkpoints[i], k, inner, space)[1]   # (w_end: unused)
        g_lambda, g_poison = _reverse(unroll, segment, box, need_adjoint or i > 0, space)
        del segment
        grad_lambda = grad_lambda + g_lambda
        grad_poison = grad_poison + g_poison
        del g_lambda, g_poison
    return grad_lambda, grad_poison


def checkpointed_forward(unroll, w0, steps, lengths):
    """``(w_T, saved)``: the forward pass; ``saved`` (the plan and its workspace) is
    what :func:`checkpointed_backward` needs."""
    space = _Workspace(unroll, w0, steps, lengths)
    w_end, plan = _plan(unroll, w0, steps, lengths, space)
    return w_end, (plan, space)


def checkpointed_backward(unroll, saved, a):
    """``(grad_log_lambda, grad_X_poison)`` from :func:`checkpointed_forward`'s
    ``saved`` (which holds the schedule too) and ``a = dL_val/dw_T``.

    ``a`` is not written.
    """
    plan, space = saved
    return _reverse(unroll, plan, [a], False, space)
