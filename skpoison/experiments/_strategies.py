"""The λ strategies compared by the experiments (private).

A strategy says how the defender sets the regularization λ and, with it,
which attack is the worst case against it:

* ``"no_reg"``: no regularization (λ = -inf), fixed-λ attack.
* ``"large"``: a large constant λ (:data:`~skpoison.experiments.LARGE_LAMBDA`),
  fixed-λ attack.
* ``"cv"``: λ chosen by k-fold cross-validation on the clean training set over
  a grid, then fixed; fixed-λ attack with that λ (the setting of Xiao et al.).
* ``"learned"``: λ learned on the trusted set jointly with the poisoning
  points (the minimax attack, ``hyperparams="learn"``); one λ.
* ``"learned_per_layer"``: as ``"learned"`` with one λ per layer (networks).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import _safe_indexing

from .._warn import warn_user
from ..estimators import HypergradMLP, HypergradRegularizedLR
from ..estimators._log_lambda import check_log_lambda
from ._registry import STRATEGIES, Strategy

__all__ = ["STRATEGIES", "Strategy", "make_estimator", "resolve_fixed_lambda",
           "cross_validate_lambda", "check_strategies", "fixed_lambda_estimator"]

#: Upper end of the learnable box Λ = [-12, 0] (the estimators' default).
LAMBDA_LOW, LAMBDA_HIGH = -12.0, 0.0


def check_strategies(names, model):
    """Validate strategy names for a model; return them as a tuple."""
    names = tuple(names)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise ValueError(f"Unknown strategies {unknown}; valid: {sorted(STRATEGIES)}.")
    if model != "mlp" and "learned_per_layer" in names:
        raise ValueError("'learned_per_layer' needs --model mlp (one λ per layer).")
    if not names:
        raise ValueError("Give at least one strategy.")
    return names


def make_estimator(config, *, random_state, inner_lr="auto"):
    """The configuration's estimator (its λ-learning settings, unfitted).

    Parameters
    ----------
    config : SweepConfig
    random_state : int
        Seeds the network's initial weights.
    inner_lr : float or "auto", default="auto"
        Networks ignore ``"auto"`` and keep the estimator's default.

    Examples
    --------
    >>> from skpoison.experiments import make_config
    >>> from skpoison.experiments._strategies import make_estimator
    >>> make_estimator(make_config(size="tiny"), random_state=0).inner_steps
    10
    """
    common = dict(penalty=config.penalty, lambda_bounds=(LAMBDA_LOW, LAMBDA_HIGH),
                  inner_steps=config.inner_steps, outer_steps=config.attack_steps,
                  device=config.device, dtype=config.dtype, random_state=random_state)
    if config.lambda_lr is not None:
        common["outer_lr"] = config.lambda_lr
    if config.l1_step is not None:
        common["l1_step"] = config.l1_step
    if config.model == "lr":
        return HypergradRegularizedLR(inner_lr=inner_lr, **common)
    mlp = HypergradMLP(hidden_layer_sizes=tuple(config.hidden_layer_sizes), **common)
    if inner_lr != "auto":
        mlp.set_params(inner_lr=inner_lr)
    return mlp


def fixed_lambda_estimator(estimator, log_lambda):
    """A copy of ``estimator`` that just trains with λ (``outer_steps=0``).

    The box's lower end is opened to -inf so that λ = -inf (no
    regularization) is not clipped.
    """
    high = max(float(estimator.lambda_bounds[1]), float(np.max(log_lambda)))
    return clone(estimator).set_params(outer_steps=0, lambda_init=log_lambda,
                                       lambda_bounds=(-np.inf, high))


def cross_validate_lambda(estimator, X, y, grid, *, n_folds=5, random_state=0):
    """The λ of ``grid`` with the best k-fold CV log-loss on (clean) ``X, y``.

    Each candidate trains the estimator with ``outer_steps=0`` and
    ``lambda_init=λ``; folds are stratified and shuffled with
    ``random_state``. The score is the log-loss (``neg_log_loss``), the
    quantity the learned strategy minimizes on its trusted set; on easy
    problems accuracy ties over most of the grid. Remaining ties go to the
    larger λ. A grid value whose fits fail is never chosen (a
    ``FitFailedWarning`` names it). The scores are ``GridSearchCV``'s with
    ``scoring="neg_log_loss"``, to the bit, computed without its per-task
    warning filters, which are process-wide state in threads.

    Parameters
    ----------
    estimator : HypergradRegularizedLR or HypergradMLP
        The template; it is cloned, not fitted. Its other settings (steps,
        penalty, device) are kept.
    X : array-like of shape (n_samples, n_features)
        The clean training set.
    y : array-like of shape (n_samples,)
        Its labels.
    grid : sequence of float
        Candidate values of λ = log α, e.g. ``config.cv_grid``; at least one.
    n_folds : int, default=5
        Number of folds; each class needs at least ``n_folds`` samples.
    random_state : int, default=0
        Seeds the shuffling of the folds.

    Returns
    -------
    log_lambda : float
        The selected value of ``grid``.

    Raises
    ------
    ValueError
        If ``grid`` is empty, not 1-D, or holds NaN, strings or a value whose
        ``exp`` overflows the estimator's dtype; if the fits fail for every
        grid value.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skpoison import HypergradRegularizedLR
    >>> from skpoison.experiments import cross_validate_lambda
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> cross_validate_lambda(HypergradRegularizedLR(inner_steps=20), X[:100] / 16, y[:100],
    ...                       [-6.0, -3.0, 0.0], n_folds=3)
    -6.0
    """
    values = _check_grid(grid, estimator.dtype)
    # (its box must reach the largest value, or higher ones are clipped to the
    # estimator's bound, tie there, and the tie-break picks a λ never evaluated)
    base = fixed_lambda_estimator(estimator, float(values.max()))
    folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=random_state).split(X, y))
    # GridSearchCV's neg_log_loss, bitwise, without its workers' warning filters:
    # scikit-learn resets the process-wide filters around each task, which other
    # threads of a sweep (threading backend) then see.
    scores, failures = np.empty(len(values)), []
    for i, value in enumerate(values):
        try:
            scores[i] = np.average([_fold_score(clone(base).set_params(lambda_init=value),
                                                X, y, train, test) for train, test in folds])
        except Exception as exc:  # noqa: BLE001 - a failed value is never chosen (below)
            scores[i] = np.nan
            failures.append(f"{value:g} ({type(exc).__name__}: {exc})")
    if np.isnan(scores).all():
        raise ValueError(f"Cross-validation of λ failed for every grid value ({n_folds} folds "
                         f"of {len(y)} training points); use more training points or "
                         f"fewer folds. First failure: λ = {failures[0]}")
    if failures:
        warn_user(f"Cross-validation of λ failed for {len(failures)} of {len(values)} grid "
                  f"values, which are not chosen: λ = {'; '.join(failures)}", FitFailedWarning)
    best = np.flatnonzero(scores >= np.nanmax(scores) - 1e-12)
    return float(values[best].max())


def _check_grid(grid, dtype):
    """``grid`` as a 1-D float array of log λ values whose ``exp`` is finite in ``dtype``.

    Every candidate trains at the inner rate stable for the largest one: a
    value of +inf, or one whose ``exp`` overflows, failed every candidate,
    with a message that blamed the folds.
    """
    if np.ndim(grid) != 1:
        raise ValueError(f"grid={grid!r} must be a non-empty 1-D sequence of log λ values.")
    return check_log_lambda(grid, "grid", dtype=dtype)


def _fold_score(model, X, y, train, test):
    """``-log_loss`` of ``model`` fitted on the ``train`` rows, on the ``test`` rows.

    As GridSearchCV's ``neg_log_loss`` computes it: rows taken as it takes them
    (the model's rounding depends on their memory layout), the positive class's
    column for two classes, and no ``labels``, so that a test fold missing a
    class fails (the value is then not chosen) as it did there.
    """
    model.fit(_safe_indexing(X, train), _safe_indexing(y, train))
    proba = model.predict_proba(_safe_indexing(X, test))
    return -log_loss(_safe_indexing(y, test), proba[:, 1] if proba.shape[1] == 2 else proba)


def resolve_fixed_lambda(name, config, estimator, X_train, y_train, *, random_state):
    """λ of a fixed strategy (``"no_reg"``, ``"large"`` or ``"cv"``)."""
    if name == "no_reg":
        return -np.inf
    if name == "large":
        return float(config.large_lambda)
    if name == "cv":
        return cross_validate_lambda(estimator, X_train, y_train, config.cv_grid,
                                     n_folds=config.cv_folds, random_state=random_state)
    raise ValueError(f"{name!r} is not a fixed-λ strategy.")
