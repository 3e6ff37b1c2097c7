"""One cell of an attack sweep: one strategy, one repetition (private).

The cell draws the repetition's train / trusted validation / test split,
sets λ as the strategy says, runs the worst-case attack against it over all
poisoning ratios (cumulative batches) and evaluates the victim: the estimator
trained on each poisoned set with that ratio's λ (``outer_steps=0``), measured
on the test set. :func:`run_attack_cells` computes several repetitions of one
strategy with their attacks batched (:func:`skpoison.poisoning.fit_batched`).
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np
from sklearn.base import clone

from .._torch_utils import resolve_device
from ..datasets import make_poisoning_splits
from ..datasets._npz import data_label
from ..estimators._setup import auto_inner_lr
from ..estimators._spectral import squared_spectral_norms
from ..metrics import kuncheva_index, top_k_features, weight_norm_per_parameter
from ..poisoning import OptimalPoisoner, fit_batched
from ._environment import environment
from ._pools import load_pool
from ._strategies import (STRATEGIES, fixed_lambda_estimator, make_estimator,
                          resolve_fixed_lambda)

__all__ = ["run_attack_cell", "run_attack_cells", "cell_rows_problem", "cell_record",
           "draw_split"]

def draw_split(config, repetition, *, data_home=None, n_val=None):
    """The split of one repetition (seed ``config.seed + repetition``).

    The pool is split with the largest trusted set of the sweep first, so
    that sweeps over ``n_val`` (Fig. 4) share training and test sets: the
    trusted set of size ``n_val`` is a class-balanced subset of it
    (:func:`balanced_head`), so that every size is balanced.
    """
    pool = load_pool(config.dataset, config.classes, data_home)
    n_val_max = max(config.n_val, n_val or 0)
    split = make_poisoning_splits(pool.data, pool.target, n_train=config.n_train,
                                  n_val=n_val_max, n_test=config.n_test,
                                  random_state=config.seed + repetition)
    if n_val is not None and n_val < n_val_max:
        rows = balanced_head(split.y_val, n_val)
        split.X_val, split.y_val = split.X_val[rows], split.y_val[rows]
    return pool, split


def balanced_head(y, n):
    """Row indices of ``n`` of the (shuffled) labels ``y``, as class-balanced as possible.

    Each class contributes its first ``n // K`` rows; the ``n % K`` extra
    rows go to the classes whose next row comes first. Indices are returned
    in their original order, so a larger ``n`` keeps every row of a smaller
    one's per-class share.

    Examples
    --------
    >>> balanced_head(np.array([0, 0, 0, 0, 8, 8, 0, 8]), 4).tolist()
    [0, 1, 4, 5]
    """
    classes, codes = np.unique(y, return_inverse=True)
    members = [np.flatnonzero(codes == k) for k in range(len(classes))]
    quota = np.full(len(classes), n // len(classes))
    if n % len(classes):
        following = [rows[q] if q < len(rows) else np.inf for rows, q in zip(members, quota)]
        quota[np.argsort(following, kind="stable")[:n % len(classes)]] += 1
    if any(q > len(rows) for rows, q in zip(members, quota)):
        raise ValueError(f"{n} rows cannot be drawn class-balanced from class counts "
                         f"{[len(rows) for rows in members]}.")
    return np.sort(np.concatenate([rows[:q] for rows, q in zip(members, quota)]))


def rate_log_lambda(config, estimator):
    """The largest λ a strategy of ``config`` may train with, for which the LR
    inner rate is made stable: the learnable box's top, the "large" λ, the
    CV grid's largest value (of the config, whichever strategies a sweep runs,
    as the config names the cells)."""
    return max(float(estimator.lambda_bounds[1]), float(config.large_lambda),
               *(float(v) for v in config.cv_grid))


def _resolve_inner_lr(config, estimator, split, squared_norm=None):
    """A float inner step size, computed once per split (LR: ``"auto"``, see
    :func:`rate_log_lambda`; ``squared_norm``: the training set's ``||[X, 1]||^2``
    when known, see :func:`_squared_norms`)."""
    if config.model != "lr":
        return estimator.inner_lr
    top = rate_log_lambda(config, estimator)
    # (as fit computes it, without fitting: the cell's fits warn, with the cell's
    # own inner_steps, where the features need scaling)
    return auto_inner_lr(estimator, split.X_train, np.unique(split.y_train).size,
                         max_log_lambda=top, squared_norm=squared_norm)


def _squared_norms(config, drawn, repetitions):
    """The ``||[X, 1]||^2`` of the drawn splits' training sets that LR's ``"auto"``
    rate reads (None for networks): on a device in one batched Lanczos, as
    ``fit_batched`` rates its data sets there; on the host each alone, as a
    cell alone computes it (the same bits)."""
    if config.model != "lr":
        return [None] * len(drawn)
    return squared_spectral_norms([split.X_train for _, split in drawn],
                                  device=resolve_device(config.device),
                                  names=[f"repetition {rep}" for rep in repetitions])


def _weights(model):
    return [model.coef_] if hasattr(model, "coef_") else list(model.coefs_)


def _lambda_columns(log_lambda):
    values = np.atleast_1d(np.asarray(log_lambda, dtype=float))
    row = {"log_lambda": float(values[0]) if values.size == 1 else float(values.mean())}
    if values.size > 1:
        row.update({f"log_lambda_{i}": float(v) for i, v in enumerate(values)})
    return row


def _attack(config, strategy, estimator, split, feature_range, seed):
    """The strategy's worst-case attack, unfitted: (victim template, poisoner, fixed λ)."""
    spec = STRATEGIES[strategy]
    if spec.learned:
        target = clone(estimator).set_params(lambda_mode=spec.lambda_mode)
        fixed, hyperparams = None, "learn"
    else:
        fixed = resolve_fixed_lambda(strategy, config, estimator, split.X_train,
                                     split.y_train, random_state=seed)
        target, hyperparams = estimator, "fixed"
    # (the defender's step settings only where the defender steps: a fixed λ's attack
    # would warn that it ignores them)
    settings = ("poison_lr", "normalize", *(("lambda_lr", "lambda_step") if spec.learned
                                             else ()))
    options = {k: getattr(config, k) for k in settings if getattr(config, k) is not None}
    attack = OptimalPoisoner(
        target, ratios=tuple(config.ratios), batch_size=config.batch_size,
        hyperparams=hyperparams, fixed_lambda=fixed, mode="replace",
        feature_range=tuple(feature_range), outer_steps=config.attack_steps,
        reinit_each_step=config.model == "mlp", reuse_validation=True,
        random_state=seed, device=config.device, dtype=config.dtype, **options,
    )
    return target, attack, fixed


class _Cell(NamedTuple):
    """One repetition's split and its attack, ready to run."""

    repetition: int
    split: object
    target: object
    attack: OptimalPoisoner
    fixed: object


def _prepare_cell(config, strategy, repetition, data_home, n_val, drawn=None,
                  squared_norm=None):
    """One cell's split and attack (``drawn``: its ``draw_split``, if drawn already;
    ``squared_norm``: see :func:`_resolve_inner_lr`)."""
    seed = int(config.seed + repetition)
    pool, split = drawn or draw_split(config, repetition, data_home=data_home, n_val=n_val)
    estimator = make_estimator(config, random_state=seed)
    estimator.set_params(inner_lr=_resolve_inner_lr(config, estimator, split, squared_norm))
    target, attack, fixed = _attack(config, strategy, estimator, split,
                                    pool.feature_range, seed)
    return _Cell(int(repetition), split, target, attack, fixed)


def _cell_rows(config, strategy, cell, results):
    """Train and score the victim on every poisoned set of one repetition."""
    split, rows, clean_top = cell.split, [], None
    for result in results:
        log_lambda = cell.fixed if cell.fixed is not None else result.log_lambda
        victim = fixed_lambda_estimator(cell.target, log_lambda)
        if config.victim_steps is not None:   # (outer_steps=0: the final fit's steps)
            victim.set_params(final_steps=config.victim_steps)
        victim.fit(result.X, result.y, split.X_val, split.y_val)
        weights = _weights(victim)
        row = dict(dataset=data_label(config.dataset), model=config.model,
                   penalty=config.penalty,
                   strategy=strategy, ratio=float(result.ratio),
                   repetition=cell.repetition,
                   n_poison=int(result.n_poison), n_val=int(len(split.y_val)),
                   test_error=float(1.0 - victim.score(split.X_test, split.y_test)),
                   val_error=float(1.0 - victim.score(split.X_val, split.y_val)),
                   **_lambda_columns(log_lambda),
                   weight_norm=weight_norm_per_parameter(weights),
                   attack_val_loss=float(result.val_loss))
        if len(weights) > 1:
            row.update({f"weight_norm_{i}": weight_norm_per_parameter(w)
                        for i, w in enumerate(weights)})
        if config.model == "lr":
            top = _top_features(victim.coef_, config.top_k)
            if result.ratio == 0:   # the clean model: first (SweepConfig has ratio 0)
                clean_top = top
            row.update({f"kuncheva_k{k}": math.nan if top[k] is None or clean_top[k] is None
                        else kuncheva_index([clean_top[k], top[k]], victim.coef_.shape[1])
                        for k in top})
        rows.append(row)
    return rows


def _top_features(coef, ks):
    """``{k: top_k_features(coef, k)}`` for the ``k`` below the number of features.

    None for a ``k`` beyond the features whose weights are not all 0 (a model
    that L1 shrank to a few weights, or to none): its top ``k`` would then be
    ties at 0, broken by index, and their consistency index a number about
    nothing. The row's index is NaN, which the tables and plots leave out.
    """
    nonzero = int(np.count_nonzero(np.any(np.atleast_2d(coef) != 0, axis=0)))
    return {k: top_k_features(coef, k) if k <= nonzero else None
            for k in ks if k < coef.shape[-1]}


def _timed(rows, seconds):
    for row in rows:
        row["cell_seconds"] = seconds
    return rows


def run_attack_cell(config, strategy, repetition, data_home=None, n_val=None,
                    resume_file=None):
    """Attack one strategy on one repetition; one row per poisoning ratio.

    Parameters
    ----------
    config : SweepConfig
    strategy : str
        A key of :data:`~skpoison.experiments.STRATEGIES`.
    repetition : int
    data_home : path-like or None
    n_val : int or None
        Size of the trusted set (None: ``config.n_val``).
    resume_file : path-like or None
        The attack's ``resume_file`` (:class:`~skpoison.OptimalPoisoner`):
        an interrupted cell resumes after its last saved batch.

    Returns
    -------
    rows : list of dict
        ``dataset, model, penalty, strategy, ratio, repetition, n_poison,
        n_val, test_error, val_error, log_lambda`` (``log_lambda_i`` per layer
        when several), ``weight_norm`` (``||w||^2 / p``; ``weight_norm_i`` per layer for
        networks), ``attack_val_loss``, ``kuncheva_k<k>`` (linear models: the
        top-k features of this model against those of the clean one of the
        same cell) and ``cell_seconds``.

    Examples
    --------
    >>> from skpoison.experiments import make_config, run_attack_cell
    >>> rows = run_attack_cell(make_config("digits", size="tiny"), "learned", repetition=0)
    >>> [(row["ratio"], row["n_poison"]) for row in rows]
    [(0.0, 0), (0.1, 5), (0.2, 10)]
    """
    return attack_cell_rows(config, strategy, repetition, data_home, n_val, resume_file)


def attack_cell_rows(config, strategy, repetition, data_home, n_val, resume_file,
                     keep_resume_file=False, verbose=0):
    """:func:`run_attack_cell`; ``keep_resume_file``: the attack leaves its
    ``resume_file`` behind when it ends (for a sweep, which removes it once
    the cell's rows are stored); ``verbose``: the attack's."""
    start = time.perf_counter()
    cell = _prepare_cell(config, strategy, repetition, data_home, n_val)
    split = cell.split
    cell.attack._keep_resume_file = keep_resume_file
    cell.attack.set_params(resume_file=resume_file, verbose=verbose)
    cell.attack.fit(split.X_train, split.y_train, X_val=split.X_val, y_val=split.y_val)
    rows = _cell_rows(config, strategy, cell, cell.attack.results_)
    return _timed(rows, time.perf_counter() - start)


#: Columns every row of a cell holds as a number (ints included, bools not).
_NUMERIC_COLUMNS = ("ratio", "repetition", "n_poison", "n_val", "test_error", "val_error",
                    "weight_norm", "attack_val_loss")


def cell_rows_problem(args, rows):
    """Why stored ``rows`` cannot be what ``run_attack_cell(**args)`` returns, or None.

    A resumed sweep reads its finished cells back from files, which can be
    edited; rows for other ratios, another strategy or repetition, or
    non-numeric values would otherwise enter the tables unnoticed.

    Examples
    --------
    >>> from skpoison.experiments import make_config
    >>> args = dict(config=make_config(size="tiny"), strategy="large", repetition=0)
    >>> cell_rows_problem(args, [])
    'it has rows for the ratios [], the sweep has [0.0, 0.1, 0.2]'
    """
    config = args["config"]
    expected = [float(r) for r in config.ratios]
    found = [row.get("ratio") for row in rows]
    if found != expected:
        return f"it has rows for the ratios {found}, the sweep has {expected}"
    # At most n_val trusted points (a small pool can cap the trusted set below it).
    n_val = config.n_val if args.get("n_val") is None else args["n_val"]
    for row in rows:
        owner = (row.get("strategy"), row.get("repetition"))
        if owner != (args["strategy"], args["repetition"]):
            return (f"a row belongs to strategy and repetition {owner}, the cell to "
                    f"{(args['strategy'], args['repetition'])}")
        for column in _NUMERIC_COLUMNS:
            value = row.get(column)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"its {column} {value!r} (ratio {row['ratio']}) is not a number"
        implausible = _implausible_value(row)
        if implausible:
            return f"its {implausible} (ratio {row['ratio']})"
        if row["n_val"] > n_val:
            return f"its trusted set has {row['n_val']} points, the cell at most {n_val}"
    return None


def _implausible_value(row):
    """What no attack cell computes in a row of numbers (NaN, an error above 1, ...), or None."""
    for column in ("test_error", "val_error"):
        if not 0.0 <= row[column] <= 1.0:      # (NaN included)
            return f"{column} {row[column]!r} is not an error rate in [0, 1]"
    if not 0.0 <= row["attack_val_loss"] < math.inf:
        return f"attack_val_loss {row['attack_val_loss']!r} is not a finite log-loss"
    for column, value in row.items():
        number = not isinstance(value, bool) and isinstance(value, (int, float))
        # (NaN: a model with fewer than k nonzero weights has no top k, see _top_features)
        if column.startswith("kuncheva_k") and not (
                number and (-1.0 <= value <= 1.0 or math.isnan(value))):
            return f"{column} {value!r} is not a consistency index in [-1, 1] (or NaN)"
        if column.startswith("weight_norm") and not (number and 0.0 <= value < math.inf):
            return f"{column} {value!r} is not a finite, non-negative norm"
        if column.startswith("log_lambda") and not (number and value < math.inf):
            return (f"{column} {value!r} is not a log-strength (a number below +inf; "
                    "-inf: no regularization)")
    if "log_lambda" not in row:
        return "log_lambda is missing"
    return None


def cell_record(args):
    """What computes the cell ``run_attack_cell(**args)`` here: versions and device."""
    return environment(args["config"].device)


def run_attack_cells(config, strategy, repetitions, data_home=None, n_val=None, verbose=0):
    """:func:`run_attack_cell` for several repetitions, their attacks batched.

    The repetitions' attacks run as one batched computation
    (:func:`skpoison.poisoning.fit_batched`: the same numbers as separate
    cells up to floating-point rounding); the victims are then evaluated one
    by one. ``cell_seconds`` is the group's time divided by its size.
    ``verbose``: the batched attack's (its progress bars).

    Returns
    -------
    list of list of dict
        The rows of each repetition, in the order of ``repetitions``.
    """
    start = time.perf_counter()
    drawn = [draw_split(config, rep, data_home=data_home, n_val=n_val) for rep in repetitions]
    norms = _squared_norms(config, drawn, repetitions)
    cells = [_prepare_cell(config, strategy, rep, data_home, n_val, pair, norm)
             for rep, pair, norm in zip(repetitions, drawn, norms)]
    datasets = [(c.split.X_train, c.split.y_train, c.split.X_val, c.split.y_val)
                for c in cells]
    if cells:
        cells[0].attack.set_params(verbose=verbose)   # (fit_batched: attack 0's bars)
    fitted = fit_batched([c.attack for c in cells], datasets)
    rows = [_cell_rows(config, strategy, cell, attack.results_)
            for cell, attack in zip(cells, fitted)]
    seconds = (time.perf_counter() - start) / max(len(cells), 1)
    return [_timed(cell_rows, seconds) for cell_rows in rows]
