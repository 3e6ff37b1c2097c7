"""The 2-D synthetic example of the paper's Fig. 1 (private).

Logistic regression on two Gaussian classes; one poisoning point (a
validation clone with its label flipped) is *injected* into the training set.
For every position of that point on a grid over the feasible box we train the
model (the engine's inner solver, one stacked problem per position)
without regularization, with a fixed λ, and over a grid
of λ, and record the validation error and the λ with the lowest validation
loss. The optimal position of the point (the attack) and the decision
boundaries with and without it come from :class:`~skpoison.poisoning.OptimalPoisoner`.
"""

from __future__ import annotations


import numpy as np
import torch

from .._constraints import check_count
from .._progress import progress_bar
from ..datasets import default_sizes, load_dataset, make_poisoning_splits
from ..estimators import HypergradRegularizedLR
from ..estimators._setup import auto_inner_lr
from ..models import LinearProblem
from ..poisoning import OptimalPoisoner

__all__ = ["synthetic_maps", "SYNTHETIC_SIZES"]

#: grid points per axis, λ grid points, inner steps T, attack steps.
SYNTHETIC_SIZES = {"tiny": (6, 3, 10, 2), "quick": (25, 9, 100, 20),
                   "full": (41, 17, 200, 50)}


def _train_all(points, label, log_lambda, X, Y, steps, lr):
    """Parameters trained with each row of ``points`` appended (one label).

    One stacked problem per position (the model's batched loops): ``vmap``
    over the single loop cannot batch its ``out=`` kernels, and looping over
    the positions took 25 times as long.
    """
    problem = LinearProblem(X.shape[1], 1)
    G = len(points)
    X_all = torch.cat([X.expand(G, -1, -1), points[:, None, :]], dim=1)
    Y_all = torch.cat([Y.expand(G, -1, -1), Y.new_full((G, 1, 1), float(label))], dim=1)
    w0 = problem.init_params(dtype=X.dtype).expand(G, -1)
    with torch.no_grad():
        unroll = problem.batched_unroll(log_lambda.expand(G, -1), X_all, Y_all, lr=lr)
        return unroll.train(w0, steps)


def _val_metrics(W, X_val, y_val):
    """Validation error and logistic loss of each parameter row of ``W``."""
    scores = X_val @ W[:, :2].T + W[:, 2]                       # (n_val, G)
    y = torch.as_tensor(y_val, dtype=W.dtype)[:, None]
    error = ((scores > 0).to(W.dtype) != y).to(W.dtype).mean(0)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        scores, y.expand_as(scores), reduction="none").mean(0)
    return error.numpy(), loss.numpy()


def _attack_point(split, fixed, *, inner_lr, steps, attack_steps, seed, feature_range):
    estimator = HypergradRegularizedLR(inner_steps=steps, inner_lr=inner_lr,
                                       lambda_bounds=(-np.inf, 0.0))
    attack = OptimalPoisoner(estimator, ratios=(1.0 / len(split.y_train),), batch_size=1,
                             hyperparams="fixed", fixed_lambda=fixed, mode="inject",
                             feature_range=feature_range, outer_steps=attack_steps,
                             poison_lr=0.5, random_state=seed)
    attack.fit(split.X_train, split.y_train, X_val=split.X_val, y_val=split.y_val)
    result = attack.results_[-1]
    # (the model the attack evaluated: a fixed λ above the box is not clipped to 0)
    victim = attack.victim_for(result).fit(result.X, result.y, split.X_val, split.y_val)
    point = result.X[result.poison_mask][0]
    label = result.y[result.poison_mask][0]
    return point, label, np.r_[victim.coef_.ravel(), victim.intercept_]


def _count(value, default, name, minimum):
    return default if value is None else check_count(value, name, minimum)


def synthetic_maps(*, size="quick", fixed_lambda=-1.0, lambda_grid=None, grid_points=None,
                   inner_steps=None, attack_steps=None, seed=0, verbose=False):
    """Compute everything the synthetic figure (Fig. 1) shows.

    Parameters
    ----------
    size : {"tiny", "quick", "full"}, default="quick"
        Presets of :data:`SYNTHETIC_SIZES` (grid points per axis, λ-grid
        points, inner steps, attack steps).
    fixed_lambda : float, default=-1.0
        λ of the regularized panel (the project's choice; alpha ~ 0.37).
    lambda_grid : array-like or None
        λ values searched for the optimal-λ map (default: evenly spaced in
        [-8, 0]).
    grid_points, inner_steps, attack_steps : int or None
        Override the preset.
    seed : int, default=0
        Seeds the split and the attack.
    verbose : bool, default=False
        Progress bar over the λ values.

    Returns
    -------
    maps : dict
        ``grid`` (positions per axis), ``val_error_noreg``, ``val_error_reg``,
        ``val_loss_noreg``, ``val_loss_reg`` and ``best_lambda`` (arrays of
        shape (G, G), indexed [x1, x2]); ``lambda_grid``; ``fixed_lambda``;
        the training set; ``w_clean`` (clean model without regularization);
        the optimal poisoning points ``poison_noreg`` / ``poison_reg``, their
        ``poison_label`` and the poisoned models ``w_poisoned_noreg`` /
        ``w_poisoned_reg`` (``[w1, w2, b]``); the ``inner_steps``,
        ``attack_steps`` and ``seed`` used.

    Examples
    --------
    >>> from skpoison.experiments import synthetic_maps
    >>> maps = synthetic_maps(size="tiny")
    >>> maps["val_error_noreg"].shape, maps["best_lambda"].shape
    ((6, 6), (6, 6))
    """
    g_default, l_default, t_default, a_default = SYNTHETIC_SIZES[size]
    # None takes the preset; a value is used as given (attack_steps=0: the
    # label-flipped validation clone, not moved).
    grid_points = _count(grid_points, g_default, "grid_points", 2)
    steps = _count(inner_steps, t_default, "inner_steps", 1)
    attack_steps = _count(attack_steps, a_default, "attack_steps", 0)
    seed = check_count(seed, "seed", 0)
    if seed >= 2**32:     # (numpy's own error names no parameter)
        raise ValueError(f"seed must be an integer below 2**32, got {seed}.")
    if lambda_grid is None:
        lambda_grid = np.linspace(-8.0, 0.0, l_default)
    lambda_grid = np.asarray(lambda_grid, dtype=float)
    pool = load_dataset("synthetic")
    split = make_poisoning_splits(pool.data, pool.target, **default_sizes("synthetic"),
                                  random_state=seed)
    low, high = pool.feature_range
    # The rate every map and attack shares: stable up to the largest λ they train
    # with (a fixed λ or a grid value above the box's 0 diverged at 0's rate).
    top = max(0.0, float(fixed_lambda), float(np.max(lambda_grid, initial=0.0)))
    # (computed apart, then given: fit would warn that the rate is small for the
    # unregularized model, of a choice made here, not by the caller)
    lr = auto_inner_lr(HypergradRegularizedLR(inner_steps=steps), split.X_train, 2,
                       max_log_lambda=top)
    clean = HypergradRegularizedLR(inner_steps=steps, inner_lr=lr, outer_steps=0,
                                   lambda_init=-np.inf, lambda_bounds=(-np.inf, 0.0))
    clean.fit(split.X_train, split.y_train, split.X_val, split.y_val)
    common = dict(inner_lr=lr, steps=steps, attack_steps=attack_steps, seed=seed,
                  feature_range=(low, high))
    poison_noreg, label, w_noreg = _attack_point(split, -np.inf, **common)
    poison_reg, _, w_reg = _attack_point(split, fixed_lambda, **common)

    grid = np.linspace(low, high, grid_points)
    points = torch.as_tensor(np.array(np.meshgrid(grid, grid, indexing="ij")).reshape(2, -1).T)
    X = torch.as_tensor(split.X_train)
    Y = torch.as_tensor(split.y_train, dtype=X.dtype)[:, None]
    X_val = torch.as_tensor(split.X_val)
    shape = (grid_points, grid_points)

    def evaluate(log_lambda):
        W = _train_all(points, label, torch.tensor([log_lambda], dtype=X.dtype), X, Y,
                       steps, lr)
        error, loss = _val_metrics(W, X_val, split.y_val)
        return error.reshape(shape), loss.reshape(shape)

    err_noreg, loss_noreg = evaluate(-np.inf)
    err_reg, loss_reg = evaluate(float(fixed_lambda))
    grid_bar = progress_bar(lambda_grid, desc="fig1: λ grid", disable=not verbose, unit="λ")
    losses = np.stack([evaluate(float(v))[1] for v in grid_bar])
    best = lambda_grid[np.argmin(losses, axis=0)]
    return dict(grid=grid, val_error_noreg=err_noreg, val_error_reg=err_reg,
                val_loss_noreg=loss_noreg, val_loss_reg=loss_reg, best_lambda=best,
                lambda_grid=lambda_grid, fixed_lambda=float(fixed_lambda),
                X_train=split.X_train, y_train=split.y_train,
                w_clean=np.r_[clean.coef_.ravel(), clean.intercept_],
                poison_noreg=poison_noreg, poison_reg=poison_reg, poison_label=int(label),
                w_poisoned_noreg=w_noreg, w_poisoned_reg=w_reg, inner_steps=steps,
                attack_steps=attack_steps, seed=seed)


def synthetic_rows(maps):
    """Tidy rows of the maps: one per poisoning-point position."""
    rows = []
    for i, x1 in enumerate(maps["grid"]):
        for j, x2 in enumerate(maps["grid"]):
            rows.append(dict(poison_x1=float(x1), poison_x2=float(x2),
                             poison_label=maps["poison_label"],
                             val_error_noreg=float(maps["val_error_noreg"][i, j]),
                             val_error_reg=float(maps["val_error_reg"][i, j]),
                             val_loss_noreg=float(maps["val_loss_noreg"][i, j]),
                             val_loss_reg=float(maps["val_loss_reg"][i, j]),
                             best_log_lambda=float(maps["best_lambda"][i, j])))
    return rows
