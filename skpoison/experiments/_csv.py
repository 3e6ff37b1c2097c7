"""The sweeps' tables: tidy rows to CSV and back (private)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .._files import atomic_file, remove_stale_temporaries

__all__ = ["write_csv", "read_csv", "TEXT_COLUMNS"]


def _format(value):
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return "" if value is None else str(value)


def write_csv(rows, path):
    """Write row dicts as a CSV (columns: union, first-seen order), atomically.

    The file is written to a temporary file beside ``path`` and renamed, so
    ``path`` holds either its old content or the whole new one (the
    temporaries of writers killed meanwhile are removed); missing folders
    are created. Floats are written with :func:`repr` (they read
    back exactly), non-finite ones as ``inf``, ``-inf`` or ``nan``; None and
    missing columns as empty fields; other values with :func:`str`.

    Parameters
    ----------
    rows : sequence of dict
        The rows (any iterable of dicts).
    path : str or path-like
        The CSV file to write; an existing file is replaced.

    Returns
    -------
    path : pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from skpoison.experiments import read_csv, write_csv
    >>> rows = [{"strategy": "no_reg", "ratio": 0.1, "log_lambda": float("-inf")},
    ...         {"strategy": "learned", "ratio": 0.1, "log_lambda": -4.5, "n_poison": 10}]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     back = read_csv(write_csv(rows, os.path.join(folder, "rows.csv")))
    >>> back[0]
    {'strategy': 'no_reg', 'ratio': 0.1, 'log_lambda': -inf, 'n_poison': None}
    >>> back[1] == rows[1]
    True
    """
    rows = list(rows)   # (read more than once: a generator would come out empty)
    columns = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    path = Path(path)
    remove_stale_temporaries(path)     # (of a writer killed while it wrote path)
    with atomic_file(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_format(row.get(c)) for c in columns])
    return path


#: The sweeps' columns of names: read as text, whatever they look like (the
#: ``dataset`` of a data file of your own named ``123.npz``, ``007.npz`` or ``nan.npz``).
TEXT_COLUMNS = ("dataset", "model", "penalty", "strategy", "data_caveat")


def _parse(text, as_text=False):
    if text == "":
        return None
    if as_text:
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv(path, *, text_columns=TEXT_COLUMNS):
    """Read a CSV written by :func:`write_csv` (numbers parsed, '' -> None).

    Each field is parsed as an int, else a float (``inf``, ``-inf`` and
    ``nan`` included), else kept as a string; an empty field gives None.
    The fields of ``text_columns`` are kept as strings.

    Parameters
    ----------
    path : str or path-like
        The CSV file; its first line holds the column names.
    text_columns : collection of str, default=TEXT_COLUMNS
        Columns of names, read as strings even where they look like numbers:
        by default the sweeps' ``dataset``, ``model``, ``penalty``,
        ``strategy`` and ``data_caveat`` (a data file of your own named
        ``007.npz`` is the data set ``'007'``, not the number 7).

    Returns
    -------
    rows : list of dict
        One per line, with every column, in the file's order. See
        :func:`write_csv` for an example.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from skpoison.experiments import read_csv, write_csv
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_csv([{"ratio": 0.1, "n_poison": 5, "note": ""}],
    ...                      os.path.join(folder, "rows.csv"))
    ...     read_csv(path)
    [{'ratio': 0.1, 'n_poison': 5, 'note': None}]
    """
    if isinstance(text_columns, str):    # (its letters would be the columns)
        raise ValueError(f"text_columns={text_columns!r} must be a collection of column "
                         f"names (e.g. text_columns=[{text_columns!r}]).")
    text_columns = frozenset(text_columns)
    with open(path, newline="") as handle:
        return [{k: _parse(v, k in text_columns) for k, v in row.items()}
                for row in csv.DictReader(handle)]
