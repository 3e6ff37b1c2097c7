"""Plots of the paper's figures from tidy result rows (private).

matplotlib is imported only when a plot is drawn (it is an optional
dependency). Figures are built with :class:`matplotlib.figure.Figure`
directly, without pyplot, so plotting works headless and in worker threads,
unless the caller has imported pyplot (a script or a notebook): the figure is
then created by pyplot, so ``plt.show()`` shows it.
"""

from __future__ import annotations

import sys

import numpy as np

from .._files import atomic_file, remove_stale_temporaries
from ._aggregate import as_records, summarize
from ._strategies import STRATEGIES

__all__ = ["plot_vs_ratio", "plot_test_error", "plot_lambda_and_norm", "plot_per_layer",
           "plot_sensitivity", "plot_kuncheva", "save"]


def _figure(n_panels, width=4.2, height=3.3):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Plotting needs matplotlib: pip install 'skpoison[plot]'.") from exc
    size = dict(figsize=(width * n_panels, height), layout="constrained")
    if "matplotlib.pyplot" in sys.modules:
        fig = sys.modules["matplotlib.pyplot"].figure(**size)
    else:
        fig = Figure(**size)
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    return fig, axes


def save(fig, path, dpi=200):
    """Write ``fig`` to ``path`` (PNG) and release it; returns the path.

    Written whole or not at all (:func:`~skpoison._files.atomic_file`): a run
    killed while it drew leaves the earlier PNG, never a truncated one.
    """
    remove_stale_temporaries(path)     # (of a run killed while it wrote it)
    try:
        with atomic_file(path, "wb") as handle:
            fig.savefig(handle, format="png", dpi=dpi)
    finally:
        if "matplotlib.pyplot" in sys.modules:  # a pyplot-managed figure: do not keep it open
            sys.modules["matplotlib.pyplot"].close(fig)
    return path


def _figure_legend(fig, axes, fontsize=7, ncols=None, **kwargs):
    """One legend under the figure's panels (never over their data), each label once,
    the strategies in one order in every figure."""
    entries = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    order = {spec.label: i for i, spec in enumerate(STRATEGIES.values())}
    labels = sorted(entries, key=lambda label: order.get(label, len(order)))
    if entries:
        fig.legend([entries[label] for label in labels], labels, loc="outside lower center",
                   ncols=ncols or min(len(entries), 4), fontsize=fontsize, **kwargs)


def _error_bars(mean, std, percent):
    """``yerr`` for ``errorbar``: ± std, cut at 0 below for percentages (rates)."""
    std = np.asarray(std, dtype=float)
    return [np.minimum(std, np.maximum(mean, 0.0)), std] if percent else std


def _at_least_one_unit_tall(ax):
    """A y range of one unit at least (of λ = log α): a λ that moved by 0.001
    filled the panel and read like the paper's rise."""
    low, high = ax.get_ylim()
    if high - low < 1.0:
        middle = (low + high) / 2
        ax.set_ylim(middle - 0.5, middle + 0.5)


def _log_scale_if_wide(ax):
    """A log y axis when the positive values drawn span more than a decade; the means
    at 0 it cannot draw (weights all shrunk to 0) are then counted under the x axis."""
    values = np.concatenate([np.ravel(line.get_ydata()) for line in ax.get_lines()] or [[]])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() > 10 * values.min():
        ax.set_yscale("log")
        means = [np.asarray(c.lines[0].get_ydata(), dtype=float) for c in ax.containers
                 if getattr(c, "has_yerr", False) and c.lines[0] is not None]
        hidden = sum(int(np.sum(m <= 0)) for m in means)
        if hidden:
            ax.set_xlabel(f"{ax.get_xlabel()}\n({hidden} point{'s' if hidden > 1 else ''} "
                          "at 0 not drawn: log scale)")


def _ratio_ticks(ax):
    """Ticks at the ratios drawn so far (in %, every line of ``ax``); one ratio
    alone gets a window of ±1 %."""
    ticks = sorted({float(x) for line in ax.get_lines()
                    for x in np.atleast_1d(line.get_xdata()) if np.isfinite(x)})
    if not ticks:
        return
    ax.set_xticks(ticks)
    if len(ticks) == 1:
        ax.set_xlim(ticks[0] - 1.0, ticks[0] + 1.0)
    else:     # (a window set for one ratio by an earlier line: drawn again around all)
        ax.set_xlim(auto=True)
        ax.autoscale_view(scalex=True, scaley=False)


# Distinct markers and dashes, so that curves that coincide (e.g. no
# regularization and a CV choice at the bottom of the grid) stay visible.
_STYLES = {"no_reg": dict(marker="s", ls="--", ms=6, color="tab:blue"),
           "large": dict(marker="^", ls="-", ms=8, mfc="none", color="tab:orange"),
           "cv": dict(marker="o", ls=":", ms=3, color="tab:green"),
           "learned": dict(marker="D", ls="-", color="tab:red"),
           "learned_per_layer": dict(marker="v", ls="-.", color="tab:purple")}


#: Markers of the layers (Fig. 7, 12, 13).
_LAYER_MARKERS = ("o", "s", "^", "v", "D")


def _shade(index, count):
    """The ``index``-th of ``count`` greys, light to dark."""
    return str(0.65 - 0.55 * index / max(count - 1, 1))


def _label(name):
    spec = STRATEGIES.get(name)
    return spec.label if spec is not None else str(name)


def plot_vs_ratio(ax, rows, value, *, group="strategy", percent=False, label=None,
                  style=None):
    """Mean ± std of ``value`` against the poisoning ratio, one line per group.

    ``style`` (matplotlib keywords) overrides the group's own style.
    """
    rows = as_records(rows)
    stats = summarize(rows, value, (group, "ratio"))
    for name in dict.fromkeys(s[group] for s in stats):
        line = sorted((s for s in stats if s[group] == name), key=lambda s: s["ratio"])
        x = 100 * np.array([s["ratio"] for s in line])
        mean = np.array([s["mean"] for s in line])
        if not np.isfinite(mean).any():
            continue
        std = np.array([s["std"] for s in line])
        scale = 100.0 if percent else 1.0
        text = label(name) if label else _label(name)
        line_style = {"marker": "o", "ms": 3.5, **_STYLES.get(name, {}), **(style or {})}
        ax.errorbar(x, scale * mean, yerr=_error_bars(scale * mean, scale * std, percent),
                    capsize=2, label=text, **line_style)
    _ratio_ticks(ax)
    ax.set_xlabel("poisoning ratio (%)")
    # λ spans a few thousandths near -4.4: plain ticks, not "+ -4.397" offsets
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.grid(alpha=0.3)


def plot_test_error(rows, title=""):
    """Test error (%) against the poisoning ratio per strategy (Fig. 2, 6, 11).

    One line per strategy: the mean over repetitions with ± std error bars.

    Parameters
    ----------
    rows : list of dict or DataFrame
        Tidy result rows (e.g. ``evaluate(...).rows`` or :func:`read_csv`),
        each with ``strategy``, ``ratio`` (a fraction) and ``test_error`` (a
        fraction; drawn in %). Rows without ``test_error`` are skipped.
    title : str, default=""
        Title of the panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One panel. A pyplot figure if pyplot is imported (close it with
        ``plt.close(fig)``), else a plain :class:`~matplotlib.figure.Figure`.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from skpoison.experiments import plot_test_error
    >>> rows = [{"strategy": s, "ratio": r, "repetition": i, "test_error": e + 0.01 * i}
    ...         for s, e in (("no_reg", 0.1), ("learned", 0.05))
    ...         for r in (0.0, 0.1) for i in (0, 1)]
    >>> fig = plot_test_error(rows, title="digits")
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['no regularization', 'λ learned (trusted set)']
    >>> plt.close(fig)
    """
    rows = as_records(rows)
    fig, (ax,) = _figure(1, width=5.0)
    plot_vs_ratio(ax, rows, "test_error", percent=True)
    ax.set_ylabel("test error (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_lambda_and_norm(rows, title=""):
    """Learned λ and ``||w||^2 / p`` against the ratio (Fig. 3, 8, 14).

    Left panel: ``log_lambda`` of the strategies that learn λ (``"learned"``,
    ``"learned_per_layer"``), or a note if the rows have none. Right panel:
    ``weight_norm`` of every strategy, on a log scale when it spans more than
    a decade. Means ± std over repetitions.

    Parameters
    ----------
    rows : list of dict or DataFrame
        Tidy result rows, each with ``strategy``, ``ratio``, ``log_lambda``
        (used for learned strategies only) and ``weight_norm``.
    title : str, default=""
        Title of the figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Two panels (see :func:`plot_test_error` about pyplot).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from skpoison.experiments import plot_lambda_and_norm
    >>> rows = [{"strategy": s, "ratio": r, "log_lambda": lam, "weight_norm": 0.5 + r}
    ...         for s, lam in (("no_reg", float("-inf")), ("learned", -4.0))
    ...         for r in (0.0, 0.1)]
    >>> fig = plot_lambda_and_norm(rows)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['learned λ = log α', '‖w‖² / p']
    >>> plt.close(fig)
    """
    rows = as_records(rows)
    fig, (ax_lam, ax_norm) = _figure(2)
    learned = [r for r in rows if STRATEGIES.get(r["strategy"]) and
               STRATEGIES[r["strategy"]].learned]
    if learned:
        plot_vs_ratio(ax_lam, learned, "log_lambda")
        _at_least_one_unit_tall(ax_lam)
        # (one λ per layer: its column is their mean; fig. 7 draws them one by one)
        per_layer = any(STRATEGIES[r["strategy"]].lambda_mode == "per_layer" for r in learned)
        ax_lam.set_ylabel("learned λ = log α" + ("\n(per layer: the layers' mean)"
                                                 if per_layer else ""))
    else:   # (evaluate --strategies no_reg large, say): say so, not an empty panel
        ax_lam.text(0.5, 0.5, "no strategy learned λ in this run", ha="center",
                    va="center", transform=ax_lam.transAxes, fontsize=8)
        ax_lam.set_axis_off()
    plot_vs_ratio(ax_norm, rows, "weight_norm")
    _log_scale_if_wide(ax_norm)
    ax_norm.set_ylabel("‖w‖² / p")
    _figure_legend(fig, (ax_lam, ax_norm))
    fig.suptitle(title, fontsize=9)
    return fig


def plot_per_layer(rows, prefix="log_lambda_", ylabel="learned λ = log α, per layer",
                   title="", log=False):
    """One line per layer of a per-layer column (Fig. 7, 12, 13).

    The columns are ``<prefix>0``, ``<prefix>1``, ...; the last one is labelled
    "output layer", the others "hidden layer 1", "hidden layer 2", ....
    Strategies without a finite value in such a column are left out. With
    several strategies that have such columns, one line per (strategy,
    layer): the strategy named in the legend and drawn with its marker.

    Parameters
    ----------
    rows : list of dict or DataFrame
        Tidy result rows, each with ``strategy`` and ``ratio``; networks'
        rows have the per-layer columns.
    prefix : str, default="log_lambda_"
        Prefix of the per-layer columns: ``"log_lambda_"`` (learned λ per
        layer) or ``"weight_norm_"`` (``||w||^2 / p`` per layer).
    ylabel : str, default="learned λ = log α, per layer"
        Label of the y axis.
    title : str, default=""
        Title of the panel.
    log : bool, default=False
        Log scale on the y axis (e.g. for weight norms) when the values span
        more than a decade.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One panel (see :func:`plot_test_error` about pyplot).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from skpoison.experiments import plot_per_layer
    >>> rows = [{"strategy": "learned_per_layer", "ratio": r,
    ...          "log_lambda_0": -5.0 + r, "log_lambda_1": -3.0 - r} for r in (0.0, 0.1)]
    >>> fig = plot_per_layer(rows)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['hidden layer 1', 'output layer']
    >>> plt.close(fig)
    """
    rows = as_records(rows)
    fig, (ax,) = _figure(1, width=5.0)

    def layers(subset):   # the strategy's per-layer columns with a finite value
        found = {k for r in subset for k, v in r.items()
                 if k.startswith(prefix) and k[len(prefix):].isdigit()
                 and v is not None and np.isfinite(v)}
        return sorted(found, key=lambda k: int(k[len(prefix):]))

    drawn = {}
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        mine = [r for r in rows if r["strategy"] == strategy]
        columns = layers(mine)
        if columns:
            drawn[strategy] = (mine, columns)
    for strategy, (mine, columns) in drawn.items():
        for i, column in enumerate(columns):
            name = layer_name(i, len(columns))
            # Layers in shades of grey and markers of their own (the strategies'
            # colours mean strategies in every other figure); several strategies
            # keep their markers.
            marker = (_STYLES.get(strategy, {}).get("marker", "o") if len(drawn) > 1
                      else _LAYER_MARKERS[i % len(_LAYER_MARKERS)])
            if len(drawn) > 1:
                name = f"{_label(strategy)}: {name}"
            plot_vs_ratio(ax, [{**r, "line": name} for r in mine], column, group="line",
                          label=str, style=dict(marker=marker, color=_shade(i, len(columns))))
    if log:
        _log_scale_if_wide(ax)
    elif prefix == "log_lambda_":
        _at_least_one_unit_tall(ax)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_sensitivity(rows, decrease_rows, title=""):
    """Test error per trusted-set size and relative decrease (Fig. 4, 9).

    Left panel: the test error (mean ± std over repetitions) against the
    ratio, one line per strategy and trusted-set size (one colour per size).
    Right panel: the relative decrease of the test error, one line per size.
    The decrease, ``(E_no_reg - E_learned) / E_no_reg``, is undefined where
    the unregularized error is 0; the panel says how many points that leaves
    out. Both panels share the ratio axis.

    Parameters
    ----------
    rows : list of dict or DataFrame
        Tidy result rows, each with ``strategy``, ``n_val`` (trusted-set
        size), ``ratio`` and ``test_error``.
    decrease_rows : list of dict
        Rows with ``n_val``, ``ratio`` and ``relative_decrease`` (a fraction;
        NaN where undefined), as returned by :func:`relative_decrease_rows`.
    title : str, default=""
        Title of the figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Two panels (see :func:`plot_test_error` about pyplot).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from skpoison.experiments import plot_sensitivity, relative_decrease_rows
    >>> rows = [{"strategy": s, "n_val": n, "ratio": r, "test_error": e + r}
    ...         for s, e in (("no_reg", 0.1), ("learned", 0.05))
    ...         for n in (20, 40) for r in (0.0, 0.1)]
    >>> fig = plot_sensitivity(rows, relative_decrease_rows(rows))
    >>> len(fig.axes[1].get_lines())   # one line per size, and the zero line
    3
    >>> plt.close(fig)
    """
    rows = as_records(rows)
    decrease_rows = as_records(decrease_rows)
    fig, (ax_err, ax_dec) = _figure(2)
    ax_dec.sharex(ax_err)
    sizes = sorted({r["n_val"] for r in rows})
    # One shade of grey per trusted-set size: the strategies' colours mean
    # strategies in every other figure (here their markers and dashes do).
    colors = {n: _shade(i, len(sizes)) for i, n in enumerate(sizes)}
    for name in dict.fromkeys(r["strategy"] for r in rows):
        for n_val in sizes:
            line = sorted(summarize([r for r in rows if r["strategy"] == name and
                                     r["n_val"] == n_val], "test_error", ("ratio",)),
                          key=lambda s: s["ratio"])
            style = {"ms": 3.5, **_STYLES.get(name, {}), "color": colors[n_val]}
            mean = np.array([100 * s["mean"] for s in line])
            ax_err.errorbar([100 * s["ratio"] for s in line], mean,
                            yerr=_error_bars(mean, [100 * s["std"] for s in line], True),
                            capsize=2, label=f"{_label(name)}, |val| = {n_val}", **style)
    _ratio_ticks(ax_err)
    ax_err.set_xlabel("poisoning ratio (%)")
    ax_err.set_ylabel("test error (%)")
    ax_err.grid(alpha=0.3)
    for n_val in sorted({r["n_val"] for r in decrease_rows}):
        line = sorted((r for r in decrease_rows if r["n_val"] == n_val),
                      key=lambda r: r["ratio"])
        if not any(np.isfinite(r["relative_decrease"]) for r in line):
            continue   # (no point to draw: no legend entry either)
        ax_dec.plot([100 * r["ratio"] for r in line],
                    [100 * r["relative_decrease"] for r in line], marker="o", ms=3.5,
                    color=colors.get(n_val), label=f"|val| = {n_val}")
    ax_dec.axhline(0.0, color="grey", lw=0.8)
    undefined = sum(not np.isfinite(r["relative_decrease"]) for r in decrease_rows)
    ax_dec.set_xlabel("poisoning ratio (%)" + (
        f"\n({undefined} of {len(decrease_rows)} points undefined: no-reg. error 0)"
        if undefined else ""))
    ax_dec.set_ylabel("relative decrease (%)")
    ax_dec.set_title("test error's relative decrease, no regularization → λ learned",
                     fontsize=8)
    ax_dec.grid(alpha=0.3)
    if any(np.isfinite(r["relative_decrease"]) for r in decrease_rows):
        ax_dec.legend(fontsize=7)
    strategies = len({r["strategy"] for r in rows})
    _figure_legend(fig, (ax_err,), fontsize=6, ncols=strategies)   # (a column per strategy)
    fig.suptitle(title, fontsize=9)
    return fig


def plot_kuncheva(rows, top_k, title=""):
    """Kuncheva's consistency index against the ratio, one panel per k (Fig. 5, 10).

    Each panel shows, per strategy, the mean ± std over repetitions of the
    index between the top-k features of the clean and the poisoned model.
    An undefined index (NaN) is left out; a panel counts, under its axis, the
    points that then average fewer repetitions than the fullest.

    Parameters
    ----------
    rows : list of dict or DataFrame
        Tidy result rows (linear models), each with ``strategy``, ``ratio``
        and ``kuncheva_k<k>`` for every ``k`` of ``top_k``.
    top_k : sequence of int
        The numbers of top features, one panel each (e.g. ``config.top_k``).
    title : str, default=""
        Title of the figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        ``len(top_k)`` panels (see :func:`plot_test_error` about pyplot).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from skpoison.experiments import plot_kuncheva
    >>> rows = [{"strategy": "learned", "ratio": r, "kuncheva_k5": 1 - r,
    ...          "kuncheva_k10": 1 - 2 * r} for r in (0.0, 0.1)]
    >>> fig = plot_kuncheva(rows, top_k=(5, 10))
    >>> [ax.get_title() for ax in fig.axes]
    ['top 5 features', 'top 10 features']
    >>> plt.close(fig)
    """
    rows = as_records(rows)
    # (rows hold no index for k >= the number of features: no empty panel)
    top_k = [k for k in top_k if any(f"kuncheva_k{k}" in r for r in rows)] or list(top_k)
    fig, axes = _figure(len(top_k), width=3.6)
    counts = {k: [s["n"] for s in summarize(rows, f"kuncheva_k{k}")] for k in top_k}
    fullest = max((n for k in top_k for n in counts[k]), default=0)
    for ax, k in zip(axes, top_k):
        plot_vs_ratio(ax, rows, f"kuncheva_k{k}")
        ax.set_title(f"top {k} features", fontsize=9)
        ax.set_ylabel("consistency index")
        fewer = sum(n < fullest for n in counts[k])   # (as the tables' "(n=2)")
        if fewer:
            ax.set_xlabel(f"{ax.get_xlabel()}\n({fewer} point"
                          + (" averages" if fewer == 1 else "s average")
                          + " fewer repetitions: NaN left out)")
    low = min(0.0, *(ax.get_ylim()[0] for ax in axes))   # (0: chance, in every figure)
    high = max(1.05, *(ax.get_ylim()[1] for ax in axes))   # (error bars may pass 1)
    for ax in axes:   # one scale, so that the panels of several k compare
        ax.set_ylim(low, high)
    _figure_legend(fig, axes)
    fig.suptitle(title, fontsize=9)
    return fig


def layer_name(index, n_layers):
    """``"hidden layer <index + 1>"``, or ``"output layer"`` for the last one.

    Examples
    --------
    >>> [layer_name(i, 3) for i in range(3)]
    ['hidden layer 1', 'hidden layer 2', 'output layer']
    """
    return "output layer" if index == n_layers - 1 else f"hidden layer {index + 1}"
