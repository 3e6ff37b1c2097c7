"""One function per figure of the paper (Fig. 1-14) (private).

Each writes ``<out>/<stem>.csv`` (tidy rows) and ``<out>/<stem>.png``, the
stem naming the sweep (``mnist_lr_l2_full_fig2``: :func:`output_stem`). Figures
that show the same sweep (e.g. Fig. 2, 3 and 5: LR with L2) share its cells
in ``<out>/cells/``, so the second one only redraws.
"""

from __future__ import annotations

from numbers import Real
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._warn import warn_user
from ._aggregate import format_table, relative_decrease_rows
from ._canonical import is_sequence
from ._cell_locks import outputs_locked
from ._config import make_config
from ._csv import write_csv
from ._environment import environment
from ._plots import layer_name
from ._pools import load_pool
from ._registry import DEFAULT_VAL_FRACTIONS, FIGURES
from ._outputs import output_stem, write_tables
from ._runner import _sweep, check_batch_repetitions
from ._sweep import check_execution, check_writable
from ._synthetic import synthetic_maps, synthetic_rows
from ._titles import caveat_note, short_title

__all__ = ["FIGURES", "reproduce"]

def _draw(spec, rows, config, name):
    from . import _plots as plots

    title = f"{name}: {short_title(config, rows)}"
    if spec.plot == "test_error":
        return plots.plot_test_error(rows, title=title)
    if spec.plot == "lambda_norm":
        return plots.plot_lambda_and_norm(rows, title=title)
    if spec.plot == "kuncheva":
        return plots.plot_kuncheva(rows, config.top_k, title=title)
    if spec.plot == "per_layer_lambda":
        return plots.plot_per_layer(rows, "log_lambda_", "learned λ = log α, per layer",
                                    title)
    if spec.plot == "per_layer_norm":
        return plots.plot_per_layer(rows, "weight_norm_", "‖w‖² / p per layer\n(λ learned "
                                    "per layer)", title, log=True)
    raise ValueError(spec.plot)


def _figure_tables(spec, rows, figure, config):
    """The tables of what the figure draws beyond the test error (printed, not plotted)."""
    raw = dict(by=("strategy", "ratio"), percent=False)
    if spec.plot == "lambda_norm":
        return [format_table(rows, "log_lambda", title=f"{figure}: λ (log α; learned, or the "
                             "strategy's fixed one)", **raw),
                format_table(rows, "weight_norm", title=f"{figure}: ||w||² / p", **raw)]
    if spec.plot == "kuncheva":
        return [format_table(rows, f"kuncheva_k{k}", title=f"{figure}: Kuncheva index, "
                             f"top {k} features", **raw)
                for k in config.top_k if any(f"kuncheva_k{k}" in r for r in rows)]
    if spec.plot in ("per_layer_lambda", "per_layer_norm"):
        column, what = {"per_layer_lambda": ("log_lambda_", "learned λ (log α) per layer"),
                        "per_layer_norm": ("weight_norm_", "||w||² / p per layer")}[spec.plot]
        layers = sorted({int(key[len(column):]) for r in rows for key in r
                         if key.startswith(column)})
        per_layer = [{"strategy": f"{r['strategy']} {layer_name(i, len(layers))}",
                      "ratio": r["ratio"], "value": r[f"{column}{i}"]}
                     for i in layers for r in rows if f"{column}{i}" in r]
        return [format_table(per_layer, "value", title=f"{figure}: {what}", **raw)]
    return []


def _decrease_table(decrease, title):
    """One line per trusted-set size, one column per ratio (one number each: no ±)."""
    ratios = sorted({r["ratio"] for r in decrease})
    sizes = sorted({r["n_val"] for r in decrease})
    value = {(r["n_val"], r["ratio"]): r["relative_decrease"] for r in decrease}
    header = "".join(f"{h:<12}" for h in ["n_val", *(f"{100 * q:g}%" for q in ratios)])
    lines = [title, header.rstrip()]
    for n in sizes:
        cells = [f"{100 * value[n, q]:.1f}" if (n, q) in value else "-" for q in ratios]
        lines.append("".join(f"{c:<12}" for c in [str(n), *cells]).rstrip())
    return "\n".join(lines)


def _val_sizes(config, val_fractions, data_home):
    """Trusted-set sizes: shares of the training set, within what the pool allows.

    A batch of poisoning points clones distinct validation points, so a
    trusted set is never smaller than one batch; and a balanced draw cannot
    use more samples than the smallest class allows (digits 0 vs 8: 48 at
    most beside 200 training and 100 test points).
    """
    many = is_sequence(val_fractions)
    if not many or not len(val_fractions) or not all(
            isinstance(f, Real) and not isinstance(f, bool) and 0 < f <= 1
            for f in val_fractions):
        shown = tuple(val_fractions) if many else val_fractions
        raise ValueError(f"val_fractions={shown!r} must be shares of the training set in "
                         "(0, 1].")
    target = load_pool(config.dataset, config.classes, data_home).target
    counts = np.unique(target, return_counts=True)[1]
    room = len(counts) * int(counts.min()) - config.n_train - config.n_test
    floor = max(2 * len(counts), config.batch_size)   # (two trusted points per class)
    if room < floor:
        raise ValueError(
            f"The balanced pool leaves {room} points for the trusted set beside "
            f"n_train={config.n_train} and n_test={config.n_test}; it needs at least "
            f"{floor} (one poisoning batch): lower n_train or n_test.")
    wanted = {f: int(round(f * config.n_train)) for f in val_fractions}
    sizes = {f: min(room, max(floor, n)) for f, n in wanted.items()}
    moved = [f"{f:g} ({wanted[f]} → {sizes[f]})" for f in val_fractions
             if sizes[f] != wanted[f]]
    merged = len(set(sizes.values())) < len(set(val_fractions))
    if moved or merged:
        warn_user(f"val_fractions {tuple(val_fractions)} of n_train={config.n_train} give "
                  f"the trusted-set sizes {sorted(set(sizes.values()))}"
                  + (f": {', '.join(moved)} moved within [{floor}, {room}] (one poisoning "
                     "batch at least, what the balanced pool leaves at most)" if moved else "")
                  + ("; equal sizes are run once" if merged else "") + ".")
    return sorted(set(sizes.values()))


def reproduce(figure, *, dataset=None, size="full", out="skpoison-results",
              data_home=None, n_jobs=1, backend=None, verbose=True, plot=True,
              val_fractions=None, grid_points=None, batch_repetitions=1,
              **overrides):
    """Compute one of the paper's figures and write its CSV and PNG.

    Outputs are named by the sweep, ``<data set>_<model>_<penalty>_<size>_<figure>``
    (``mnist_lr_l2_full_fig2.csv``; Fig. 1 ``synthetic_<size>_fig1``), so that
    figures of several data sets or sizes can share one ``out`` and its cells.

    Parameters
    ----------
    figure : str
        ``"fig1"`` ... ``"fig14"`` (see :data:`FIGURES`).
    dataset : str or None, default=None
        None: the bundled digits. ``fig1`` (synthetic data) takes none.
    size : {"tiny", "quick", "full"}, default="full"
        Size preset of the sweep: ``"full"`` the paper's setting,
        ``"quick"`` one that fits a 2-core CPU, ``"tiny"`` a check that the
        code runs.
    out : path-like, default="skpoison-results"
        Folder of the outputs (created if missing); the sweeps' cells are
        stored in its ``cells/`` subfolder, where a rerun finds them.
    data_home : path-like or None, default=None
        Folder of the downloaded data sets (None: ``SKPOISON_DATA`` or
        ``~/skpoison_data``).
    n_jobs : int, default=1
        Cells computed in parallel (joblib; -1: one per CPU core).
    backend : str or None, default=None
        joblib backend name (None: joblib's default).
    verbose : bool, default=True
        Show a progress bar.
    plot : bool, default=True
        Write the PNG (needs matplotlib).
    val_fractions : tuple of float or None, default=None
        Fig. 4 / 9 only: trusted-set sizes as shares of the training set
        (None: ``(0.05, 0.1, 0.25)``).
    grid_points : int or None, default=None
        Fig. 1 only: poisoning-point positions per axis (None: the size preset).
    batch_repetitions : int, default=1
        Repetitions per batched attack (see
        :func:`~skpoison.experiments.run_attack_sweep`).
    **overrides
        :class:`SweepConfig` fields (``model``, ``penalty``, ``strategies``,
        ``repetitions``, ...); None values are ignored. ``fig1`` takes only
        ``inner_steps``, ``attack_steps`` and ``seed``.

    Returns
    -------
    result : sklearn.utils.Bunch
        ``rows``, ``csv``, ``png`` (None when ``plot=False``), ``table``
        (text summary: the test error, then the figure's own quantities),
        ``config`` (None for ``fig1``), ``extra_csv`` (Fig.
        4 / 9: the relative decreases' CSV; else None), ``settings``
        (``<stem>_settings.json``: the settings behind the CSV); ``fig1``
        also ``maps``, the dictionary of :func:`synthetic_maps`.

    Examples
    --------
    Fig. 1 at the tiny size preset (a 6 x 6 grid of poisoning-point
    positions), without its PNG:

    >>> import tempfile
    >>> from skpoison.experiments import reproduce
    >>> with tempfile.TemporaryDirectory() as out:
    ...     res = reproduce("fig1", size="tiny", out=out, plot=False, verbose=False)
    >>> len(res.rows), res.maps["best_lambda"].shape, res.config is None
    (36, (6, 6), True)

    Fig. 2, 3 and 5 show one sweep (LR with L2, on the bundled digits) and
    share its cells: the second figure only reads them. A tiny run (two
    strategies, two ratios, one repetition):

    >>> from pathlib import Path
    >>> def cells(out):   # each stored cell's last change
    ...     return {f.name: f.stat().st_mtime_ns for f in Path(out, "cells").iterdir()}
    >>> tiny = dict(size="tiny", strategies=("no_reg", "learned"), ratios=(0.0, 0.2),
    ...             repetitions=1, plot=False, verbose=False)
    >>> with tempfile.TemporaryDirectory() as out:
    ...     res = reproduce("fig2", out=out, **tiny)
    ...     before = cells(out)
    ...     res5 = reproduce("fig5", out=out, **tiny)
    ...     reread = cells(out) == before
    >>> res.csv.name, len(res.rows), reread
    ('digits_lr_l2_tiny_fig2.csv', 4, True)
    >>> sorted({(row["strategy"], row["ratio"]) for row in res.rows})
    [('learned', 0.0), ('learned', 0.2), ('no_reg', 0.0), ('no_reg', 0.2)]
    >>> print(res5.table.splitlines()[0])   # its Kuncheva tables follow
    fig5: test error (%)
    """
    if figure not in FIGURES:
        raise ValueError(f"Unknown figure {figure!r}; choose one of {list(FIGURES)}.")
    spec = FIGURES[figure]
    _refuse_other_figures_options(figure, spec, val_fractions=val_fractions,
                                  grid_points=grid_points)
    check_batch_repetitions(batch_repetitions)
    out = check_writable(out)
    if spec.kind == "synthetic":
        execution = {"n_jobs": n_jobs not in (None, 1), "backend": backend is not None,
                     "batch_repetitions": batch_repetitions != 1}
        if any(execution.values()):
            raise ValueError(f"{figure} computes no sweep cells, so it does not take "
                             f"{sorted(k for k, given in execution.items() if given)}.")
        if data_home is not None:
            overrides = {**overrides, "data_home": data_home}   # (refused there)
        return _synthetic(figure, size, out, verbose, plot, grid_points, dataset, overrides)
    dataset = "digits" if dataset is None else dataset
    overrides = {**overrides, "model": overrides.get("model") or spec.model,
                 "penalty": overrides.get("penalty") or spec.penalty}
    if spec.strategies and overrides.get("strategies") is None:
        overrides["strategies"] = spec.strategies
    config = make_config(dataset, size=size, **overrides)
    _check_figure(figure, spec, config)
    check_execution(n_jobs, backend)     # (before _val_sizes loads the data)
    n_vals = None
    if spec.kind == "sensitivity":
        val_fractions = DEFAULT_VAL_FRACTIONS if val_fractions is None else val_fractions
        config, n_vals = _sensitivity_config(figure, config, dataset, size, overrides,
                                             val_fractions, data_home)
    rows, settings = _sweep(config, out, n_vals=n_vals, data_home=data_home, n_jobs=n_jobs,
                            backend=backend, verbose=verbose,
                            batch_repetitions=batch_repetitions)
    if n_vals is not None:   # the sizes behind the CSV's n_val column
        settings = {**settings, "val_fractions": [float(f) for f in val_fractions],
                    "n_vals": n_vals}     # (floats: NumPy's float32 is no JSON number)
    stem = output_stem(config, size, figure)
    title = f"{figure}: test error (%)" + caveat_note(rows)
    with outputs_locked(out, stem):   # (the CSVs and the PNG of one run)
        csv_path, settings_path = write_tables(rows, settings, out, stem)
        if spec.kind == "sensitivity":
            table, png, extra_csv = _sensitivity_outputs(figure, rows, config, out, stem,
                                                         title, plot)
        else:
            table = "\n\n".join([format_table(rows, "test_error", by=("strategy", "ratio"),
                                               title=title),
                                  *_figure_tables(spec, rows, figure, config)])
            extra_csv = png = None
            if plot:
                from ._plots import save
                png = save(_draw(spec, rows, config, figure), out / f"{stem}.png")
    return Bunch(rows=rows, csv=csv_path, png=png, table=table, config=config,
                 extra_csv=extra_csv, settings=settings_path)


def _refuse_other_figures_options(figure, spec, **options):
    """Refuse an option (``val_fractions``, ``grid_points``) of another kind of figure."""
    for name, kind in (("val_fractions", "sensitivity"), ("grid_points", "synthetic")):
        if options[name] is not None and spec.kind != kind:
            takers = [f for f, other in FIGURES.items() if other.kind == kind]
            raise ValueError(f"{name} is an option of {' and '.join(takers)}, not of "
                             f"{figure}.")


def _sensitivity_config(figure, config, dataset, size, overrides, val_fractions, data_home):
    """Fig. 4 / 9: the trusted-set sizes of ``val_fractions``, and the config that draws
    the largest (the smaller ones are its prefixes)."""
    if overrides.get("n_val") is not None:
        raise ValueError(f"{figure} draws trusted sets of several sizes, shares of the "
                         "training set (val_fractions, --val-fractions), so it does not "
                         "take n_val (--n-val).")
    n_vals = _val_sizes(config, val_fractions, data_home)
    return make_config(dataset, size=size, **{**overrides, "n_val": max(n_vals)}), n_vals


def _sensitivity_outputs(figure, rows, config, out, stem, title, plot):
    """Fig. 4 / 9's table, PNG (or None) and relative decreases' CSV."""
    decrease = relative_decrease_rows(rows)
    if rows and rows[0].get("data_caveat"):
        decrease = [{**r, "data_caveat": rows[0]["data_caveat"]} for r in decrease]
    extra_csv = write_csv(decrease, out / f"{stem}_relative_decrease.csv")
    table = "\n\n".join([
        format_table([{**r, "strategy": f"{r['strategy']} val={r['n_val']}"}
                      for r in rows], "test_error", title=title),
        _decrease_table(decrease, f"{figure}: relative decrease of the mean test "
                                  "error, learned against no_reg (%; nan: no_reg has "
                                  "no error)")])
    png = None
    if plot:
        from ._plots import plot_sensitivity, save
        fig = plot_sensitivity(rows, decrease,
                               title=f"{figure}: {short_title(config, rows, val_size=False)}")
        png = save(fig, out / f"{stem}.png")
    return table, png, extra_csv


def _check_figure(figure, spec, config):
    """Refuse settings under which the figure's panels would be empty."""
    strategies = set(config.strategies)
    if spec.plot == "kuncheva" and config.model != "lr":
        raise ValueError(f"{figure} shows the Kuncheva consistency of a linear model's "
                         "features; it needs --model lr.")
    if spec.plot == "kuncheva" and not config.top_k:
        raise ValueError(f"{figure} shows the consistency of the top-k features, for k "
                         "below the number of features: the data need two features at "
                         "least (top_k is empty).")
    if spec.plot == "lambda_norm" and not strategies & {"learned", "learned_per_layer"}:
        raise ValueError(f"{figure} plots the learned λ: include 'learned' in the strategies.")
    if spec.kind == "sensitivity" and not {"no_reg", "learned"} <= strategies:
        raise ValueError(f"{figure} compares 'learned' against 'no_reg' (its relative "
                         "decrease): include both in the strategies.")
    if spec.plot.startswith("per_layer") and config.model != "mlp":
        raise ValueError(f"{figure} shows a network's layers; it needs --model mlp.")
    if spec.plot == "per_layer_lambda" and strategies != {"learned_per_layer"}:
        if "learned_per_layer" not in strategies:
            raise ValueError(f"{figure} plots λ learned per layer: include "
                             "'learned_per_layer' in the strategies.")
        raise ValueError(f"{figure} plots λ learned per layer, which only 'learned_per_layer' "
                         f"learns: {sorted(strategies - {'learned_per_layer'})} would have no "
                         "line; drop them (fig14 shows a single learned λ).")


_SYNTHETIC_OPTIONS = ("inner_steps", "attack_steps", "seed")


def _synthetic(figure, size, out, verbose, plot, grid_points, dataset, overrides):
    given = {k: v for k, v in overrides.items() if v is not None}
    refused = sorted({*given} - set(_SYNTHETIC_OPTIONS)
                     | ({"dataset"} if dataset is not None else set()))
    if refused:
        raise ValueError(f"{figure} (the synthetic 2-D example, LR on the CPU) does not take "
                         f"{refused}; it takes grid_points, "
                         f"{', '.join(_SYNTHETIC_OPTIONS[:-1])} and {_SYNTHETIC_OPTIONS[-1]}.")
    maps = synthetic_maps(size=size, grid_points=grid_points, verbose=verbose,
                          **{k: int(v) for k, v in given.items()})
    rows = synthetic_rows(maps)
    stem = f"synthetic_{size}_{figure}"
    from .. import __version__

    # What the CSV's numbers depend on; a PNG of other settings is removed.
    settings = {"figure": figure, "size": size, "grid_points": len(maps["grid"]),
                **{k: maps[k] for k in ("inner_steps", "attack_steps", "seed", "fixed_lambda")},
                "lambda_grid": [float(v) for v in maps["lambda_grid"]], "skpoison": __version__,
                "run": environment("cpu")}
    png = None
    with outputs_locked(out, stem):
        csv_path, settings_path = write_tables(rows, settings, out, stem, cells=False)
        if plot:
            from ._plot_synthetic import plot_synthetic
            from ._plots import save
            title = (f"fig1: synthetic 2-D example, LR, T={maps['inner_steps']}, "
                     f"{maps['attack_steps']} attack steps, {len(maps['grid'])}² positions")
            png = save(plot_synthetic(maps, title=title), Path(out) / f"{stem}.png")
    table = (f"{figure}: validation error {100 * maps['val_error_noreg'].min():.1f}-"
             f"{100 * maps['val_error_noreg'].max():.1f} % without regularization, "
             f"{100 * maps['val_error_reg'].min():.1f}-{100 * maps['val_error_reg'].max():.1f}"
             f" % with λ = {maps['fixed_lambda']:g}; optimal λ in "
             f"[{maps['best_lambda'].min():g}, {maps['best_lambda'].max():g}]")
    return Bunch(rows=rows, csv=csv_path, settings=settings_path, png=png, table=table,
                 config=None, extra_csv=None, maps=maps)


def _figure_function(name):
    spec = FIGURES[name]

    def run(**kwargs):
        return reproduce(name, **kwargs)

    run.__name__ = run.__qualname__ = name
    run.__doc__ = (f"Paper's Fig. {name[3:]}: {spec.description}.\n\n"
                   f"``reproduce({name!r}, **kwargs)``.\n\n"
                   "Parameters\n----------\n**kwargs\n"
                   "    Keyword arguments of :func:`reproduce` (``figure`` fixed).\n\n"
                   "Returns\n-------\nresult : sklearn.utils.Bunch\n"
                   "    As :func:`reproduce`'s.\n\n"
                   "See Also\n--------\nreproduce : Its examples run tiny sweeps.\n\n"
                   "Examples\n--------\n"
                   "At the quick size preset (``size=\"full\"``, the default, is the "
                   "paper's\nsetting), writing the CSV and PNG to ``skpoison-results/``:\n\n"
                   f">>> from skpoison.experiments import {name}\n"
                   f">>> res = {name}(size=\"quick\")  # doctest: +SKIP\n"
                   ">>> print(res.table)  # doctest: +SKIP\n")
    return run


(fig1, fig2, fig3, fig4, fig5, fig6, fig7, fig8, fig9, fig10, fig11, fig12, fig13,
 fig14) = (_figure_function(f"fig{i}") for i in range(1, 15))
__all__ += [f"fig{i}" for i in range(1, 15)]
