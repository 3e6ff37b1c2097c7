"""Reverse-mode hypergradients through T steps of gradient descent (Alg. 1)."""

from __future__ import annotations

import torch
from torch.func import vmap

from ._checks import check_inputs
from ._checkpoint import checkpointed_backward, checkpointed_forward, segment_lengths
from ._divergence import raise_if_diverged, result_status
from ._input_values import named_inputs
from ._result import HypergradResult


def reverse_hypergradient(problem, w0, log_lambda, X, Y, X_val, Y_val, *, n_poison,
                          steps, lr, checkpoint_every=None):
    """Hypergradients by reverse-mode differentiation of the unrolled solver.

    The forward pass stores the trajectory ``w_0 .. w_{T-1}`` (and whatever
    the problem caches per step); the reverse pass walks it backwards::

        a = grad L_val(w_T)
        for t = T-1 .. 0:
            g_lambda -= lr * (d_lambda grad L_tr(w_t))^T a
            g_X      -= lr * (d_X      grad L_tr(w_t))^T a
            a        -= lr * H(w_t) a

    Memory is ``O(T * n_params)`` unless ``checkpoint_every`` is set; there is
    no host synchronization in either loop. The loops are the problem's
    :class:`~skpoison.hypergrad.Unroll` (see
    :meth:`~skpoison.hypergrad.InnerProblem.unroll`).

    Parameters
    ----------
    problem, w0, log_lambda, X, Y, X_val, Y_val, n_poison, steps, lr
        As in :func:`~skpoison.hypergrad.compute_hypergradient` (``n_poison``
        required).
    checkpoint_every : None, int, sequence of int, "sqrt" or "cbrt", default=None
        ``None`` stores every iterate. An int ``k`` stores every ``k``-th
        iterate and recomputes each segment of ``k`` steps during the reverse
        pass (one extra forward pass; memory ``ceil(T / k)`` iterates plus
        ``k`` steps' tape). ``"sqrt"`` is ``k = ceil(sqrt(T))``. A decreasing
        sequence ``(k1, k2, ...)`` nests the levels (one extra forward pass
        each); ``"cbrt"`` is ``(ceil(T^{2/3}), ceil(T^{1/3}))``. The result
        equals the stored-trajectory one up to the order of summation.

    Returns
    -------
    HypergradResult

    Raises
    ------
    ValueError
        If the inputs are not float32 or float64 tensors or their shapes
        disagree; also where the run came out NaN/inf because an input holds
        NaN/inf or ``exp(log_lambda)`` overflows: the error names that input.
    InnerDivergenceError
        The inner run diverged (NaN/inf parameters, an unstable L2 rate, a
        training objective that rose).
    HypergradientOverflowError
        The run stayed finite but the validation loss or the reverse pass
        overflowed (features too large for the dtype).

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import reverse_hypergradient
    >>> from skpoison.models import LinearProblem
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 2.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0], [1.0], [0.0]], dtype=torch.float64)
    >>> problem = LinearProblem(2, 1)
    >>> args = (problem, problem.init_params(), torch.zeros(1, dtype=torch.float64), X, Y, X, Y)
    >>> stored = reverse_hypergradient(*args, n_poison=1, steps=30, lr=0.5)
    >>> saved = reverse_hypergradient(*args, n_poison=1, steps=30, lr=0.5,
    ...                               checkpoint_every="sqrt")
    >>> stored.grad_X_poison.shape
    torch.Size([1, 2])
    >>> torch.allclose(stored.grad_log_lambda, saved.grad_log_lambda)
    True
    """
    check_inputs(problem, w0, log_lambda, X, Y, X_val, Y_val, n_poison=n_poison, steps=steps,
                 lr=lr)
    lengths = segment_lengths(checkpoint_every, steps)
    with torch.no_grad():
        unroll = problem.unroll(log_lambda, X, Y, lr=lr, n_poison=n_poison)
        result, status = reverse_pass(problem, unroll, w0, log_lambda, X, Y, X_val, Y_val,
                                      steps=steps, lr=lr, lengths=lengths)
    raise_if_diverged(status, steps=steps, lr=lr,
                      inputs=named_inputs(w0, log_lambda, X, Y, X_val, Y_val))
    return result


def reverse_pass(problem, unroll, w0, log_lambda, X, Y, X_val, Y_val, *, steps, lr, lengths):
    """The device work of reverse mode, with no host read: what a CUDA graph captures.

    Forward pass (stored or checkpointed, ``lengths`` from
    :func:`~skpoison.hypergrad._checkpoint.segment_lengths`), the run's
    :class:`~skpoison.hypergrad._divergence.RunStatus`, the validation gradient
    and the reverse pass, for one problem or ``K`` stacked ones (``w0`` of
    shape ``(K, n_params)``). The caller decides on the status (one host
    read), after the pass: a diverged run costs a wasted reverse pass, not
    a second synchronization.

    Returns
    -------
    result : HypergradResult
    status : RunStatus
    """
    if lengths:
        w, saved = checkpointed_forward(unroll, w0, steps, lengths)
    else:
        w, tape = unroll.forward(w0, steps)
    loss_and_grad = vmap(problem.loss_and_grad) if w0.dim() == 2 else problem.loss_and_grad
    val_loss, a = loss_and_grad(w, X_val, Y_val)
    if lengths:
        grad_lambda, grad_poison = checkpointed_backward(unroll, saved, a)
    else:
        grad_lambda, grad_poison = unroll.backward(tape, a)
    result = HypergradResult(val_loss, grad_lambda, grad_poison, w)
    return result, result_status(problem, w0, result, log_lambda, X, Y, lr=lr, Y_val=Y_val)
