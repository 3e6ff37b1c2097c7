"""Whether an inner run diverged or its outputs overflowed: the checks every
hypergradient algorithm makes before it returns, and their messages."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch.func import vmap

from ._errors import HypergradientOverflowError, InnerDivergenceError
from ._input_values import raise_if_bad_targets, raise_if_bad_values, targets_valid


def unstable_rate(problem, log_lambda, lr):
    """Where ``lr * max(α) >= 2`` under an L2 penalty (a device bool), else None.

    Gradient descent on the L2 term alone then multiplies the penalized
    weights by ``1 - lr α``, of modulus at least 1: they grow geometrically,
    and in float64 can reach 1e100 with no inf to show for it. ``log_lambda``
    may be stacked ``(K, n_hyper)`` with ``lr`` a ``(K,)`` tensor.
    """
    if not problem.group_penalty or problem.penalty.kind != "l2" \
            or log_lambda.shape[-1] == 0:
        return None
    return lr * torch.exp(log_lambda.amax(-1)) >= 2


#: Under L1 a rise of the objective by more than this many times
#: ``max(1, |start|)``, beyond the zigzag's own allowance (see
#: :func:`objective_grew`), is an explosion (measured: an MLP at too large a
#: rate ended 1e50 above its start, with weights near 1e25).
L1_EXPLOSION_FACTOR = 1e4


def objective_grew(start_loss, end_loss, factor=None, margin=0.0):
    """Where the training objective ended above where it started (device bool).

    Gradient descent with a stable rate (below 2/L) lowers the objective of a
    smooth problem at every step (a proximal step with a rate below 2/L,
    that of the data loss, lowers the composite L1 objective likewise), so an
    end above the start by more than
    ``factor * max(1, |start|) + margin`` (by default ``sqrt(eps)`` and 0:
    rounding) means a rate above 2/L: a trajectory that oscillates, is
    chaotic, or explodes (float64 can carry one far without overflowing). A
    NaN objective counts as grown: finite parameters can still overflow it
    (scores of ``inf - inf``), and a model fitted to it predicts NaN (NaN
    parameters are reported first, by the finite check). :func:`allowed_rise`
    gives a problem's ``factor`` and ``margin``.

    A run that oscillates below its start passes; this is a cheap check, one
    comparison after the loop, not a proof of convergence.

    Examples
    --------
    >>> start = torch.tensor([0.693, 0.693], dtype=torch.float64)
    >>> objective_grew(start, torch.tensor([0.2, 0.81], dtype=torch.float64))
    tensor([False,  True])
    """
    if factor is None:
        factor = torch.finfo(start_loss.dtype).eps ** 0.5
    limit = start_loss + factor * torch.clamp(start_loss.abs(), min=1.0) + margin
    return ~(end_loss <= limit)   # (NaN: grown)


def allowed_rise(problem, log_lambda, lr, n_params, dtype):
    """``(factor, margin)`` of :func:`objective_grew` for ``problem``, or None (not checked).

    The built-in models under L2 (smooth), and under L1 with proximal steps
    (``problem.proximal``: each step lowers the objective, as gradient steps
    on a smooth one do): the rounding, ``sqrt(eps)``, and no margin. Under L1
    the subgradient steps zigzag: every weight can swing by
    ``lr * α`` around its optimum (with ``inner_lr="auto"`` and λ near the top
    of its bounds, ``lr * α`` approaches 1), adding up to ``lr * α_max² *
    n_params`` to the penalty; that is the margin (a device tensor, per
    problem for stacked ones), and :data:`L1_EXPLOSION_FACTOR` the factor, so
    that only an exploding run, which grows without bound, exceeds them.
    Other problems (user models) are not checked.
    """
    if not problem.group_penalty:
        return None
    if problem.penalty.kind == "l2" or problem.proximal:
        return torch.finfo(dtype).eps ** 0.5, 0.0
    if log_lambda.shape[-1] == 0:
        return L1_EXPLOSION_FACTOR, 0.0
    alpha_max = torch.exp(log_lambda.amax(-1))
    return L1_EXPLOSION_FACTOR, lr * alpha_max * alpha_max * n_params


class RunStatus(NamedTuple):
    """Device-side verdicts on a T-step run (see :func:`inner_run_status`).

    ``outputs_finite``, where set, says per run whether the validation loss
    and the hypergradients computed after it are finite
    (:func:`outputs_finite`); ``targets_valid``, where set, whether its
    targets are those of the built-in models' loss
    (:func:`~skpoison.hypergrad._input_values.targets_valid`).
    """

    finite: torch.Tensor
    unstable: Optional[torch.Tensor]
    grew: Optional[torch.Tensor]
    outputs_finite: Optional[torch.Tensor] = None
    targets_valid: Optional[torch.Tensor] = None


def outputs_finite(val_loss, *grads):
    """Per run, whether the loss and every gradient are finite: ``(K,)`` or ``(1,)`` bools.

    ``val_loss`` is 0-d for one run or ``(K,)`` for ``K`` stacked ones; each
    gradient has the matching leading dimension.
    """
    K = val_loss.numel()
    finite = torch.isfinite(val_loss.reshape(K))
    for grad in grads:
        finite = finite & torch.isfinite(grad.reshape(K, -1)).all(dim=1)
    return finite


def inner_run_status(problem, w0, w, log_lambda, X, Y, *, lr, Y_val=None):
    """What :func:`check_inner_run` decides on, as device tensors (no host read).

    Split from the decision so that a captured CUDA graph can compute it with
    the run and the host reads it once after the replay. The verdict on the
    targets covers ``Y`` and, where given, ``Y_val``.
    """
    batched = w.dim() == 2
    grew = None
    allowed = allowed_rise(problem, log_lambda, lr, w.shape[-1], w.dtype)
    if allowed is not None:
        loss = vmap(problem.train_loss) if batched else problem.train_loss
        with torch.no_grad():
            grew = objective_grew(loss(w0, log_lambda, X, Y), loss(w, log_lambda, X, Y),
                                  *allowed)
    return RunStatus(torch.isfinite(w if batched else w[None]).all(dim=1),
                     unstable_rate(problem, log_lambda, lr), grew,
                     targets_valid=targets_valid(problem, Y, Y_val))


def result_status(problem, w0, result, log_lambda, X, Y, *, lr, Y_val=None):
    """The :class:`RunStatus` of the run that gave ``result``, with its outputs' verdict.

    Device tensors (no host read): :func:`raise_if_diverged` then decides on
    the run, its targets (``Y``, ``Y_val``) and the outputs together, in one read.
    """
    status = inner_run_status(problem, w0, result.params, log_lambda, X, Y, lr=lr,
                              Y_val=Y_val)
    return status._replace(outputs_finite=outputs_finite(
        result.val_loss, result.grad_log_lambda, result.grad_X_poison))


def raise_if_diverged(status, *, steps, lr, describe=None, inputs=None):
    """Raise :class:`InnerDivergenceError` where ``status`` says a run diverged.

    ``status`` holds ``(K,)`` device bools for ``K`` runs (``unstable`` and
    ``grew`` may be None, or 0-d for one run); one host read when none
    diverged. Sound runs whose ``outputs_finite`` is False raise
    :class:`HypergradientOverflowError`. ``describe(problems)`` gives the
    error's ``(where, inner_lr text)`` for the failing runs; by default, none
    and ``inner_lr={lr}``. ``inputs`` (the run's tensors by name, as
    :func:`~skpoison.hypergrad._input_values.named_inputs` gives them): where
    a run failed, a ``ValueError`` naming an input that holds NaN/inf, or a
    ``log_lambda`` whose ``exp`` overflows, comes first. Targets that
    ``status.targets_valid`` refuses raise a ``ValueError`` next, naming
    ``Y`` or ``Y_val`` (:func:`~skpoison.hypergrad._input_values.raise_if_bad_targets`),
    whether or not the run diverged: they are read in the same host read.
    """
    if describe is None:
        def describe(_):
            return "", f"inner_lr={lr:g}"
    finite = status.finite
    # (zero steps take no step: no rate can make them diverge)
    unstable = (None if status.unstable is None or steps == 0
                else status.unstable.reshape(-1))
    grew = torch.zeros_like(finite) if status.grew is None else status.grew.reshape(-1)
    run_ok = finite & ~grew if unstable is None else finite & ~grew & ~unstable
    ok = run_ok if status.outputs_finite is None else run_ok & status.outputs_finite
    if status.targets_valid is not None:
        ok = ok & status.targets_valid.reshape(-1)
    if bool(ok.all()):
        return
    if inputs is not None:   # (the failure path: reading the inputs costs nothing here)
        raise_if_bad_values(inputs)
    if status.targets_valid is not None and not bool(status.targets_valid.all()):
        raise_if_bad_targets(inputs or {})

    def problems(mask):
        return torch.nonzero(mask).flatten().tolist()

    if bool(run_ok.all()):   # the run is sound: its outputs overflowed
        where, _ = describe(problems(~status.outputs_finite))
        raise HypergradientOverflowError(_OUTPUTS_OVERFLOWED.format(where=where))
    if unstable is not None and bool(unstable.any()):
        bad, others = problems(unstable), problems(~finite & ~unstable)
        also = (f" Problems {others} also have NaN/inf parameters (lower inner_lr or "
                "scale their features)." if others else "")
        where, rate = describe(bad)
        raise InnerDivergenceError(_UNSTABLE_RATE.format(where=where, lr=rate) + also)
    if bool(finite.all()):
        where, rate = describe(problems(grew))
        raise InnerDivergenceError(_OBJECTIVE_GREW.format(where=where, steps=steps, lr=rate))
    where, rate = describe(problems(~finite))
    raise InnerDivergenceError(
        f"The inner gradient descent diverged{where} (NaN/inf parameters after {steps} "
        f"steps with {rate}). The inner learning rate is most likely too large for this "
        "data: lower inner_lr or scale the features.")


def check_inner_run(problem, w0, w, log_lambda, X, Y, *, steps, lr, describe=None,
                    inputs=None, Y_val=None):
    """Raise :class:`InnerDivergenceError` when the T-step run from ``w0`` to ``w`` diverged.

    NaN/inf parameters, an unstable L2 rate (:func:`unstable_rate`) or, for
    the built-in models, a training objective that rose (:func:`objective_grew`;
    under L1, that exploded);
    one host synchronization in all, after the loop. ``w`` of shape ``(K,
    n_params)`` is ``K`` stacked problems (every other argument stacked too);
    ``describe(problems)`` then gives the error's ``(where, inner_lr text)``
    for the failing ones; ``inputs`` as in :func:`raise_if_diverged`. The
    targets ``Y`` (and ``Y_val``, where given) are checked in the same read.
    """
    raise_if_diverged(inner_run_status(problem, w0, w, log_lambda, X, Y, lr=lr, Y_val=Y_val),
                      steps=steps, lr=lr, describe=describe, inputs=inputs)


def check_outputs(val_loss, *grads, inputs=None):
    """Raise :class:`HypergradientOverflowError` unless the loss and gradients are finite.

    For the implicit route, whose inner run :func:`~skpoison.hypergrad.train`
    has checked: one more host read. ``inputs`` as in :func:`raise_if_diverged`.
    """
    if not bool(outputs_finite(val_loss, *grads).all()):
        if inputs is not None:
            raise_if_bad_values(inputs)
        raise HypergradientOverflowError(_OUTPUTS_OVERFLOWED.format(where=""))


def check_finite(params, *, steps, lr):
    """Raise :class:`InnerDivergenceError` if ``params`` holds NaN or inf.

    One host synchronization, after the loop, never inside it.

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import InnerDivergenceError, check_finite
    >>> check_finite(torch.tensor([0.5, -1.0]), steps=10, lr=0.1)   # (nothing to say)
    >>> try:
    ...     check_finite(torch.tensor([0.5, float("nan")]), steps=10, lr=0.1)
    ... except InnerDivergenceError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    The inner gradient descent diverged (NaN/inf parameters after 10 steps with inner_lr=0.1)...
    """
    raise_if_diverged(RunStatus(torch.isfinite(params).all().reshape(1), None, None),
                      steps=steps, lr=lr)


_OBJECTIVE_GREW = (
    "The inner gradient descent diverged{where}: the training objective rose over the "
    "{steps} steps with {lr}, more than a stable rate allows, or overflowed to NaN with "
    "finite parameters (a stable rate under L2 lowers the "
    "objective; under L1 its steps zigzag, within a bound). The inner "
    "learning rate is too large for this data: lower inner_lr or scale the features."
)

_OUTPUTS_OVERFLOWED = (
    "The hypergradient is not finite{where}: the inner gradient descent stayed finite, "
    "but the validation loss or the hypergradient's computation overflowed. Either the "
    "features' magnitudes are beyond the floating-point range (scale them, e.g. "
    "StandardScaler or MinMaxScaler, or use float64), or the inner learning rate is "
    "above what the training loss's curvature allows: the run then oscillates without "
    "diverging and the reverse pass grows step by step (lower inner_lr, or use 'auto' "
    "where the model has it; float64 would only return a huge, meaningless "
    "hypergradient)."
)

_UNSTABLE_RATE = (
    "The inner gradient descent diverges{where}: {lr} times the largest L2 weight exp(λ) "
    "is at least 2, so every step multiplies the penalized weights by a factor of "
    "modulus >= 1. Lower the inner learning rate (inner_lr; 'auto' where the model "
    "has it) or the upper end of lambda_bounds (or the fixed λ)."
)
