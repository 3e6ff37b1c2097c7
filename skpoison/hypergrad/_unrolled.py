"""Plain T-step full-batch gradient descent (the inner solver)."""

from __future__ import annotations

import torch

from ._checks import check_inputs
from ._divergence import check_inner_run
from ._input_values import named_inputs
from ._unroll import not_callers


def train(problem, w0, log_lambda, X, Y, *, steps, lr):
    """Run ``steps`` of gradient descent on ``L_tr(.; log_lambda)`` from ``w0``.

    Parameters
    ----------
    problem : InnerProblem
    w0 : Tensor of shape (n_params,)
    log_lambda : Tensor of shape (n_hyper,)
    X, Y : Tensor
        Training features and targets (binary: one {0, 1} column; else one-hot).
    steps : int
    lr : float

    Returns
    -------
    w_T : Tensor of shape (n_params,)

    Raises
    ------
    ValueError
        If the inputs are not float32 or float64 tensors or their shapes
        disagree; also where the run came out NaN/inf because an input holds
        NaN/inf or ``exp(log_lambda)`` overflows: the error names that input.
        For the built-in models, if ``Y`` holds values other than targets in
        [0, 1] (one output) or rows of probabilities summing to 1 (several;
        checked in the run's one host read, after it).
    InnerDivergenceError
        If the run diverged (NaN/inf parameters, an unstable L2 rate, a
        training objective that rose; see
        :func:`~skpoison.hypergrad.compute_hypergradient`).

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import train
    >>> from skpoison.models import LinearProblem
    >>> problem = LinearProblem(2, 1)
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    >>> w = train(problem, problem.init_params(), torch.zeros(1, dtype=torch.float64),
    ...           X, Y, steps=50, lr=1.0)
    >>> bool(w[0] > 0 > w[1])
    True
    """
    check_inputs(problem, w0, log_lambda, X, Y, steps=steps, lr=lr)
    return train_checked(problem, w0, log_lambda, X, Y, steps=steps, lr=lr)


def train_checked(problem, w0, log_lambda, X, Y, *, steps, lr, Y_val=None):
    """:func:`train` on checked arguments; ``Y_val``'s targets are judged in its host read.

    For the implicit methods, which train first: an invalid ``Y_val`` is
    refused with the run's one read, before anything else reads the host.
    """
    with torch.no_grad():
        w = problem.unroll(log_lambda, X, Y, lr=lr).train(w0, steps)
    inputs = named_inputs(w0, log_lambda, X, Y)
    if Y_val is not None:
        inputs["Y_val"] = Y_val
    check_inner_run(problem, w0, w, log_lambda, X, Y, steps=steps, lr=lr, inputs=inputs,
                    Y_val=Y_val)
    return not_callers(w, w0)
