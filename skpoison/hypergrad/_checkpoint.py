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

The recomputed iterates are bitwise those of the first pass (the same
kernels on the same inputs), so checkpointed hypergradients equal the plain
ones up to the order in which per-segment sums are added.
"""

from __future__ import annotations

import math

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
        lengths = []
        for k in items:
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(
                    f"checkpoint_every={checkpoint_every!r}: segment lengths must be "
                    "positive ints.")
            lengths.append(k)
        if any(b >= a for a, b in zip(lengths, lengths[1:])):
            raise ValueError(
                f"checkpoint_every={checkpoint_every!r}: nested segment lengths must "
                "decrease.")
    # A level whose segments cover all of the steps checkpoints nothing.
    return [k for k in lengths if k < steps]


class _Plan:
    """The stored state of ``steps`` steps from ``w``: a tape or checkpoints."""

    __slots__ = ("tape", "checkpoints", "length", "last")


def _plan(unroll, w, steps, lengths):
    """Run ``steps`` steps from ``w``; return ``(w_end, plan)``.

    With no level left the steps are recorded in full (``plan.tape``);
    otherwise the start of every segment but the last is stored and the last
    segment is planned at the next level (it is reversed first, so it is kept).
    """
    plan = _Plan()
    if not lengths or lengths[0] >= steps:
        plan.checkpoints = None
        w_end, plan.tape = unroll.forward(w, steps)
        return w_end, plan
    k = lengths[0]
    n_full = (steps - 1) // k          # segments before the last one
    checkpoints = aligned_rows(w, n_full, w.numel())
    for i in range(n_full):
        checkpoints[i].copy_(w)
        w = unroll.train(w, k)
    plan.tape, plan.checkpoints, plan.length = None, checkpoints, k
    w_end, plan.last = _plan(unroll, w, steps - n_full * k, lengths[1:])
    return w_end, plan


def _reverse(unroll, plan, a, lengths, need_adjoint):
    """Pull ``a`` back through a plan; returns ``(g_lambda, g_poison, a_start)``."""
    if plan.checkpoints is None:
        tape, plan.tape = plan.tape, None   # drop the plan's reference: freed after use
        return unroll.backward(tape, a, return_adjoint=need_adjoint) + (
            () if need_adjoint else (None,))
    checkpoints, k = plan.checkpoints, plan.length
    last, plan.last = plan.last, None
    n_full = checkpoints.shape[0]
    grad_lambda, grad_poison, a = _reverse(unroll, last, a, lengths[1:],
                                           need_adjoint or n_full > 0)
    del last
    for i in range(n_full - 1, -1, -1):
        _, segment = _plan(unroll, checkpoints[i], k, lengths[1:])
        g_lambda, g_poison, a = _reverse(unroll, segment, a, lengths[1:],
                                         need_adjoint or i > 0)
        del segment
        grad_lambda = grad_lambda + g_lambda
        grad_poison = grad_poison + g_poison
    return grad_lambda, grad_poison, a


def checkpointed_forward(unroll, w0, steps, lengths):
    """``(w_T, plan)``: the forward pass storing what :func:`checkpointed_backward` needs."""
    return _plan(unroll, w0, steps, lengths)


def checkpointed_backward(unroll, plan, a, lengths):
    """``(grad_log_lambda, grad_X_poison)`` from a plan and ``a = dL_val/dw_T``."""
    grad_lambda, grad_poison, _ = _reverse(unroll, plan, a, lengths, False)
    return grad_lambda, grad_poison
