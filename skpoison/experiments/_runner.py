"""Attack sweeps over strategies x repetitions (x trusted-set sizes) (private)."""

from __future__ import annotations

import hashlib
import inspect
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._hashing import update_with_arrays
from .._torch_utils import resolve_device
from ..datasets._cifar import quiet_caveats
from ..datasets._npz import data_label, is_data_file
from ..poisoning import OptimalPoisoner
from ..poisoning._resume import discard_if_not_resume_file

from ._aggregate import format_table
from ._attack_cell import (attack_cell_rows, cell_record, cell_rows_problem, draw_split,
                           rate_log_lambda, run_attack_cells)
from ._canonical import as_count, is_sequence
from ._cell_keys import cell_config
from ._cell_locks import outputs_locked
from ._config import make_config
from ._environment import environment
from ._outputs import output_stem, write_tables
from ._pools import load_pool
from ._strategies import check_strategies, make_estimator
from ._sweep import check_execution, check_writable, run_sweep
from ._titles import caveat_note, penalty_label, repetitions_text, short_title

__all__ = ["run_attack_sweep", "evaluate", "prepare", "check_batch_repetitions"]


def prepare(config, out, data_home=None):
    """Checks done before any work: device, writable output, loadable data, strategies,
    sizes.

    Loads the pool in this process, so that a missing data set or an unknown
    class fails at once (and a download happens once, not in every worker),
    and draws the first repetition's split, so that sizes the pool cannot
    hold fail at once too. A device every cell would refuse (misspelt, or
    CUDA where there is none) fails at once as well, not cell by cell.
    """
    resolve_device(config.device)
    out = check_writable(out)
    check_writable(out / "cells")      # where run_sweep stores each finished cell
    check_strategies(config.strategies, config.model)
    _, split = draw_split(config, 0, data_home=data_home)
    _check_clean_rows_left(config, np.unique(split.y_train).size)
    return out


def _check_clean_rows_left(config, n_classes):
    """Refuse a training set that the largest ratio leaves with fewer than two clean
    points per class (the cells would fail one by one, in the workers)."""
    poisoned = int(round(max(config.ratios) * config.n_train))
    left = config.n_train - poisoned
    if left < 2 * n_classes:
        raise ValueError(
            f"n_train={config.n_train} keeps {left} clean training points at the largest "
            f"ratio, {max(config.ratios):g} ({poisoned} replaced): too few for "
            f"{n_classes} classes (two each at least); raise n_train or lower the ratios "
            "(--n-train, --ratios).")


def sweep_settings(config, pool):
    """Everything behind a sweep's numbers, as a JSON-able dict.

    The config's identity, the data's fingerprint and caveat, the defaults
    the config leaves to the library, and the library's version: what names
    the sweep's cells, and what ``<name>_settings.json`` beside its CSV holds.
    """
    from .. import __version__

    data = {"fingerprint": data_fingerprint(pool), "caveat": pool.get("caveat")}
    if is_data_file(config.dataset):
        data["path"] = config.dataset   # (the key holds the file's content, not its path)
        data["feature_range"] = [np.asarray(b, dtype=np.float64).tolist()
                                 for b in pool.feature_range]   # (the attack's box)
    return {"config": config.identity(), "data": data,
            "defaults": attack_defaults(config), "skpoison": __version__}


def data_fingerprint(pool):
    """Short hash of a pool's features and labels (names the cells it feeds).

    Two copies of a data set that differ (the JPEG-recompressed CIFAR-10 and
    the lossless one, say) then never share cells. A file of your own also
    sets the poisoning box: it is hashed too.
    """
    arrays = (pool.data, pool.target)
    if is_data_file(pool.name):
        arrays += tuple(np.asarray(b, dtype=np.float64) for b in pool.feature_range)
    return update_with_arrays(hashlib.sha1(), arrays).hexdigest()[:10]


def attack_defaults(config):
    """The victim's and the poisoner's settings that the config leaves to defaults.

    Part of every cell's name, so that a change of a library default never
    silently mixes old cells with new ones.
    """
    template = make_estimator(config, random_state=0)
    estimator = template.get_params(deep=False)
    for name in ("device", "random_state", "verbose"):
        estimator.pop(name, None)
    if estimator.get("l1_step") == "subgradient":
        # The step the estimators took before l1_step existed: the cells computed
        # then keep their names (config.l1_step names a proximal sweep's).
        del estimator["l1_step"]
    if estimator["tol"] is None:
        # No stopping rule (the attack's defender never stops early): the cells
        # computed before the rule existed keep their names.
        del estimator["tol"], estimator["n_iter_no_change"]
    poisoner = {name: p.default for name, p in
                inspect.signature(OptimalPoisoner).parameters.items()
                if p.default is not inspect.Parameter.empty
                and name not in ("device", "dtype", "verbose", "random_state",
                                 "resume_file")}
    defaults = {"estimator": estimator, "poisoner": poisoner}
    top = rate_log_lambda(config, template)
    if config.model == "lr" and top > float(template.lambda_bounds[1]):
        # A λ above the box lowers the LR inner rate of every strategy (cells
        # computed before that rule had the box's rate). Only then: the cells of
        # the other configs keep their names.
        defaults["inner_rate_log_lambda"] = top
    return defaults


def check_batch_repetitions(batch_repetitions):
    """``batch_repetitions`` must be a positive int (checked before any work)."""
    if isinstance(batch_repetitions, bool) or not isinstance(batch_repetitions, Integral) \
            or batch_repetitions < 1:
        raise ValueError(f"batch_repetitions={batch_repetitions!r} must be a positive int.")


def _attack_group(cells, progress=False):
    """Several repetitions of one (strategy, trusted-set size), attacks batched
    (``progress``: the batched attack's own bars)."""
    first = cells[0]
    with quiet_caveats():   # (the sweep has warned of its data's caveat, once)
        return run_attack_cells(first["config"], first["strategy"],
                                [cell["repetition"] for cell in cells],
                                data_home=first["data_home"], n_val=first["n_val"],
                                verbose=int(progress))


def _attack_cell(resume_file=None, progress=False, **cell):
    """:func:`run_attack_cell` in a sweep, which has warned of its data's caveat once.

    The sweep names the cell's ``resume_file`` and removes it once the cell's
    file is written: a damaged one is removed (the cell starts over), and the
    attack leaves it behind when it ends. ``progress``: the attack's own bars.
    """
    if resume_file is not None:
        discard_if_not_resume_file(resume_file)
    with quiet_caveats():
        return attack_cell_rows(**cell, resume_file=resume_file, keep_resume_file=True,
                                verbose=int(progress))


def _group_key(cell):
    return cell["strategy"], cell["n_val"]


def run_attack_sweep(config, out, *, n_vals=None, data_home=None, n_jobs=1, backend=None,
                     verbose=True, batch_repetitions=1):
    """Run (or resume) the attack sweep of a configuration.

    One cell per (strategy, repetition[, trusted-set size]) is computed by
    :func:`run_attack_cell` and stored in ``out/cells/``; cells already
    there are reused. A cell's name hashes the settings that determine it
    (not the list of strategies, the number of repetitions or the execution
    settings, nor the fixed λ of another strategy: ``large_lambda`` and
    ``cv_grid`` name the ``"large"`` and ``"cv"`` cells, and the others only
    where they set logistic regression's inner step size), so figures that
    share a sweep share its cells, and adding repetitions (or changing the
    large λ) only computes the new cells. The hash also covers a
    fingerprint of the data (:func:`data_fingerprint`) and the estimator's
    and poisoner's defaults (:func:`attack_defaults`): another copy of the
    data or a changed default starts new cells instead of mixing them.

    Parameters
    ----------
    config : SweepConfig
    out : path-like
    n_vals : sequence of int or None
        Trusted-set sizes (Fig. 4 / 9), each run once; ``config.n_val`` must be
        their maximum (else ``ValueError``).
    data_home : path-like or None
    n_jobs : int, default=1
    backend : str or None
        joblib backend name.
    verbose : bool
    batch_repetitions : int, default=1
        Run up to this many repetitions of a strategy as one batched attack
        (:func:`skpoison.poisoning.fit_batched`); worth it on a GPU, and on a
        CPU for small data (for large data the engine runs the K problems
        one after another: no gain). The numbers equal the unbatched ones up to
        floating-point rounding, and cells are stored (and resumed) per
        repetition either way.

    Returns
    -------
    rows : list of dict
        Tidy rows, one per (strategy, ratio, repetition[, n_val]). Rows
        computed from inexact data carry the loader's caveat in
        ``data_caveat`` (the JPEG-recompressed CIFAR-10 copy).

    Examples
    --------
    A second run reuses the stored cells:

    >>> import os
    >>> import tempfile
    >>> from skpoison.experiments import make_config, run_attack_sweep
    >>> config = make_config("digits", size="tiny", strategies=("learned",), repetitions=1)
    >>> with tempfile.TemporaryDirectory() as out:
    ...     rows = run_attack_sweep(config, out, verbose=False)
    ...     cells = os.listdir(os.path.join(out, "cells"))
    ...     again = run_attack_sweep(config, out, verbose=False)
    >>> [(row["strategy"], row["ratio"]) for row in rows], len(cells), again == rows
    ([('learned', 0.0), ('learned', 0.1), ('learned', 0.2)], 1, True)
    """
    if n_vals is not None and not is_sequence(n_vals):
        raise ValueError(f"n_vals={n_vals!r} must be a list of trusted-set sizes (e.g. "
                         f"n_vals=[{n_vals!r}]), or None.")
    if n_vals is not None and len(n_vals) == 0:
        raise ValueError("n_vals is empty: give the trusted-set sizes, or None for one "
                         "sweep at config.n_val.")
    if n_vals is not None:   # (each size once: its cells have one name)
        n_vals = list(dict.fromkeys(_trusted_size(v, n_vals) for v in n_vals))
    if n_vals is not None and config.n_val != max(n_vals):
        raise ValueError(
            f"config.n_val={config.n_val} must be the largest of n_vals={list(n_vals)}: the "
            "splits of every size are drawn with the largest trusted set, so that they share "
            "their training and test sets.")
    return _sweep(config, out, n_vals=n_vals, data_home=data_home, n_jobs=n_jobs,
                  backend=backend, verbose=verbose, batch_repetitions=batch_repetitions)[0]


def _trusted_size(value, n_vals):
    """One of ``n_vals`` as an int (``7.0`` as ``7``), or a ValueError that shows them."""
    try:
        return as_count("n_vals", value, 1)
    except ValueError:
        raise ValueError(f"n_vals={list(n_vals)!r} must hold trusted-set sizes, integers "
                         f">= 1; got {value!r}.") from None


def _sweep(config, out, *, n_vals, data_home, n_jobs, backend, verbose, batch_repetitions):
    """:func:`run_attack_sweep`'s rows, and the :func:`sweep_settings` that named its cells."""
    check_batch_repetitions(batch_repetitions)
    check_execution(n_jobs, backend)        # (before the data is loaded, as run_sweep does)
    out = prepare(config, out, data_home)
    config.check_batches_fit(min(n_vals) if n_vals else config.n_val)
    pool = load_pool(config.dataset, config.classes, data_home)
    settings = sweep_settings(config, pool)
    cells = []
    for strategy in config.strategies:
        # (the defaults hold the inner rate's λ, which cell_config leaves as it is)
        key = cell_config(config, strategy).key(
            strategies=None, repetitions=None, data=settings["data"]["fingerprint"],
            defaults=settings["defaults"])
        for rep in range(config.repetitions):
            for n_val in (n_vals or [None]):
                suffix = _trusted_size_suffix(n_val, config.n_val)
                args = dict(config=config, strategy=strategy, repetition=rep,
                            data_home=None if data_home is None else str(data_home),
                            n_val=n_val)
                cells.append((f"attack-{key}-{strategy}-r{rep}{suffix}", args))
    desc = f"{data_label(config.dataset)} {config.model} {config.penalty}"
    rows = run_sweep(cells, _attack_cell, out, n_jobs=n_jobs, backend=backend,
                     desc=desc, verbose=verbose, group_func=_attack_group,
                     group_by=_group_key, group_size=batch_repetitions,
                     check_rows=cell_rows_problem, resume_arg="resume_file",
                     record=cell_record, progress_arg="progress")
    if pool.get("caveat"):  # inexact data (the JPEG CIFAR-10 copy): every row says so
        rows = [{**row, "data_caveat": pool.caveat} for row in rows]
    run = {**environment(config.device), "n_jobs": n_jobs, "backend": backend,
           "batch_repetitions": batch_repetitions}
    return rows, {**settings, "run": run}


def _trusted_size_suffix(n_val, largest):
    """A cell name's trusted-set size: none for one-size sweeps.

    Smaller sets are ``-balanced``: class-balanced subsets of the largest,
    not the first rows of it as cells of the earlier rule were.
    """
    if n_val is None:
        return ""
    return f"-val{n_val}" if n_val == largest else f"-val{n_val}-balanced"


#: ``evaluate``'s inner steps T at the "quick" and "full" sizes (the presets
#: have 100 and 200). At T = 100 on the bundled digits, stopping early already
#: regularizes the model, the trusted-set loss asks for λ = -inf, and the
#: learned λ gives the unregularized errors; at T = 300 the strategies differ
#: as in the paper (docs/experiments.md, "The attack's own step sizes").
EVALUATE_INNER_STEPS = 300
#: ``evaluate``'s repetitions at the "quick" size (the preset has 3).
EVALUATE_QUICK_REPETITIONS = 5


def evaluate(dataset="digits", *, model="lr", penalty="l2", size="quick", repetitions=None,
             out="skpoison-results/evaluate", data_home=None, n_jobs=1, backend=None,
             verbose=True, plot=True, batch_repetitions=1, **overrides):
    """Test error of every λ strategy under the optimal attack (the main job).

    Runs the attack sweep (default: bundled digits 0 vs 8, logistic
    regression, L2, strategies no_reg / large / cv / learned, ratios 0-20 %),
    writes ``<stem>.csv`` (tidy rows), ``<stem>.png`` (test error) and
    ``<stem>_lambda.png`` (learned λ and ``||w||^2 / p``) into ``out``, where
    the stem names the sweep (:func:`output_stem`: ``digits_lr_l2_quick_evaluate``
    for the defaults).

    Parameters
    ----------
    dataset : str or path-like, default="digits"
        A name accepted by :func:`skpoison.datasets.load_dataset`, or an
        ``.npz`` file of your own.
    model : {"lr", "mlp"}, default="lr"
    penalty : {"l2", "l1"}, default="l2"
    size : {"tiny", "quick", "full"}, default="quick"
        See :func:`make_config`.
    repetitions : int or None, default=None
        None: 5 at ``size="quick"`` (the command's default), else the size
        preset's.
    out : path-like, default="skpoison-results/evaluate"
        Folder of the tables, the PNGs and the cells (``out/cells``).
    data_home : path-like or None, default=None
        Folder of the downloaded data sets (None: ``SKPOISON_DATA`` or
        ``~/skpoison_data``).
    n_jobs : int, default=1
    backend : str or None, default=None
        joblib backend name (None: joblib's default).
    verbose : bool, default=True
        Show a progress bar.
    plot : bool, default=True
        Write the PNGs (needs matplotlib).
    batch_repetitions : int, default=1
        Repetitions per batched attack (see :func:`run_attack_sweep`).
    **overrides
        :class:`SweepConfig` fields. ``inner_steps`` defaults to 300
        (:data:`EVALUATE_INNER_STEPS`) except at ``size="tiny"``, not to the
        preset's 100 or 200.

    Returns
    -------
    result : sklearn.utils.Bunch
        ``rows``, ``table`` (text), ``csv``, ``pngs`` and ``settings`` (paths;
        ``<stem>_settings.json`` holds the settings behind the CSV),
        ``config``.

    Examples
    --------
    >>> import tempfile
    >>> from skpoison.experiments import evaluate
    >>> with tempfile.TemporaryDirectory() as out:
    ...     result = evaluate(size="tiny", out=out, plot=False, verbose=False)
    >>> result.csv.name, len(result.rows)     # 4 strategies x 3 ratios x 2 repetitions
    ('digits_lr_l2_tiny_evaluate.csv', 24)
    >>> print(result.table.splitlines()[1])
    strategy    0%            10%           20%
    """
    if repetitions is None and size == "quick":
        repetitions = EVALUATE_QUICK_REPETITIONS
    if overrides.get("inner_steps") is None and size != "tiny":
        overrides["inner_steps"] = EVALUATE_INNER_STEPS
    config = make_config(dataset, size=size, model=model, penalty=penalty,
                         repetitions=repetitions, **overrides)
    rows, settings = _sweep(config, out, n_vals=None, data_home=data_home, n_jobs=n_jobs,
                            backend=backend, verbose=verbose,
                            batch_repetitions=batch_repetitions)
    out, stem = Path(out), output_stem(config, size, "evaluate")
    title = (f"{data_label(config.dataset)} {config.classes or ''} {config.model.upper()} "
             f"{penalty_label(config)}: test error (%) under the optimal attack, "
             f"mean ± std over {repetitions_text(config)}").replace("  ", " ")
    title += caveat_note(rows)
    table = format_table(rows, "test_error", title=title)
    pngs = []
    with outputs_locked(out, stem):
        csv_path, settings_path = write_tables(rows, settings, out, stem)
        if plot:
            from ._plots import plot_lambda_and_norm, plot_test_error, save
            pngs.append(save(plot_test_error(rows, title=short_title(config, rows)),
                             out / f"{stem}.png"))
            pngs.append(save(plot_lambda_and_norm(rows, title=short_title(config, rows)),
                             out / f"{stem}_lambda.png"))
    return Bunch(rows=rows, table=table, csv=csv_path, pngs=pngs, config=config,
                 settings=settings_path)


