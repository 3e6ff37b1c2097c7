"""``skpoison.hypergradient``: the engine behind an estimator, on numpy data."""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d, validate_data

from .._torch_utils import to_numpy, to_tensor
from .._warn import warn_user
from ..hypergrad import compute_hypergradient
from ._base import BaseHypergradClassifier
from ._labels import (encode_classes, encode_labels, encode_targets, raveled_column,
                      refuse_missing_labels)
from ._log_lambda import check_log_lambda, lambda_vector, warn_if_clipped
from ._settings import check_settings
from ._setup import build_setup, check_rate_with_poison
from ._trusted_scale import check_trusted_scale
from ._trusted_set import check_X_val
from ._warnings import engine_warnings_once


class Hypergradient(NamedTuple):
    """Validation loss and hypergradients, as numpy arrays on the CPU.

    Attributes
    ----------
    val_loss : float
    grad_log_lambda : ndarray of shape (n_lambdas,)
    grad_X_poison : ndarray of shape (n_poison, n_features) or None
    log_lambda : ndarray of shape (n_lambdas,)
        The λ at which it was evaluated.
    solver_residual : float or None
        Implicit methods: ``||H u - b||`` of the linear solve; None otherwise.
    solver_iterations : int or None
        Implicit methods: conjugate-gradient iterations (0 for ``"exact"``);
        None otherwise.
    inner_lr : float or None
        The inner step size used (``inner_lr="auto"`` resolved; always set
        by :func:`hypergradient`).

    See Also
    --------
    hypergradient : returns one (its example reads the fields).
    """

    val_loss: float
    grad_log_lambda: np.ndarray
    grad_X_poison: Optional[np.ndarray]
    log_lambda: np.ndarray
    solver_residual: Optional[float] = None
    solver_iterations: Optional[int] = None
    inner_lr: Optional[float] = None


def _labels(y, name):
    """``y`` as a 1-D array (a column raveled, with fit's warning), or a ValueError
    that names the argument (missing labels too)."""
    refuse_missing_labels(y, name)
    try:
        return column_or_1d(raveled_column(y, name))
    except ValueError:
        raise ValueError(f"{name} must be a 1-D array of labels; got shape "
                         f"{np.shape(y)}.") from None


def _read_sets(reference, X_train, y_train, X_val, y_val, X_poison, y_poison):
    """The arguments' data sets, checked and read as ``fit`` reads them.

    ``reference`` (an unfitted clone) records the training set's columns.
    Returns ``(X_train, X_all, y_all, X_val, y_val_encoded, classes,
    n_poison)``: ``X_all``/``y_all`` are the training set with the poisoning
    points (if any) appended, labels encoded against ``classes``.
    """
    dtype = [np.float64, np.float32]
    validate_data(reference, X_train, reset=True, skip_check_array=True)
    try:
        X_train = check_array(X_train, dtype=dtype, input_name="X_train")
    except ValueError as exc:   # ("Found array with dim 3", "... 0 sample(s)": no name)
        if "X_train" in str(exc):
            raise
        raise ValueError(f"X_train: {exc}") from exc
    X_val = check_X_val(reference, X_val, dtype=dtype, train_name="X_train")
    check_trusted_scale(X_train, X_val)     # (as fit warns of a differently scaled set)
    y_train = _labels(y_train, "y_train")
    y_val = _labels(y_val, "y_val")
    check_consistent_length(X_train, y_train)
    check_consistent_length(X_val, y_val)
    check_classification_targets(y_train)
    classes, y_train_enc = encode_classes(np.asarray(y_train), "hypergradient",
                                          labels="y_train")
    y_val_enc = encode_labels(y_val, classes, name="y_val", train_name="y_train")
    if (X_poison is None) != (y_poison is None):
        raise ValueError("X_poison and y_poison must be given together.")
    if X_poison is None:
        return X_train, X_train, y_train_enc, X_val, y_val_enc, classes, 0
    X_poison = check_X_val(reference, X_poison, dtype=dtype, name="X_poison",
                           train_name="X_train")
    y_poison = _labels(y_poison, "y_poison")
    check_consistent_length(X_poison, y_poison)
    X_all = np.vstack([X_train, X_poison])
    y_all = np.concatenate([y_train_enc, encode_labels(y_poison, classes, name="y_poison",
                                                     train_name="y_train")])
    return X_train, X_all, y_all, X_val, y_val_enc, classes, X_poison.shape[0]


def hypergradient(estimator, X_train, y_train, X_val, y_val, *, log_lambda=None,
                  X_poison=None, y_poison=None, method=None):
    """Validation loss and its hypergradients for an estimator's inner problem.

    The (unfitted) estimator supplies the model, penalty, λ grouping and inner
    solver (``inner_steps`` of gradient descent with ``inner_lr`` from its
    fixed initialization). Poisoning points are appended to the training set.
    ``inner_lr="auto"`` is computed from the clean ``X_train`` only, so that
    the rate, like the solver's other settings, does not depend on the
    poisoning points that the gradient is taken with respect to (a warning
    says when poisoning points of large norm make it too large for the
    training set they join). The inputs
    are checked as ``fit`` checks them: ``X_val`` and ``X_poison`` must have
    ``X_train``'s features (and its column names, when DataFrames carry them).

    Parameters
    ----------
    estimator : HypergradRegularizedLR or HypergradMLP
    X_train, y_train : array-like
        Clean training set; its classes define the problem.
    X_val, y_val : array-like
        Trusted validation set.
    log_lambda : float or array-like of shape (n_lambdas,), default=None
        Where to evaluate (not limited to ``lambda_bounds``); None uses
        ``estimator.lambda_init`` projected on the bounds (for a fitted
        estimator too, with a warning: pass its ``lambda_`` to evaluate at the
        learned λ). Above the upper
        bound, ``inner_lr="auto"`` is computed for this λ (so that it stays
        stable): the rate then changes with λ, while the hypergradient, like
        every hypergradient, holds the rate fixed. Finite differences across
        such λ values need a float ``inner_lr`` (``result.inner_lr``, say).
    X_poison, y_poison : array-like, default=None
        Poisoning points appended to the training set.
    method : {"rmd", "fmd", "cg", "exact"}, default=None
        None uses ``estimator.hypergrad``. The estimator's ``checkpoint_every``
        applies to reverse mode only; another method ignores it.

    Returns
    -------
    Hypergradient

    Raises
    ------
    TypeError
        If ``estimator`` is not a skpoison estimator.
    ValueError
        If its parameters or the data are invalid (as in ``fit``).
    InnerDivergenceError
        If the inner gradient descent diverged (see
        :func:`~skpoison.hypergrad.compute_hypergradient`).
    HypergradientOverflowError
        If the run stayed finite but the validation loss or a hypergradient
        did not.

    Warns
    -----
    TrustedSetWarning
        If ``X_val`` looks differently scaled than ``X_train``, as in ``fit``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skpoison import HypergradRegularizedLR, hypergradient
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> X = X / 16
    >>> res = hypergradient(HypergradRegularizedLR(inner_steps=50), X[:100], y[:100],
    ...                     X[100:150], y[100:150], X_poison=X[150:152], y_poison=1 - y[150:152])
    >>> res.log_lambda, res.grad_log_lambda.shape, res.grad_X_poison.shape
    (array([-4.]), (1,), (2, 64))
    """
    if not isinstance(estimator, BaseHypergradClassifier):
        raise TypeError(f"hypergradient needs a HypergradRegularizedLR or HypergradMLP "
                        f"(its model, penalty and inner solver); got {type(estimator).__name__}.")
    # (checkpoint_every as fit checks it; another method than the estimator's ignores it)
    low, high = check_settings(estimator, method)
    method = estimator.hypergrad if method is None else method
    # A clone records the training set's columns (the caller's estimator is
    # not touched), so that the other sets are read against them as in fit.
    reference = clone(estimator)
    sets = _read_sets(reference, X_train, y_train, X_val, y_val, X_poison, y_poison)
    X_train, X_all, y_all, X_val, y_val_enc, classes, n_poison = sets

    if log_lambda is None:
        if hasattr(estimator, "lambda_"):
            warn_user(f"{type(estimator).__name__} is fitted, but hypergradient evaluates at "
                      "its lambda_init (projected on lambda_bounds), not at the learned "
                      "lambda_: pass log_lambda=estimator.lambda_ for that.")
        name = "lambda_init"
        values = check_log_lambda(estimator.lambda_init, name)
        warn_if_clipped(values, low, high)
        values = np.clip(values, low, high)
    else:
        name = "log_lambda"
        values = check_log_lambda(log_lambda, name)
    # inner_lr="auto" must be stable for the λ evaluated, inside the bounds or not.
    # (reference: a RandomState of the caller's is not advanced)
    top = float(np.max(values))
    setup = build_setup(reference, X_train, classes.size, max_log_lambda=top)
    tensor = dict(device=setup.device, dtype=setup.dtype)
    lambdas = lambda_vector(values, setup.problem.n_hyper, name, **tensor)
    if X_poison is not None and reference.inner_lr == "auto":
        check_rate_with_poison(reference, setup.lr, X_all, classes.size, max_log_lambda=top,
                               poison_rows=np.arange(len(X_all)) >= len(X_train),
                               n_clean=len(X_train), described="the hypergradient describe it")
    with engine_warnings_once("call"):   # at the caller's line
        result = compute_hypergradient(
            setup.problem, setup.w0, lambdas,
            to_tensor(X_all, **tensor), encode_targets(y_all, classes.size, **tensor),
            to_tensor(X_val, **tensor), encode_targets(y_val_enc, classes.size, **tensor),
            n_poison=n_poison, steps=setup.steps, lr=setup.lr, method=method,
            # The estimator's checkpointing applies to reverse mode, its own method.
            checkpoint_every=estimator.checkpoint_every if method == "rmd" else None,
        )
    residual = result.solver_residual
    return Hypergradient(
        val_loss=float(result.val_loss),
        grad_log_lambda=to_numpy(result.grad_log_lambda),
        grad_X_poison=to_numpy(result.grad_X_poison) if X_poison is not None else None,
        log_lambda=to_numpy(lambdas).astype(np.float64),   # (as evaluated)
        solver_residual=None if residual is None else float(residual),
        solver_iterations=result.solver_iterations,
        inner_lr=float(setup.lr),
    )
