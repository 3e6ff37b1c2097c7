"""K independent hypergradient problems as one batched computation.

Repetitions with different data of the same shape, a grid of λ, random
restarts: ``K`` problems that share a model and the shapes of their data run
as one computation, each step a batched kernel (the model's own stacked loops
where it has them, ``problem.batched_unroll``: the linear models and the MLP; else
``torch.func.vmap`` over the problem's closed-form, out-of-place
``forward_step`` / ``reverse_step``, :class:`_VmappedUnroll`) instead of ``K``
sequences of small kernels. Both have the loops of an
:class:`~skpoison.hypergrad.Unroll`, so checkpointing applies unchanged. On a
GPU the per-kernel launch cost is paid once for the ``K`` problems; on a CPU
the work is the same as ``K`` sequential calls, and once the stacked data no
longer fit in the cache together, or one problem's alone are large, the
problems run one after another instead (:func:`_one_by_one`), each keeping its
own data hot for all its steps.
"""

from __future__ import annotations

import numbers

import torch
from torch.func import vmap

from ._checks import check_inputs
from ._checkpoint import segment_lengths
from ._divergence import RunStatus, check_inner_run, raise_if_diverged
from ._input_values import named_inputs
from ._result import HypergradResult
from ._reverse import reverse_pass
from ._unroll import BlockTape, raise_proximal_unsupported


def _check_batched(tensor, K, name):
    if tensor.dim() < 2 or tensor.shape[0] != K:
        raise ValueError(f"{name} must have a leading dimension of size K={K}; "
                     f"got shape {tuple(tensor.shape)}.")


def batched_lr(lr, K, like):
    """The learning rate(s) of ``K`` batched problems: a float, or a ``(K,)`` tensor.

    A Python (or NumPy) real number, or a 0-d tensor, is one learning rate
    shared by the ``K`` problems and comes back as a float; a 1-D tensor or
    sequence holds one per problem and comes back as a tensor of ``like``'s
    dtype and device. Every learning rate must be finite and positive.

    Examples
    --------
    >>> X = torch.zeros(3, 4, 2, dtype=torch.float64)
    >>> batched_lr(0.5, 3, X)
    0.5
    >>> batched_lr([0.5, 1.0, 2.0], 3, X)
    tensor([0.5000, 1.0000, 2.0000], dtype=torch.float64)
    """
    if _not_real(lr):
        raise ValueError("lr must be a float or a 1-D tensor of K positive floats; got "
                         f"{lr!r}.")
    if isinstance(lr, torch.Tensor):
        lr = lr.detach()   # (a rate is a number: no graph, no warning on reading it)
    if not isinstance(lr, numbers.Real):
        try:
            lrs = torch.as_tensor(lr, dtype=like.dtype, device=like.device)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError("lr must be a float or a 1-D tensor of K positive floats; "
                             f"got {lr!r}.") from exc
    if isinstance(lr, numbers.Real) or lrs.dim() == 0:
        value = float(lr)
        if not 0.0 < value < float("inf"):
            raise ValueError(f"lr must be a finite positive number; got {value!r}.")
        return value
    if lrs.shape != (K,):
        raise ValueError(f"lr must be a float or have shape (K,) = ({K},), one learning "
                         f"rate per problem; got shape {tuple(lrs.shape)}.")
    if not bool((torch.isfinite(lrs) & (lrs > 0)).all()):     # one host synchronization
        raise ValueError(f"every learning rate must be finite and positive; got "
                         f"lr={lrs.tolist()}.")
    return lrs


def _not_real(lr):
    """Whether ``lr`` is, or holds, a bool or a complex number (no learning rate).

    ``torch.as_tensor`` would read ``True`` as 1.0 and drop an imaginary part;
    the single-problem functions refuse both.
    """
    if isinstance(lr, (bool, complex)):
        return True
    if isinstance(lr, torch.Tensor):
        return lr.dtype == torch.bool or lr.is_complex()
    kind = getattr(getattr(lr, "dtype", None), "kind", None)   # NumPy arrays and scalars
    if kind is not None:
        return kind in "bc"
    if isinstance(lr, (list, tuple)):
        return any(_not_real(value) for value in lr)
    return False


def _lr_text(lr, problems):
    """``inner_lr=0.5``, or the learning rates of ``problems``: ``inner_lr=[0.5, 2]``."""
    if isinstance(lr, torch.Tensor):
        return "inner_lr=[" + ", ".join(f"{float(lr[k]):g}" for k in problems) + "]"
    return f"inner_lr={lr:g}"


def _describe(K, lr):
    """Names the diverged problems among ``K`` in an :class:`InnerDivergenceError`."""
    return lambda bad: (f" for problems {bad} of {K}", _lr_text(lr, bad))


def _broadcast(X, w0, log_lambda, *others):
    """``K``, and ``w0`` / ``log_lambda`` expanded to ``K`` rows where 1-D (shared)."""
    if X.dim() != 3:
        raise ValueError(f"X must have shape (K, n, n_features); got {tuple(X.shape)}.")
    K = X.shape[0]
    if K == 0:
        raise ValueError("X holds no problem (K = 0): stack at least one along its first "
                         "dimension.")
    if w0.dim() == 1:
        w0 = w0.expand(K, -1)
    if log_lambda.dim() == 1:
        log_lambda = log_lambda.expand(K, -1)
    for tensor, name in ((w0, "w0"), (log_lambda, "log_lambda"), *others):
        _check_batched(tensor, K, name)
    return K, w0, log_lambda


def _vmapped_forward_step(problem, lr):
    """``problem.forward_step`` over ``K`` problems: ``f(w, log_lambda, X, Y)``.

    A ``None`` cache (the generic :class:`~skpoison.hypergrad.InnerProblem`'s)
    comes back as ``()``: ``vmap`` returns tensors and containers of them only.
    """
    def forward_step(w, lam, x, y, rate):
        w_next, cache = problem.forward_step(w, lam, x, y, rate)
        return w_next, (() if cache is None else cache)

    if isinstance(lr, torch.Tensor):
        step = vmap(forward_step)
        return lambda w, lam, x, y: step(w, lam, x, y, lr)
    step = vmap(forward_step, in_dims=(0, 0, 0, 0, None))
    return lambda w, lam, x, y: step(w, lam, x, y, lr)


class _VmappedUnroll:
    """:class:`~skpoison.hypergrad.Unroll`'s loops over ``K`` problems, by ``vmap``.

    For models without stacked loops of their own (``problem.batched_unroll``):
    each step is ``torch.func.vmap`` of the problem's closed-form, out-of-place
    ``forward_step`` / ``reverse_step``. Iterates and adjoints are ``(K,
    n_params)``; ``lr`` is a float or a ``(K,)`` tensor (already checked).
    Tapes are :class:`BlockTape` blocks that a checkpointed pass records over.
    """

    recycles_tapes = True

    def __init__(self, problem, log_lambda, X, Y, *, lr, n_poison=0):
        if problem.proximal:
            raise_proximal_unsupported("The vmapped batched unroll")
        self.log_lambda, self.X, self.Y = log_lambda, X, Y
        self.n_poison = n_poison
        self._forward_step = _vmapped_forward_step(problem, lr)

        def reverse_step(w, cache, lam, x, y, a):
            if isinstance(cache, tuple) and not cache:   # () stands for None
                cache = None
            return problem.reverse_step(w, cache, lam, x, y, n_poison, a)

        self._reverse_step = vmap(reverse_step)
        if isinstance(lr, torch.Tensor):   # one per problem: broadcast over each row
            self._lr_rows, self._lr_blocks = lr[:, None], lr[:, None, None]
        else:
            self._lr_rows = self._lr_blocks = lr

    def train(self, w0, steps):
        w = w0
        for _ in range(steps):
            w, _ = self._forward_step(w, self.log_lambda, self.X, self.Y)
        return w

    def forward(self, w0, steps, *, reuse=None, capacity=None):
        """``(w_T, tape)``, recorded into a :class:`BlockTape` (over ``reuse`` if it fits)."""
        tape = BlockTape.start(reuse, w0, steps, capacity)
        if not steps:
            return w0.clone(), tape
        W = tape.W
        for t in range(steps):
            w, cache = self._forward_step(W[t], self.log_lambda, self.X, self.Y)
            tape.record(t, cache)
            if t + 1 < steps:
                W[t + 1].copy_(w)
        return w, tape

    def backward(self, tape, a, *, return_adjoint=False):
        X, K = self.X, self.X.shape[0]
        grad_lambda = torch.zeros_like(self.log_lambda)
        grad_poison = X.new_zeros((K, self.n_poison, X.shape[2]))
        for t in range(tape.steps - 1, -1, -1):
            hvp, mixed_lambda, mixed_poison = self._reverse_step(
                tape.W[t], tape.cache(t), self.log_lambda, X, self.Y, a)
            grad_lambda = grad_lambda - self._lr_rows * mixed_lambda
            grad_poison = grad_poison - self._lr_blocks * mixed_poison
            a = a - self._lr_rows * hvp
        return (grad_lambda, grad_poison, a) if return_adjoint else (grad_lambda, grad_poison)


# Stacked features (twice: a design and its transposed copy, or the
# activations) beyond this size no longer fit a CPU's last-level cache
# together; measured on the 2-core development CPU (32 MiB L3), lock step
# wins up to about 12 MiB (LR, K = 10: 0.3x the loop's time on digits, 0.93x
# at 200 x 784) and loses beyond (2.5x at 500 x 784, 2.8x at 1000 x 784).
_CPU_LOCKSTEP_BYTES = 16 * 2**20

# One problem's features (counted twice, as above) beyond this size lose in
# lock step even when the stack fits the cache: the batched attack on MNIST
# (784 features, T = 100, float32, one thread) took 1.2x the one-by-one time
# at K = 2 and 1000 rows (6 MiB each), 1.07-1.1x at K = 2-4 and 500 rows
# (3 MiB each); at 250-350 rows (1.5-2.1 MiB) the two were within 7 %
# either way.
_CPU_LOCKSTEP_PROBLEM_BYTES = 2 * 2**20


def _one_by_one(X):
    """Whether ``K`` stacked problems run one after another instead of in lock step.

    On the CPU, once the stacked data exceed :data:`_CPU_LOCKSTEP_BYTES`, or
    one problem's exceed :data:`_CPU_LOCKSTEP_PROBLEM_BYTES`: a step in lock
    step multiplies by all ``K`` designs, which then stream from memory (or a
    farther cache) at every step, while one problem's design stays in the
    cache for all of its ``T`` steps. Each problem's results are then bitwise
    those of its own single call.
    """
    problem_bytes = 2 * X[0].numel() * X.element_size()
    return X.device.type == "cpu" and (X.shape[0] * problem_bytes > _CPU_LOCKSTEP_BYTES
                                       or problem_bytes > _CPU_LOCKSTEP_PROBLEM_BYTES)


def _single_unrolls(problem, log_lambda, X, Y, *, lr, n_poison=0):
    """The ``K`` problems' own single-problem unrolls (a per-problem rate read on the CPU)."""
    rates = lr.tolist() if isinstance(lr, torch.Tensor) else [lr] * X.shape[0]
    return [problem.unroll(log_lambda[k], X[k], Y[k], lr=rates[k], n_poison=n_poison)
            for k in range(X.shape[0])], rates


def _reverse_one_by_one(problem, w0, log_lambda, X, Y, X_val, Y_val, *, lr, n_poison, steps,
                        lengths):
    """:func:`reverse_pass` problem by problem; results and verdicts stacked."""
    unrolls, rates = _single_unrolls(problem, log_lambda, X, Y, lr=lr, n_poison=n_poison)
    runs = [reverse_pass(problem, unroll, w0[k], log_lambda[k], X[k], Y[k], X_val[k], Y_val[k],
                         steps=steps, lr=rates[k], lengths=lengths)
            for k, unroll in enumerate(unrolls)]
    result = HypergradResult(*(torch.stack(field) for field in zip(*(r[:4] for r, _ in runs))))
    statuses = [status for _, status in runs]

    def stacked(name):
        values = [getattr(status, name) for status in statuses]
        return None if values[0] is None else torch.stack(values).reshape(-1)

    return result, RunStatus(*(stacked(name) for name in RunStatus._fields))


def _batched_unroll(problem, log_lambda, X, Y, *, lr, n_poison=0):
    """The model's own stacked loops (bmm) where it has them, else :class:`_VmappedUnroll`."""
    make = getattr(problem, "batched_unroll", None)
    if make is None:
        return _VmappedUnroll(problem, log_lambda, X, Y, lr=lr, n_poison=n_poison)
    return make(log_lambda, X, Y, lr=lr, n_poison=n_poison)


def batched_train(problem, w0, log_lambda, X, Y, *, steps, lr):
    """Plain ``steps``-step gradient descent of ``K`` independent problems at once.

    The batched counterpart of :func:`~skpoison.hypergrad.train`: nothing is
    recorded. Uses the model's own stacked loops where it has them
    (``problem.batched_unroll``: the linear models and the MLP), else
    ``torch.func.vmap`` over :meth:`~skpoison.hypergrad.InnerProblem.forward_step`.

    Parameters
    ----------
    problem : InnerProblem
        Shared by the ``K`` problems (same model, same λ groups).
    w0 : Tensor of shape (K, n_params) or (n_params,)
        Starting points; one shared by all when 1-D.
    log_lambda : Tensor of shape (K, n_hyper) or (n_hyper,)
        Hyperparameters; one shared by all when 1-D.
    X, Y : Tensor of shape (K, n, n_features), (K, n, n_outputs)
        Training sets.
    steps : int
    lr : float or Tensor of shape (K,)
        Learning rate of the inner gradient descent: one shared by all, or
        one per problem (a 1-D tensor or sequence of ``K`` positive floats).

    Returns
    -------
    w_T : Tensor of shape (K, n_params)
        Row ``k`` equals ``train(problem, w0[k], log_lambda[k], X[k], Y[k],
        steps=steps, lr=lr[k])`` (up to rounding).

    Raises
    ------
    ValueError
        If the shapes do not stack to ``K >= 1`` problems, the tensors are not
        float32 or float64, or a learning rate is not finite and positive; also
        where a problem came out NaN/inf because its inputs hold NaN/inf or its
        ``exp(log_lambda)`` overflows (the error names the input and problems),
        or its targets are not those of the built-in models' loss (as in
        :func:`~skpoison.hypergrad.compute_hypergradient`).
    InnerDivergenceError
        If the descent diverged for any of the problems (checked once, at the
        end).

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import batched_train
    >>> from skpoison.models import LinearProblem
    >>> from skpoison.hypergrad import train
    >>> problem = LinearProblem(2, 1)
    >>> X = torch.rand(3, 6, 2, dtype=torch.float64)            # K = 3 problems
    >>> Y = (torch.rand(3, 6, 1) < 0.5).to(torch.float64)
    >>> lam = torch.zeros(1, dtype=torch.float64)               # shared
    >>> lrs = torch.tensor([0.1, 0.5, 1.0], dtype=torch.float64)  # one per problem
    >>> W = batched_train(problem, problem.init_params(), lam, X, Y, steps=20, lr=lrs)
    >>> W.shape
    torch.Size([3, 3])
    >>> w2 = train(problem, problem.init_params(), lam, X[2], Y[2], steps=20, lr=1.0)
    >>> torch.allclose(W[2], w2)
    True
    """
    K, w0, log_lambda = _broadcast(X, w0, log_lambda, (Y, "Y"))
    check_inputs(problem, w0, log_lambda, X, Y, steps=steps, batched=True)
    lr, steps = batched_lr(lr, K, X), int(steps)
    with torch.no_grad():
        if _one_by_one(X):
            unrolls, _ = _single_unrolls(problem, log_lambda, X, Y, lr=lr)
            w = torch.stack([unroll.train(w0[k], steps) for k, unroll in enumerate(unrolls)])
        else:
            w = _batched_unroll(problem, log_lambda, X, Y, lr=lr).train(w0, steps)
    # one host synchronization, after the loop
    check_inner_run(problem, w0, w, log_lambda, X, Y, steps=steps, lr=lr,
                    describe=_describe(K, lr), inputs=named_inputs(w0, log_lambda, X, Y))
    # (steps = 0: never the caller's tensor, nor a broadcast view of it, nor part
    # of its autograd graph)
    return w.detach().clone() if steps == 0 else w


def batched_hypergradient(problem, w0, log_lambda, X, Y, X_val, Y_val, *, n_poison=0,
                          steps, lr, method="rmd", checkpoint_every=None):
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
    n_poison : int, default=0
        Poisoning points among the training rows (the last ``n_poison``).
    steps : int
        Inner gradient-descent steps, shared.
    lr : float, or Tensor or sequence of shape (K,)
        Inner learning rate: one shared by all, or one per problem (a 1-D
        tensor or sequence of ``K`` finite positive floats; row ``k`` of the
        result is then that of ``compute_hypergradient(..., lr=lr[k])``).
    method : {"rmd"}, default="rmd"
        Reverse mode (the only batched method).
    checkpoint_every : None, int, sequence of int, "sqrt" or "cbrt", default=None
        Bounded memory, as in :func:`~skpoison.hypergrad.reverse_hypergradient`:
        store every ``k``-th iterate of the ``K`` problems and recompute the
        segments in the reverse pass.

    Returns
    -------
    HypergradResult
        Every field with a leading dimension ``K``: ``val_loss (K,)``,
        ``grad_log_lambda (K, n_hyper)``, ``grad_X_poison (K, n_poison,
        n_features)``, ``params (K, n_params)``.

    Raises
    ------
    ValueError
        If ``method`` is not ``"rmd"``, the shapes do not stack to ``K >= 1``
        problems, the tensors are not float32 or float64, or a learning rate is
        not finite and positive; also where a problem came out NaN/inf because
        its inputs hold NaN/inf or its ``exp(log_lambda)`` overflows (the error
        names the input and problems), or its targets are not those of the
        built-in models' loss (as in :func:`~skpoison.hypergrad.compute_hypergradient`).
    InnerDivergenceError
        If the inner descent diverged for any of the problems (checked once,
        after the forward pass).
    HypergradientOverflowError
        If the descent stayed finite but the validation loss or the reverse
        pass overflowed for any of the problems (features too large for the
        dtype).

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import batched_hypergradient
    >>> from skpoison.models import LinearProblem
    >>> problem = LinearProblem(2, 1)
    >>> X = torch.rand(4, 6, 2, dtype=torch.float64)            # K = 4 problems
    >>> Y = (torch.rand(4, 6, 1) < 0.5).to(torch.float64)
    >>> res = batched_hypergradient(problem, problem.init_params(),
    ...     torch.zeros(4, 1, dtype=torch.float64), X, Y, X, Y, n_poison=2, steps=10, lr=0.5)
    >>> res.grad_log_lambda.shape, res.grad_X_poison.shape
    (torch.Size([4, 1]), torch.Size([4, 2, 2]))
    >>> lrs = torch.tensor([0.1, 0.2, 0.5, 1.0], dtype=torch.float64)   # one per problem
    >>> res = batched_hypergradient(problem, problem.init_params(),
    ...     torch.zeros(4, 1, dtype=torch.float64), X, Y, X, Y, n_poison=2, steps=10, lr=lrs)
    >>> res.params.shape
    torch.Size([4, 3])
    """
    if method != "rmd":
        raise ValueError(f"method={method!r} is not supported by batched_hypergradient; "
                         "use 'rmd'.")
    K, w0, log_lambda = _broadcast(X, w0, log_lambda, (Y, "Y"), (X_val, "X_val"),
                                   (Y_val, "Y_val"))
    check_inputs(problem, w0, log_lambda, X, Y, X_val, Y_val, n_poison=n_poison, steps=steps,
                 batched=True)
    lr, n_poison, steps = batched_lr(lr, K, X), int(n_poison), int(steps)
    return stacked_reverse(problem, w0, log_lambda, X, Y, X_val, Y_val, n_poison=n_poison,
                           steps=steps, lr=lr, lengths=segment_lengths(checkpoint_every, steps))


def stacked_reverse(problem, w0, log_lambda, X, Y, X_val, Y_val, *, n_poison, steps, lr,
                    lengths):
    """:func:`batched_hypergradient` on checked arguments: the pass and its one host read.

    ``w0`` and ``log_lambda`` are ``(K, ...)`` (broadcast), ``lr`` as
    :func:`batched_lr` returns it and ``lengths`` as
    :func:`~skpoison.hypergrad._checkpoint.segment_lengths` does. For callers
    that check once and call again and again
    (:class:`~skpoison.hypergrad.GraphedHypergradient` run eagerly): a
    per-problem rate is not read back at every call.
    """
    with torch.no_grad():
        if _one_by_one(X):
            result, status = _reverse_one_by_one(problem, w0, log_lambda, X, Y, X_val, Y_val,
                                                 lr=lr, n_poison=n_poison, steps=steps,
                                                 lengths=lengths)
        else:
            unroll = _batched_unroll(problem, log_lambda, X, Y, lr=lr, n_poison=n_poison)
            result, status = reverse_pass(problem, unroll, w0, log_lambda, X, Y, X_val, Y_val,
                                          steps=steps, lr=lr, lengths=lengths)
    raise_if_diverged(status, steps=steps, lr=lr, describe=_describe(X.shape[0], lr),
                      inputs=named_inputs(w0, log_lambda, X, Y, X_val, Y_val))
    return result
