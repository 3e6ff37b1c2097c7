"""Reverse-mode hypergradients replayed from a captured CUDA graph.

On a GPU a T-step loop of MNIST-sized problems is launch-bound: on an H100,
100 logistic-regression steps take 5.7 ms, about 11 µs per kernel, most of
it the host launching kernels that finish at once. The loops that matter call
the same hypergradient again and again with tensors of the same shapes (the
outer steps of a fit or of an attack). :class:`GraphedHypergradient` captures
the whole reverse pass of such a call once (the unroll's set-up, the forward
pass, the divergence verdicts, the validation gradient and the reverse pass:
:func:`~skpoison.hypergrad._reverse.reverse_pass`, which reads nothing back to
the host) and replays it for every later call. Inputs are copied into the
graph's static buffers and outputs cloned out of it; the divergence check
still reads its verdicts once per call, after the replay.
"""

from __future__ import annotations

import os
import threading

import torch

from ._batched import _batched_unroll, _broadcast, _describe, batched_lr, stacked_reverse
from ._checks import _as_int, check_inputs
from ._checkpoint import segment_lengths
from ._divergence import raise_if_diverged
from ._input_values import named_inputs
from ._result import HypergradResult
from ._reverse import reverse_hypergradient, reverse_pass
from ._warnings import warn

#: Set to ``0`` to run every hypergradient eagerly (debugging, profiling).
ENVIRONMENT_SWITCH = "SKPOISON_CUDA_GRAPHS"

# One capture at a time in this process (the threads of a thread-based sweep
# may each meet a new shape at once), and no replay during one: before torch
# 2.4 a replay reads the default CUDA generator, which a capture in another
# thread holds. Held for host calls only (a replay's launch takes microseconds).
_CAPTURE_LOCK = threading.Lock()


def capturable(problem):
    """Whether ``problem``'s own class declares its loops free of host reads.

    Read from the class itself, not inherited: a subclass of a built-in model
    may override a loss or the unroll with code that reads the host, so it
    opts in by declaring ``graph_capturable = True`` again.

    Examples
    --------
    >>> from skpoison.models import LinearProblem
    >>> class MyProblem(LinearProblem):
    ...     pass
    >>> capturable(LinearProblem(2, 1)), capturable(MyProblem(2, 1))
    (True, False)
    """
    return bool(type(problem).__dict__.get("graph_capturable", False))


def cuda_graphs_enabled():
    """Whether CUDA-graph replay is allowed (``SKPOISON_CUDA_GRAPHS`` is not ``0``).

    Examples
    --------
    >>> import os
    >>> os.environ.get("SKPOISON_CUDA_GRAPHS", "1") != "0" and cuda_graphs_enabled()
    True
    """
    return os.environ.get(ENVIRONMENT_SWITCH, "1") != "0"


class GraphedHypergradient:
    """Reverse-mode hypergradients of one setting, replayed from a CUDA graph.

    A call with tensors on a CUDA device captures the reverse pass into a
    CUDA graph the first time it meets a new combination of input shapes,
    dtypes and device (one eager warm-up pass, then the capture), and replays
    that graph from then on: only the copies of the inputs into the graph's
    buffers, the replay, the copies of the outputs and the divergence check's
    one host read remain per call. Calls with CPU tensors, calls for problems
    whose loops are not known to be free of host synchronization (see
    :func:`capturable`) and every call while the environment variable
    ``SKPOISON_CUDA_GRAPHS`` is ``0`` run
    :func:`~skpoison.hypergrad.reverse_hypergradient` (or
    :func:`~skpoison.hypergrad.batched_hypergradient`) eagerly instead, as do
    all calls after a capture failed (with a warning). The results are those
    of the eager functions: the same kernels on the same values. (Batched
    eager calls check per-problem rates at the first call, as a capture
    does, not at every call: one host read less per call.)

    The setting (``lr``, ``steps``, ...) is fixed for the object's life: a new
    setting needs a new object. Inputs are read, not differentiated (no
    autograd graph is recorded). Objects may be used from several threads at
    once, one object per thread (a thread-based sweep): captures and replays
    take turns on the host, and a capture runs in CUDA's thread-local mode,
    so other threads' eager CUDA work (kernels, allocations, host reads) goes
    on meanwhile. During a capture other threads must not draw from the
    default CUDA generator, call ``torch.cuda.empty_cache()`` or capture
    graphs of their own (skpoison does none of these).

    Parameters
    ----------
    problem : InnerProblem
    n_poison : int, default=0
    steps : int
    lr : float, or Tensor of shape (K,) when ``batched``
        Fixed for the object's life: the graph holds it.
    checkpoint_every : None, int, sequence of int, "sqrt" or "cbrt", default=None
        As in :func:`~skpoison.hypergrad.reverse_hypergradient`.
    batched : bool, default=False
        ``K`` stacked problems, as :func:`~skpoison.hypergrad.batched_hypergradient`.

    Attributes
    ----------
    n_captures_ : int
        Graphs captured so far (0 while every call ran eagerly).

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import GraphedHypergradient
    >>> from skpoison.models import LinearProblem
    >>> problem = LinearProblem(2, 1)
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0], [1.0]], dtype=torch.float64)
    >>> hypergradient = GraphedHypergradient(problem, n_poison=1, steps=20, lr=0.5)
    >>> res = hypergradient(problem.init_params(), torch.zeros(1, dtype=torch.float64),
    ...                     X, Y, X, Y)                       # CPU tensors: eager
    >>> res.grad_X_poison.shape, hypergradient.n_captures_
    (torch.Size([1, 2]), 0)
    """

    def __init__(self, problem, *, n_poison=0, steps, lr, checkpoint_every=None,
                 batched=False):
        self.problem = problem
        for name, value in (("n_poison", n_poison), ("steps", steps)):
            if _as_int(value) is None or _as_int(value) < 0:
                raise ValueError(f"{name} must be a non-negative int; got {value!r}.")
        self.n_poison, self.steps = _as_int(n_poison), _as_int(steps)
        self.lr = lr
        self.checkpoint_every = checkpoint_every
        self.batched = bool(batched)
        self.n_captures_ = 0
        self._key = self._graph = None
        self._capture_failed = False
        self._eager_key = self._eager_lr = self._eager_lengths = None

    def __call__(self, w0, log_lambda, X, Y, X_val, Y_val):
        """Validation loss and hypergradients at these inputs (a :class:`HypergradResult`)."""
        graphed = (X.device.type == "cuda" and cuda_graphs_enabled()
                   and capturable(self.problem) and not self._capture_failed)
        if not (graphed or self.batched):
            return self._eager(w0, log_lambda, X, Y, X_val, Y_val)
        if self.batched:
            K, w0, log_lambda = _broadcast(X, w0, log_lambda, (Y, "Y"), (X_val, "X_val"),
                                           (Y_val, "Y_val"))
        check_inputs(self.problem, w0, log_lambda, X, Y, X_val, Y_val, n_poison=self.n_poison,
                     steps=self.steps, lr=None if self.batched else self.lr,
                     batched=self.batched)
        inputs = (w0, log_lambda, X, Y, X_val, Y_val)
        if not graphed:
            return self._eager(*inputs)
        key = tuple((tuple(t.shape), t.dtype, t.device) for t in inputs)
        if key != self._key:
            try:
                self._capture(inputs, key)
            except RuntimeError as exc:   # e.g. a host read inside a user's model
                self._capture_failed = True
                # Ending a broken capture raises its own generic error; the
                # cause (the host read, say) is the one it interrupted.
                cause = exc.__context__ or exc
                warn(
                    f"CUDA graph capture failed ({cause}); reverse mode runs eagerly for "
                    "this setting. A failed capture may leave CUDA state (graph memory "
                    "pools, random generators) unusable for later captures in this "
                    "process: set SKPOISON_CUDA_GRAPHS=0 for models whose loss reads "
                    "tensor values on the host.", RuntimeWarning, stacklevel=2)
                return self._eager(*inputs)
        with _CAPTURE_LOCK, torch.no_grad():
            for buffer, value in zip(self._inputs, inputs):
                buffer.copy_(value)
            self._graph.replay()
        # Clones: the next replay overwrites the graph's outputs.
        result = HypergradResult(*(t.clone() for t in self._result[:4]))
        raise_if_diverged(self._status, steps=self.steps, lr=self._lr,
                          describe=_describe(K, self._lr) if self.batched else None,
                          inputs=named_inputs(*inputs))
        return result

    def _eager(self, *inputs):
        """The pass without a graph (batched: on inputs already broadcast and checked)."""
        if not self.batched:
            return reverse_hypergradient(self.problem, *inputs, n_poison=self.n_poison,
                                         steps=self.steps, lr=self.lr,
                                         checkpoint_every=self.checkpoint_every)
        X = inputs[2]
        key = (X.shape[0], X.dtype, X.device)
        if key != self._eager_key:
            # Per-problem rates are read back once (batched_lr), not at every call;
            # a copy, fixed as a graph fixes its own.
            lr = batched_lr(self.lr, X.shape[0], X)
            self._eager_lr = lr.clone() if isinstance(lr, torch.Tensor) else lr
            self._eager_lengths = segment_lengths(self.checkpoint_every, self.steps)
            self._eager_key = key
        return stacked_reverse(self.problem, *inputs, n_poison=self.n_poison,
                               steps=self.steps, lr=self._eager_lr,
                               lengths=self._eager_lengths)

    def _capture(self, inputs, key):
        self._key = self._graph = self._inputs = self._result = self._status = None  # free
        X = inputs[2]
        # A per-problem rate is checked (one host read) and fixed here, once: a
        # copy, which the graph reads, not the caller's tensor.
        lr = batched_lr(self.lr, X.shape[0], X) if self.batched else float(self.lr)
        lr = lr.clone() if isinstance(lr, torch.Tensor) else lr
        lengths = segment_lengths(self.checkpoint_every, self.steps)
        # Ordinary tensors even in a caller's inference mode: inference tensors
        # could not be copied into at the calls outside it.
        with torch.inference_mode(False):
            static = [t.detach().clone() for t in inputs]

        def run():
            w0, log_lambda, X, Y, X_val, Y_val = static
            with torch.no_grad():
                if self.batched:
                    unroll = _batched_unroll(self.problem, log_lambda, X, Y, lr=lr,
                                             n_poison=self.n_poison)
                else:
                    unroll = self.problem.unroll(log_lambda, X, Y, lr=lr,
                                                 n_poison=self.n_poison)
                return reverse_pass(self.problem, unroll, w0, log_lambda, X, Y, X_val, Y_val,
                                    steps=self.steps, lr=lr, lengths=lengths)

        with _CAPTURE_LOCK, torch.cuda.device(X.device):
            # Warm up off the capture stream: lazy initialisation (cuBLAS
            # handles and workspaces) must not happen inside the capture.
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                run()
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            # The outer context restores the caller's stream even when ending a
            # failed capture raises (torch.cuda.graph's exit would not).
            # "thread_local": CUDA's default ("global") would make another
            # thread's allocation or host read during the capture fail.
            with torch.cuda.stream(stream), torch.cuda.graph(
                    graph, stream=stream, capture_error_mode="thread_local"):
                result, status = run()
        self._graph, self._inputs, self._result, self._status = graph, static, result, status
        self._lr, self._key = lr, key
        self.n_captures_ += 1
