"""One entry point over the hypergradient methods."""

from __future__ import annotations

from functools import partial

from ._batched import batched_hypergradient
from ._forward import forward_hypergradient
from ._graph import GraphedHypergradient
from ._implicit import implicit_hypergradient
from ._naive import unrolled_autograd_hypergradient
from ._reverse import reverse_hypergradient

METHODS = ("rmd", "fmd", "cg", "exact")


def compute_hypergradient(problem, w0, log_lambda, X, Y, X_val, Y_val, *, n_poison=0,
                          steps, lr, method="rmd", checkpoint_every=None, **solver_options):
    """Validation loss and hypergradients of a T-step inner problem.

    Parameters
    ----------
    problem : InnerProblem
    w0 : Tensor of shape (n_params,)
        Starting point of the inner gradient descent.
    log_lambda : Tensor of shape (n_hyper,)
    X, Y : Tensor
        Training set; its last ``n_poison`` rows are the poisoning points.
        ``X`` float32 or float64 (``w0``, ``log_lambda`` and ``X_val`` alike;
        half precision is refused). ``Y`` of shape ``(n, n_outputs)``: {0, 1}
        (or a probability) in one
        column for binary problems, one-hot rows (or rows of probabilities
        that sum to 1) otherwise. For the built-in models (whose loss and
        closed-form derivatives are defined for those targets alone) other
        values are refused (``ValueError``), checked in the host read the
        divergence check makes anyway (a row may miss 1 by float32's
        ``sqrt(eps)``, 3.5e-4); a model of one's own takes whatever its loss does.
    X_val, Y_val : Tensor
        Trusted validation set.
    n_poison : int, default=0
    steps, lr : int, float
        Inner solver: ``steps`` of gradient descent with learning rate ``lr``.
    method : {"rmd", "fmd", "cg", "exact", "autograd"}, default="rmd"
        ``"autograd"`` is naive autograd through the unrolled loop (reference;
        under L1 it may part from the others where a weight's data gradient
        cancels exactly, since it scales the terms before summing them and
        ``sign`` then sees a rounding residue instead of 0).
    checkpoint_every : None, int, sequence of int, "sqrt" or "cbrt", default=None
        ``"rmd"`` only: bounded-memory reverse mode. ``None`` stores the whole
        trajectory; ``k`` stores every ``k``-th iterate and recomputes the
        segments during the reverse pass (one extra forward pass, memory
        ``ceil(T / k) + k`` iterates instead of ``T``); ``"sqrt"`` picks
        ``k = ceil(sqrt(T))``; nested levels ``(k1, k2, ...)`` or ``"cbrt"``
        trade one more forward pass per level for less memory. See
        :func:`~skpoison.hypergrad.reverse_hypergradient`.
    **solver_options
        ``tol``, ``maxiter``, ``stationarity_tol`` for the implicit methods.

    Returns
    -------
    HypergradResult

    Raises
    ------
    InnerDivergenceError
        If the inner run reached NaN/inf parameters; under an L2 penalty, if its
        rate is unstable for the penalty (``lr * exp(max log_lambda) >= 2``) or
        its training objective ended above its start (so too under L1 with
        proximal steps); under L1 with subgradient steps, if that objective
        exploded (see :func:`~skpoison.hypergrad._divergence.allowed_rise`);
        under either, if it ended NaN.
    HypergradientOverflowError
        If the run stayed finite but the validation loss or a hypergradient
        did not.
    ValueError
        If ``method`` is unknown, ``checkpoint_every`` or ``solver_options``
        are given to a method that takes none, or the inputs' shapes, dtypes,
        ``steps`` or ``lr`` are invalid. Also where the run or its outputs
        came out NaN/inf because an input holds NaN/inf or ``exp(log_lambda)``
        overflows the dtype: the error names that input (values are read only
        then, on the failure path, never before the run). Also, after the
        run, where ``Y`` or ``Y_val`` holds other values than the targets
        above (labels in {-1, 1}, class indices): the error names it and an
        offending row.

    Notes
    -----
    The unrolled methods (``"rmd"``, ``"fmd"``, ``"autograd"``) differentiate
    the T-step map as computed. Under L1 that map is smooth only between sign
    changes of the weights (the subgradient takes ``sign(0) = 0``): the
    result is the derivative of the piece the run is on, which finite
    differences reproduce only with steps too small to flip a sign. A weight
    that stays exactly 0 (a feature that is zero in every training row)
    contributes nothing, although any change that moves it off 0 moves the
    loss. With proximal L1 steps (``l1_step="proximal"`` of the built-in models)
    the map is smooth wherever no ``|w - lr grad L_data(w)|`` meets its
    threshold ``lr exp(λ)``, and its zero weights are exactly 0. A network's
    LeakyReLU has a kink at 0 in the same way: at a pre-activation exactly 0
    every method takes the slope below it (0.01), and the T-step map jumps
    there, so central finite differences disagree.
    Under L1 the subgradient method's objective zigzags by design, so
    the rise test only catches a run that explodes (more than
    ``L1_EXPLOSION_FACTOR = 1e4`` times above its start, beyond the zigzag's
    allowance): a rate merely too large for a good solution passes. Proximal
    steps with a stable rate lower the objective: for them it allows
    rounding only, as under L2.

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import compute_hypergradient
    >>> from skpoison.models import LinearProblem
    >>> problem = LinearProblem(2, 1)
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0], [1.0]], dtype=torch.float64)
    >>> res = compute_hypergradient(problem, problem.init_params(),
    ...     torch.zeros(1, dtype=torch.float64), X, Y, X, Y, n_poison=1, steps=20, lr=0.5)
    >>> res.grad_log_lambda.shape, res.grad_X_poison.shape, res.params.shape
    (torch.Size([1]), torch.Size([1, 2]), torch.Size([3]))
    >>> res.solver_iterations is None     # (reverse mode solves nothing)
    True

    A rate too large for the penalty (``lr * exp(λ) = 5 >= 2``), and validation
    features beyond the floating-point range:

    >>> from skpoison.hypergrad import HypergradientOverflowError, InnerDivergenceError
    >>> try:
    ...     compute_hypergradient(problem, problem.init_params(),
    ...         torch.zeros(1, dtype=torch.float64), X, Y, X, Y, steps=20, lr=5.0)
    ... except InnerDivergenceError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    The inner gradient descent diverges: inner_lr=5 times the largest L2 weight exp(λ) ...
    >>> try:
    ...     compute_hypergradient(problem, problem.init_params(),
    ...         torch.zeros(1, dtype=torch.float64), X, Y, X * 1e308, 1 - Y, steps=3, lr=0.5)
    ... except HypergradientOverflowError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    The hypergradient is not finite: the inner gradient descent stayed finite, but ...
    """
    args = (problem, w0, log_lambda, X, Y, X_val, Y_val)
    common = dict(n_poison=n_poison, steps=steps, lr=lr)
    if checkpoint_every is not None and method != "rmd":
        raise ValueError(
            f"checkpoint_every is a reverse-mode option; method={method!r} does not "
            "store a trajectory.")
    if solver_options and method not in ("cg", "exact"):
        raise ValueError(f"{sorted(solver_options)} are options of the implicit methods "
                         f"('cg', 'exact'), not of method={method!r}.")
    if method == "rmd":
        return reverse_hypergradient(*args, **common, checkpoint_every=checkpoint_every)
    if method == "fmd":
        return forward_hypergradient(*args, **common)
    if method in ("cg", "exact"):
        return implicit_hypergradient(*args, **common, solver=method, **solver_options)
    if method == "autograd":
        return unrolled_autograd_hypergradient(*args, **common)
    raise ValueError(f"method={method!r} is not supported; use one of "
                     f"{(*METHODS, 'autograd')}.")


def make_hypergradient(problem, *, method="rmd", n_poison=0, steps, lr, checkpoint_every=None,
                       batched=False):
    """``f(w0, log_lambda, X, Y, X_val, Y_val) -> HypergradResult`` for a loop of calls.

    The callable a loop should hold when it computes hypergradients of one
    setting again and again (the outer steps of a fit or of an attack).
    Reverse mode is a :class:`~skpoison.hypergrad.GraphedHypergradient`: on a
    CUDA device it captures the pass into a CUDA graph once and replays it at
    every later call with inputs of the same shapes (on the CPU it runs
    eagerly). The other methods are
    :func:`~skpoison.hypergrad.compute_hypergradient` with these options.

    Parameters
    ----------
    problem : InnerProblem
    method : {"rmd", "fmd", "cg", "exact", "autograd"}, default="rmd"
    n_poison, steps, lr, checkpoint_every
        As in :func:`~skpoison.hypergrad.compute_hypergradient`.
    batched : bool, default=False
        ``K`` stacked problems (:func:`~skpoison.hypergrad.batched_hypergradient`;
        reverse mode only, ``lr`` then a float or ``K`` rates).

    Returns
    -------
    callable
        A :class:`~skpoison.hypergrad.GraphedHypergradient` (``"rmd"``), else
        a :func:`functools.partial` of ``compute_hypergradient`` (or, batched,
        of ``batched_hypergradient``).

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import make_hypergradient
    >>> from skpoison.models import LinearProblem
    >>> problem = LinearProblem(2, 1)
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0], [1.0]], dtype=torch.float64)
    >>> hypergradient = make_hypergradient(problem, steps=20, lr=0.5)
    >>> lam = torch.zeros(1, dtype=torch.float64)
    >>> for _ in range(3):                      # one setting, new λ at every call
    ...     lam = lam - 0.1 * hypergradient(problem.init_params(), lam, X, Y, X, Y).grad_log_lambda
    >>> lam.shape
    torch.Size([1])
    """
    options = dict(n_poison=n_poison, steps=steps, lr=lr, checkpoint_every=checkpoint_every)
    if method == "rmd":
        return GraphedHypergradient(problem, **options, batched=batched)
    if batched:
        return partial(batched_hypergradient, problem, **options, method=method)
    return partial(compute_hypergradient, problem, **options, method=method)
