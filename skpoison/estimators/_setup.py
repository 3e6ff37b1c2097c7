"""From an estimator's parameters and data to an engine problem (tensors): the
model, its initial weights and its inner rate (``inner_lr="auto"``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from .._torch_utils import make_generator, resolve_device, resolve_dtype
from .._warn import warn_user
from ..hypergrad._prox import takes_proximal_steps
from ._feature_scales import check_feature_scales
# (encode_classes, encode_targets, as_log_lambda, check_log_lambda, lambda_vector and
# check_trusted_set: imported from here by poisoning/ and experiments/, which read
# them here before they had modules of their own)
from ._log_lambda import max_log_lambda_for
from ._warnings import issue as issue_warning

__all__ = ["EngineSetup", "build_setup", "initial_params", "auto_inner_lr", "auto_rate_top",
           "proximal_steps", "auto_rate_penalty", "auto_rate_smoothness",
           "check_rate_with_poison", "warn_if_auto_rate_is_too_small"]


class EngineSetup(NamedTuple):
    """Everything the hypergradient engine needs besides the data."""

    problem: object
    w0: torch.Tensor
    steps: int
    lr: float
    device: torch.device
    dtype: torch.dtype


def initial_params(problem, random_state, *, device, dtype):
    """``w_0`` drawn on the CPU in float64, then moved.

    The same ``random_state`` thus gives the same initial network on every
    device and in every dtype (CUDA generators draw other streams).
    """
    generator = make_generator(random_state, "cpu")
    return problem.init_params(generator).to(device=device, dtype=dtype)


def _check_representable_step(lr, n_samples, dtype, *, auto):
    """The step ``lr / n`` must be a normal number in ``dtype``.

    Below it training would not move, or lose its precision, silently: a
    float32 model fitted with ``inner_lr=1e-50`` predicted one class with
    nothing said. For ``inner_lr="auto"`` (``auto=True``) the cause is
    features of huge magnitude, and the message says so.
    """
    tiny = float(np.finfo(np.dtype(dtype)).tiny)
    if lr / n_samples >= tiny:
        return
    below = (f"the step inner_lr / n_samples = {lr / n_samples:.3g} is below the smallest "
             f"normal {dtype} number ({tiny:.3g}), so training would not move")
    if auto:
        raise ValueError(
            f"inner_lr='auto' is {lr:.3g} for these features: {below}. The features are too "
            "large: scale them (e.g. StandardScaler or MinMaxScaler), or use dtype='float64'.")
    fix = "raise inner_lr" + (", or use dtype='float64'" if dtype == "float32" else "")
    raise ValueError(f"inner_lr={lr:.3g} for {n_samples} training points: {below}; {fix}.")


def build_setup(estimator, X_train, n_classes, *, max_log_lambda=None, check_scales=True,
                squared_norm=None):
    """Build the :class:`EngineSetup` for ``estimator`` on a training matrix.

    Parameters
    ----------
    estimator : HypergradRegularizedLR or HypergradMLP
        Only its parameters are read (it need not be fitted).
    X_train : ndarray of shape (n_samples, n_features)
        The clean training features; ``inner_lr="auto"`` is derived from them.
    n_classes : int
    max_log_lambda : float or None
        The largest λ the inner problem will be solved with, when it may
        exceed ``lambda_bounds`` (a fixed λ): ``inner_lr="auto"`` must stay
        stable for it.
    check_scales : bool, default=True
        Warn when the features' scales differ too widely for gradient
        descent (:func:`check_feature_scales`); False for a second set-up of
        the same fit.
    squared_norm : float or None, default=None
        The squared spectral norm of ``[X_train, 1]`` that a linear model's
        ``inner_lr="auto"`` reads, when the caller has it already
        (``fit_batched`` computes ``K`` of them at once); None: computed here.
    """
    device = resolve_device(estimator.device)
    dtype = resolve_dtype(estimator.dtype)
    if check_scales:
        check_feature_scales(X_train, inner_steps=estimator.inner_steps)
    n_outputs = 1 if n_classes == 2 else n_classes
    problem = estimator._make_problem(X_train.shape[1], n_outputs, device)
    w0 = initial_params(problem, estimator.random_state, device=device, dtype=dtype)
    lr = estimator.inner_lr
    if lr == "auto":
        lr = auto_inner_lr(estimator, X_train, n_classes, max_log_lambda=max_log_lambda,
                           squared_norm=squared_norm)
    else:
        _check_representable_step(float(lr), X_train.shape[0], estimator.dtype, auto=False)
    return EngineSetup(problem, w0, int(estimator.inner_steps), float(lr), device, dtype)


def auto_inner_lr(estimator, X_train, n_classes, *, max_log_lambda=None, squared_norm=None):
    """``inner_lr="auto"`` of a linear ``estimator`` on ``X_train`` (see :func:`build_setup`).

    Stable for the largest λ of ``lambda_bounds`` and ``max_log_lambda``
    (:func:`auto_rate_top`); for proximal L1 steps, stable whatever λ
    (:func:`auto_rate_penalty`).
    """
    top = auto_rate_top(estimator, max_log_lambda)
    limit = max_log_lambda_for(estimator.dtype)
    if top >= limit:
        raise ValueError(
            f"inner_lr='auto' is stable up to the largest λ allowed, log λ = {top:g} "
            f"(lambda_bounds or the fixed λ), but exp({top:g}) overflows {estimator.dtype} "
            f"(log λ < {limit:.1f}); lower it.")
    n_outputs = 1 if n_classes == 2 else n_classes
    lr = estimator._auto_inner_lr(X_train, n_outputs, auto_rate_penalty(estimator, top),
                                  squared_norm=squared_norm)
    _check_representable_step(lr, X_train.shape[0], estimator.dtype, auto=True)
    return lr


def auto_rate_top(estimator, max_log_lambda=None):
    """The largest log λ ``inner_lr="auto"`` is stable for: ``lambda_bounds``' top, or
    ``max_log_lambda`` (a fixed or evaluated λ) above it."""
    return max(float(np.max(np.asarray(estimator.lambda_bounds, dtype=float))),
               -np.inf if max_log_lambda is None else float(max_log_lambda))


def proximal_steps(estimator):
    """Whether ``estimator`` trains with proximal L1 steps (``l1_step="proximal"``)."""
    return takes_proximal_steps(estimator.penalty, estimator.l1_step)


def auto_rate_penalty(estimator, top):
    """What ``inner_lr="auto"`` adds to the data's smoothness bound: ``exp(top)``.

    The penalty's strength counts as curvature (L2's is; L1's subgradient
    steps zigzag by ``inner_lr * exp(λ)``), except for proximal L1 steps,
    which are stable below ``2 / L`` whatever λ: 0 (their rate is ``1 / L``).
    """
    return 0.0 if proximal_steps(estimator) else float(np.exp(top))


def auto_rate_smoothness(lr, penalty_part):
    """The data's smoothness bound ``L`` behind an ``inner_lr="auto"`` of ``lr``.

    The rate is ``1 / (L + penalty_part)`` (:func:`auto_inner_lr`,
    :func:`auto_rate_penalty`); read back, to rounding (0 where
    ``penalty_part`` dwarfs ``L``).

    Examples
    --------
    >>> round(auto_rate_smoothness(1 / (3.0 + np.exp(0.0)), np.exp(0.0)), 12)
    3.0
    """
    return max(1.0 / float(lr) - float(penalty_part), 0.0)


def check_rate_with_poison(estimator, lr, X_all, n_classes, *, max_log_lambda, poison_rows,
                           n_clean, described):
    """Warn when the clean set's ``"auto"`` rate is beyond the poisoned set's stable range.

    Gradient descent with a rate above ``2 / L`` (``L`` the smoothness bound of
    the training set with its poisoning points) can oscillate and still end
    below its start, which the divergence check lets pass. (A poisoned set the
    bound cannot be computed for fails in the computation itself, as before.)

    ``X_all``'s rows ``poison_rows`` (a boolean mask) are the poisoning points,
    the others ``n_clean`` rows of the clean set (some, where points replaced
    rows) the rate was computed on. A bound read off the rate itself decides
    most calls without a second spectral norm: the linear models' rate is
    ``1 / (||[X, 1]||^2 / (c n) + exp(top))`` with ``c >= 2`` (without
    ``exp(top)`` for proximal steps: :func:`auto_rate_penalty`), and the poisoning
    rows ``P`` add at most ``||[P, 1]||_F^2`` to ``||[X, 1]||^2``.
    ``max_log_lambda``: as given to :func:`build_setup` for ``lr``.
    ``described``: what then describes the oscillating run (the message's
    words, e.g. ``"the hypergradient describe it"``).
    """
    high = auto_rate_penalty(estimator, auto_rate_top(estimator, max_log_lambda))
    points = np.asarray(X_all[poison_rows], dtype=np.float64)
    with np.errstate(over="ignore"):
        added = float(np.einsum("ij,ij->", points, points)) + len(points)
    bound = (n_clean * auto_rate_smoothness(lr, high) + added / 2.0) / len(X_all)
    if lr * (bound + high) < 2.0:
        return
    try:
        stable = 2.0 * auto_inner_lr(estimator, X_all, n_classes,
                                     max_log_lambda=max_log_lambda)
    except ValueError:
        return
    if lr >= stable:
        warn_user(f"inner_lr='auto' ({lr:.4g}) is computed from the clean training set, but "
                  f"with the poisoning points the training set's smoothness bound only "
                  f"guarantees descent below {stable:.4g}: the inner run may oscillate and "
                  f"{described}. Poisoning points of large norm (or many near the largest "
                  "clean rows) do this; give a float inner_lr below the bound to hold the "
                  "rate fixed.")


#: ``inner_lr="auto"`` is stable up to ``exp(lambda_bounds[1])``; a fit warns when
#: that makes its step this many times smaller than the learned λ needs.
_AUTO_RATE_SLACK = 10.0


def warn_if_auto_rate_is_too_small(lr, log_high, learned_log_lambda):
    """Warn when ``lambda_bounds``' top, not the data or the learned λ, set ``inner_lr="auto"``.

    ``lr = 1 / (L + exp(log_high))`` with ``L`` the data's smoothness bound; a
    step for the learned λ would be ``1 / (L + exp(learned))``. A wide box
    (``lambda_bounds=(-12, 20)``) made it ``1e-9``: the inner steps then barely
    moved the weights, the model came back untrained and λ stuck at its start,
    with nothing said.
    """
    smoothness = auto_rate_smoothness(lr, np.exp(log_high))
    learned = float(np.max(learned_log_lambda))
    needed = smoothness + np.exp(learned)
    factor = np.inf if needed == 0 else (1.0 / lr) / needed
    if factor > _AUTO_RATE_SLACK:
        issue_warning(
            f"inner_lr='auto' is {lr:.3g}, small enough to stay stable up to the largest "
            f"allowed λ, exp(lambda_bounds[1]) = exp({log_high:g}); at the learned log λ = "
            f"{learned:.3g} that step is {factor:.3g} times smaller than needed, so the "
            "inner steps barely train the model (and λ is learned for an undertrained "
            "one). Lower lambda_bounds[1] towards the largest λ you need, or give a float "
            "inner_lr (with enough inner_steps).", ConvergenceWarning)
