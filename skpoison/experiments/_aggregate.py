"""Summaries of tidy result rows: means, standard deviations, tables (private)."""

from __future__ import annotations

import math

import numpy as np

from ..metrics import relative_error_decrease

__all__ = ["summarize", "format_table", "relative_decrease_rows"]


def _ordered(values):
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def as_records(rows):
    """Tidy rows as a list of dicts: a pandas DataFrame's records, or ``list(rows)``.

    (A list: the rows are read more than once, and a generator would come out
    empty the second time.) A DataFrame's missing values are NaN, which the
    summaries skip as they skip :func:`read_csv`'s None.

    Examples
    --------
    >>> as_records(iter([{"ratio": 0.1}]))
    [{'ratio': 0.1}]
    """
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        return rows.to_dict("records")
    return list(rows)


def summarize(rows, value, by=("strategy", "ratio")):
    """Mean, standard deviation and count of ``value`` per group.

    Rows without the column (or with None or NaN) are skipped; ``-inf``
    values (λ of no regularization) give a ``-inf`` mean (a group with a
    non-finite value gets that value as its mean, and std 0).

    Parameters
    ----------
    rows : list of dict or DataFrame
        Tidy result rows (e.g. ``evaluate(...).rows``, :func:`read_csv` or
        ``pandas.read_csv``).
    value : str
        The column to summarize, e.g. ``"test_error"``.
    by : tuple of str, default=("strategy", "ratio")
        The columns whose values define a group; a row without one of them
        counts as None there.

    Returns
    -------
    summary : list of dict
        One per group, in first-seen order of the group keys, with the
        ``by`` columns and ``mean``, ``std`` (population, ddof=0) and ``n``.

    Examples
    --------
    >>> from skpoison.experiments import summarize
    >>> rows = [{"strategy": "a", "ratio": 0.0, "e": 0.1},
    ...         {"strategy": "a", "ratio": 0.0, "e": 0.3}]
    >>> s = summarize(rows, "e")[0]
    >>> s["strategy"], round(s["mean"], 3), round(s["std"], 3), s["n"]
    ('a', 0.2, 0.1, 2)
    """
    rows = as_records(rows)
    groups = {}
    for row in rows:
        v = row.get(value)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        groups.setdefault(tuple(row.get(k) for k in by), []).append(float(v))
    out = []
    for key in _ordered(tuple(row.get(k) for k in by) for row in rows):
        if key not in groups:
            continue
        values = np.asarray(groups[key])
        finite = np.isfinite(values).all()
        mean = float(values.mean()) if finite else float(values[~np.isfinite(values)][0])
        std = float(values.std()) if finite else 0.0
        out.append({**dict(zip(by, key)), "mean": mean, "std": std, "n": len(values)})
    return out


def format_table(rows, value="test_error", *, by=("strategy", "ratio"), percent=True,
                 title=None):
    """A text table: one line per ``by[0]``, one column per ``by[1]``, mean ± std.

    Lines come in first-seen order, columns in sorted order (ratios shown in
    %). A cell without values shows ``-``; a non-finite mean is shown as is
    (e.g. ``-inf``). A cell with fewer values than the table's fullest (rows
    without a value skipped: a consistency index that is NaN for one
    repetition, a sweep still running) shows its count, ``(n=2)``.

    Parameters
    ----------
    rows : list of dict or DataFrame
        Tidy result rows, each with the ``by`` columns and ``value``.
    value : str, default="test_error"
        The column to summarize (see :func:`summarize`).
    by : tuple of (str, str), default=("strategy", "ratio")
        The column whose values give the lines, and the one whose values give
        the columns.
    percent : bool, default=True
        Show ``100 * value`` with one decimal (for fractions such as errors);
        False shows the raw mean to 3 significant digits and the std to 2 (0
        when it is rounding noise, below ``1e-9`` of the mean).
    title : str or None, default=None
        A first line above the header.

    Returns
    -------
    table : str
        The lines joined with newlines, without trailing spaces.

    Examples
    --------
    >>> from skpoison.experiments import format_table
    >>> rows = [{"strategy": "no_reg", "ratio": r, "test_error": e}
    ...         for r, e in ((0.0, 0.01), (0.2, 0.1))]
    >>> print(format_table(rows))
    strategy    0%            20%
    no_reg      1.0 ± 0.0     10.0 ± 0.0
    >>> rows.append({"strategy": "no_reg", "ratio": 0.2, "test_error": 0.2})
    >>> print(format_table(rows))
    strategy    0%               20%
    no_reg      1.0 ± 0.0 (n=1)  15.0 ± 5.0
    """
    rows = as_records(rows)
    stats = summarize(rows, value, by)
    lines_key, cols_key = by
    line_values = _ordered(s[lines_key] for s in stats)
    col_values = sorted(_ordered(s[cols_key] for s in stats))
    scale = 100.0 if percent else 1.0
    cell = {(s[lines_key], s[cols_key]): s for s in stats}
    fullest = max((s["n"] for s in stats), default=0)

    def fmt_col(c):
        return f"{100 * c:g}%" if cols_key == "ratio" else str(c)

    def fmt(s):
        if s is None:
            return "-"
        shown = fmt_mean(s)
        return shown if s["n"] == fullest else f"{shown} (n={s['n']})"

    def fmt_mean(s):
        if not math.isfinite(s["mean"]):
            return f"{s['mean']}"
        if percent:
            return f"{scale * s['mean']:.1f} ± {scale * s['std']:.1f}"
        # Repetitions that agree up to rounding (λ at a bound, say) show 0, not 5.6e-17.
        std = 0.0 if s["std"] <= 1e-9 * abs(s["mean"]) else s["std"]
        return f"{s['mean']:.3g} ± {std:.2g}"

    header = [lines_key, *(fmt_col(c) for c in col_values)]
    body = [[str(lv), *(fmt(cell.get((lv, c))) for c in col_values)] for lv in line_values]
    widths = [max(len(r[i]) for r in [header, *body]) + 2 for i in range(len(header))]
    widths = [max(w, 12 if i == 0 else 14) for i, w in enumerate(widths)]
    lines = [] if title is None else [title]
    for r in [header, *body]:
        lines.append("".join(f"{v:<{w}}" for v, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def relative_decrease_rows(rows, *, reference="no_reg", method="learned",
                           by=("n_val", "ratio")):
    """Relative decrease of the mean test error of ``method`` w.r.t. ``reference``.

    ``(E_reference - E_method) / E_reference`` of the means over repetitions
    (the paper's Fig. 4 / 9), per group ``by``; NaN where the reference error
    is 0. Groups where either strategy has no ``test_error`` are left out.

    Parameters
    ----------
    rows : list of dict or DataFrame
        Tidy result rows, each with ``strategy``, ``test_error`` and the
        ``by`` columns.
    reference : str, default="no_reg"
        The strategy compared against.
    method : str, default="learned"
        The strategy whose decrease is measured.
    by : tuple of str, default=("n_val", "ratio")
        The columns whose values define a group.

    Returns
    -------
    decrease_rows : list of dict
        One per group, in sorted order of the group keys: the ``by`` columns,
        ``error_<reference>``, ``error_<method>`` (mean test errors) and
        ``relative_decrease`` (positive: ``method`` has the lower error).

    Examples
    --------
    >>> from skpoison.experiments import relative_decrease_rows
    >>> rows = [{"strategy": s, "n_val": 20, "ratio": 0.1, "test_error": e}
    ...         for s, e in (("no_reg", 0.2), ("learned", 0.05), ("learned", 0.15))]
    >>> d = relative_decrease_rows(rows)[0]
    >>> d["error_no_reg"], round(d["error_learned"], 3), round(d["relative_decrease"], 3)
    (0.2, 0.1, 0.5)
    """
    rows = as_records(rows)
    means = {}
    for name in (reference, method):
        subset = [r for r in rows if r.get("strategy") == name]
        for s in summarize(subset, "test_error", by):
            means.setdefault(tuple(s[k] for k in by), {})[name] = s["mean"]
    out = []
    for key in sorted(means):
        pair = means[key]
        if reference not in pair or method not in pair:
            continue
        decrease = relative_error_decrease(pair[reference], pair[method], zero_division=np.nan)
        out.append({**dict(zip(by, key)), f"error_{reference}": pair[reference],
                    f"error_{method}": pair[method], "relative_decrease": decrease})
    return out
