"""The optimization loop of the hyperparameter-aware attack (Alg. 2), in torch.

Everything here stays on the attack's device: no numpy, no ``.item()``; the
validation losses and λ of every step are kept as tensors and moved to the
host once, after the attack.

The same loop runs one attack or ``K`` independent ones at once
(``AttackConfig.batched``): every tensor then carries a leading dimension
``K`` (features ``(K, n, d)``, λ ``(K, n_hyper)``, losses ``(K,)``) and each
outer step is one :func:`~skpoison.hypergrad.batched_hypergradient` call.
Rows are always the second-to-last dimension, so the code is shared. On a
GPU, reverse mode replays a CUDA graph captured once per batch size
(:func:`~skpoison.hypergrad.make_hypergradient`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import torch
from torch.func import vmap

from ..estimators._base import warn_if_lambda_never_moved
from ..estimators._outer import LambdaOptimizer
from .._torch_utils import make_generator
from .._warn import warn_user
from ..hypergrad import batched_train, make_hypergradient, train


class AttackConfig(NamedTuple):
    """What stays fixed during the whole attack (tensors on the device)."""

    problem: object
    w0: torch.Tensor
    steps: int
    lr: object          # float, or a (K,) tensor of per-problem rates when batched
    method: str
    X_val: torch.Tensor
    Y_val: torch.Tensor
    box_low: torch.Tensor
    box_high: torch.Tensor
    lambda_low: float
    lambda_high: float
    outer_steps: int
    poison_lr: float
    lambda_lr: float
    normalize: str
    lambda_step: str
    # fresh initial weights per outer step; unbatched, a WeightDraws, whose
    # get_state / set_state the resume files use
    draw_w0: Optional[Callable[[], torch.Tensor]] = None
    batched: bool = False
    checkpoint_every: object = None     # reverse mode only


class WeightDraws:
    """Initial weights drawn afresh at every outer step, from one seeded stream.

    The stream's state can be saved and restored (a resumed attack goes on
    drawing where the interrupted one stopped).
    """

    def __init__(self, problem, seed, tensor):
        self.problem, self.tensor = problem, tensor
        self.generator = make_generator(seed, "cpu")

    def __call__(self):
        return self.on_host().to(**self.tensor)

    def on_host(self):
        """The next weights as drawn (float64, on the CPU), before ``__call__``'s move."""
        return self.problem.init_params(self.generator)

    def get_state(self):
        return self.generator.get_state()

    def set_state(self, state):
        self.generator.set_state(state)


def warn_if_defender_stayed(config, result, outer_steps):
    """Warn when the defender's λ never moved in an attack that learns it.

    ``result`` is the largest ratio's :class:`PoisoningResult`, whose path holds
    a run of ``outer_steps`` steps per batch of points (each relearns λ from its
    start); with ratios of 0 only, no attack ran, λ was learned on the clean data.
    """
    attacked = bool(result.n_poison)
    warn_if_lambda_never_moved(
        result.lambda_path, config.lambda_low, config.lambda_high, config.method,
        consequence=("the attack ran against λ fixed at its start, not against a "
                     "defender who learns it") if attacked
        else "the λ reported is where it started, not a learned value",
        during=f"any of the defender's {outer_steps} outer steps per batch" if attacked
        else f"the defender's {outer_steps} outer steps on the clean data")


def warn_if_lambda_steps_unused(**settings):
    """Warn of the defender's step settings given to an attack of a fixed λ (unused)."""
    unused = [name for name, value in settings.items() if value is not None]
    if unused:
        warn_user(f"{' and '.join(unused)} {'is' if len(unused) == 1 else 'are'} ignored "
                  "with hyperparams='fixed' (the defender's λ does not move); set "
                  "hyperparams='learn' to use them.")


def ascent_direction(grad, normalize):
    """``grad / ||grad||`` per poisoning point (``"point"``) or per batch (``"batch"``).

    A zero gradient gives a zero step (no division by zero, no host sync).
    ``grad`` is ``(n_poison, n_features)``, or ``(K, n_poison, n_features)``
    for ``K`` attacks (one batch norm per attack).

    Examples
    --------
    >>> g = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    >>> ascent_direction(g, "point")
    tensor([[0.6000, 0.8000],
            [0.0000, 0.0000]])
    >>> ascent_direction(g, "batch")
    tensor([[0.6000, 0.8000],
            [0.0000, 0.0000]])
    >>> ascent_direction(g * 1e-25, "point")       # (its squares underflow float32)
    tensor([[0.6000, 0.8000],
            [0.0000, 0.0000]])
    """
    dim = -1 if normalize == "point" else (-2, -1)
    # The norm's squares under- or overflow for entries beyond about 1e±19 in
    # float32 (a saturated network's gradient can be that small): there, and only
    # there, the gradient is divided by its largest entry first. Elsewhere it is
    # divided by 1, so the direction is bitwise grad / ||grad||.
    finfo = torch.finfo(grad.dtype)
    largest = grad.abs().amax(dim=dim, keepdim=True)
    extreme = (largest > 0) & ((largest < finfo.tiny ** 0.5 / finfo.eps)
                               | (largest > finfo.max ** 0.5 * finfo.eps))
    grad = grad / torch.where(extreme, largest, torch.ones_like(largest))
    norm = torch.linalg.vector_norm(grad, dim=dim, keepdim=True)
    return grad / norm.clamp_min(finfo.tiny)


def evaluate(config, X, Y, log_lambda):
    """Validation loss of the model trained on ``(X, Y)`` with ``log_lambda``."""
    problem = config.problem
    if config.batched:
        w = batched_train(problem, config.w0, log_lambda, X, Y, steps=config.steps,
                          lr=config.lr)
        with torch.no_grad():
            return vmap(problem.data_loss)(w, config.X_val, config.Y_val)
    w = train(problem, config.w0, log_lambda, X, Y, steps=config.steps, lr=config.lr)
    with torch.no_grad():
        return problem.data_loss(w, config.X_val, config.Y_val)


def hypergradient_for(config, n_poison, engines):
    """The attack's hypergradient callable for batches of ``n_poison`` points.

    ``engines`` (a dict kept for the whole attack) holds one per batch size,
    so that on a GPU each captures its CUDA graph once (see
    :func:`~skpoison.hypergrad.make_hypergradient`).
    """
    if n_poison not in engines:
        engines[n_poison] = make_hypergradient(
            config.problem, method=config.method, n_poison=n_poison, steps=config.steps,
            lr=config.lr, checkpoint_every=config.checkpoint_every, batched=config.batched)
    return engines[n_poison]


def optimize_batch(config, X_fixed, Y_fixed, X_poison, Y_poison, log_lambda, *, learn,
                   progress=None, engines=None):
    """Projected ascent on a batch of poisoning points, descent on λ (minimax).

    Parameters
    ----------
    config : AttackConfig
    X_fixed, Y_fixed : Tensor
        Training rows that do not move: the clean points kept and the frozen
        poisoning points of earlier batches.
    X_poison, Y_poison : Tensor
        The batch being optimized (may be empty: λ is then learned alone).
    log_lambda : Tensor of shape (n_lambdas,) or (K, n_lambdas)
        Starting λ.
    learn : bool
        Descend on λ (the defender) or keep it fixed.
    progress : callable or None
        Called once per outer step.
    engines : dict or None
        The attack's hypergradient callables by batch size
        (:func:`hypergradient_for`), kept across batches.

    Returns
    -------
    X_poison : Tensor
        The optimized batch, inside the box.
    log_lambda : Tensor
    losses : list of Tensor
        ``outer_steps`` validation losses (before each update) and the loss of
        the final state (0-d, or ``(K,)`` when batched).
    lambdas : list of Tensor
        λ at each of those evaluations.
    """
    n_poison = X_poison.shape[-2]
    Y = torch.cat([Y_fixed, Y_poison], dim=-2)
    losses, lambdas = [], []
    # A step size past the dtype's largest value would be inf there, and inf times
    # a zero gradient entry NaN: the largest finite one moves as far (to the box;
    # LambdaOptimizer does the same for λ's rate).
    largest = float(torch.finfo(X_poison.dtype).max)
    poison_lr = min(config.poison_lr, largest)
    # A fresh optimizer per batch: λ and its step statistics start anew.
    defender = LambdaOptimizer(config.lambda_step, config.lambda_lr,
                               (config.lambda_low, config.lambda_high))
    hypergradient = hypergradient_for(config, n_poison, {} if engines is None else engines)
    for _ in range(config.outer_steps):
        w0 = config.w0 if config.draw_w0 is None else config.draw_w0()
        X = torch.cat([X_fixed, X_poison], dim=-2)
        result = hypergradient(w0, log_lambda, X, Y, config.X_val, config.Y_val)
        losses.append(result.val_loss)
        lambdas.append(log_lambda)
        if n_poison:
            step = ascent_direction(result.grad_X_poison, config.normalize)
            X_poison = torch.clamp(X_poison + poison_lr * step,
                                   config.box_low, config.box_high)
        if learn:
            log_lambda = defender.step(log_lambda, result.grad_log_lambda)
        if progress is not None:
            progress()
    losses.append(evaluate(config, torch.cat([X_fixed, X_poison], dim=-2), Y, log_lambda))
    lambdas.append(log_lambda)
    return X_poison, log_lambda, losses, lambdas
