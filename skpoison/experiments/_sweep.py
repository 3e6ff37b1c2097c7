"""A resumable sweep runner: one small file per finished cell (private).

A sweep is a list of *cells* (e.g. one strategy x one repetition), each with
a unique name. Cells run through :class:`joblib.Parallel` (any backend:
``"loky"``, ``"threading"``, or ``"dask"`` / ``"ray"`` once registered). Each
finished cell is written at once to ``<out>/cells/<name>.json`` with an
atomic rename, so an interrupted sweep loses at most the cells that were
running, and a rerun skips every cell whose file exists.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
import uuid
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path

from joblib import Parallel, delayed, parallel_config
from tqdm.auto import tqdm

__all__ = ["check_writable", "run_sweep", "write_json_atomic", "read_json",
           "write_csv", "read_csv"]


def check_writable(out):
    """Create ``out`` if needed and make sure files can be written there.

    Raises
    ------
    PermissionError
        With a clear message, before any work is done.
    """
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise PermissionError(
            f"The output folder {str(path)!r} cannot be written ({exc.strerror or exc}); "
            "choose another one with --out."
        ) from exc
    return path


@contextmanager
def _atomic_file(path, **open_kwargs):
    """An open handle on a temporary file that replaces ``path`` when the block ends.

    The file is synced before the rename, so ``path`` holds either its old
    content or the whole new one. If the block raises (an interrupt included),
    the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique hidden name beside the target (created with the umask's mode).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path, payload):
    """Write JSON to ``path`` via a temporary file and :func:`os.replace`."""
    with _atomic_file(path) as handle:
        json.dump(payload, handle)  # inf/nan as Infinity/NaN


def read_json(path):
    """Read a file written by :func:`write_json_atomic`."""
    with open(path) as handle:
        return json.load(handle)


def _finished(name, path, args, check_rows):
    """Whether ``path`` holds the finished cell ``name``; a damaged file warns.

    Cells are written atomically, so a damaged file was changed from
    outside (a truncated copy, an edit): it is recomputed, not trusted.
    """
    if not path.exists():
        return False
    try:
        content = read_json(path)
        ok = (isinstance(content, dict) and content.get("cell") == name
              and isinstance(content.get("rows"), list)
              and all(isinstance(row, dict) for row in content["rows"]))
        problem = "it is not a cell written by this runner"
        if ok and check_rows is not None:
            problem = check_rows(args, content["rows"])
            ok = problem is None
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        ok, problem = False, f"{type(exc).__name__}: {exc}"
    if not ok:
        warnings.warn(f"Cell file {path} is damaged ({problem}); recomputing the cell.",
                      RuntimeWarning, stacklevel=3)
    return ok


def _run_cell(func, name, args, path):
    rows = func(**args)
    write_json_atomic(path, {"cell": name, "rows": rows})
    return 1


def _run_group(group_func, func, names, args, paths):
    """Compute several cells in one call; each still gets its own file.

    If the group call fails (one diverging repetition fails a whole batched
    attack), its cells are computed one by one with ``func``: every cell that
    succeeds is stored, and then the first cell's own error is raised.
    """
    try:
        results = group_func(args)
    except Exception as group_error:  # noqa: BLE001 - the cells are retried alone
        warnings.warn(
            f"The group of cells {', '.join(names)} failed together "
            f"({type(group_error).__name__}: {group_error}); computing them one by one.",
            RuntimeWarning, stacklevel=2)
        return _run_cells_alone(func, names, args, paths)
    for name, rows, path in zip(names, results, paths, strict=True):
        write_json_atomic(path, {"cell": name, "rows": rows})
    return len(names)


def _run_cells_alone(func, names, args, paths):
    """Every cell with ``func``; the first error is raised once all have run."""
    first_error = None
    for name, cell_args, path in zip(names, args, paths, strict=True):
        try:
            _run_cell(func, name, cell_args, path)
        except Exception as exc:  # noqa: BLE001 - raised below, after the others
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return len(names)


def _tasks(todo, func, paths, group_func, group_by, group_size):
    """joblib tasks for the missing cells: one per cell, or one per group of cells."""
    if group_func is None or group_size <= 1:
        return [delayed(_run_cell)(func, name, args, paths[name]) for name, args in todo]
    groups = {}
    for name, args in todo:
        groups.setdefault(group_by(args), []).append((name, args))
    tasks = []
    for members in groups.values():
        for start in range(0, len(members), group_size):
            chunk = members[start:start + group_size]
            names = [name for name, _ in chunk]
            tasks.append(delayed(_run_group)(group_func, func, names, [a for _, a in chunk],
                                             [paths[name] for name in names]))
    return tasks


def _parallel(n_jobs):
    """:class:`joblib.Parallel` handing back each task as it ends, where the backend can.

    Backends built on joblib's ``MultiprocessingBackend`` (``"multiprocessing"``,
    Ray's ``"ray"``) return results only all together: the cells are still
    written as they finish, but the progress bar moves at the end.
    """
    try:
        return Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    except ValueError as exc:
        if "return_as" not in str(exc):
            raise
        return Parallel(n_jobs=n_jobs)


def run_sweep(cells, func, out, *, n_jobs=1, backend=None, desc="cells", verbose=True,
              group_func=None, group_by=None, group_size=1, check_rows=None):
    """Run the missing cells of a sweep and return the rows of all of them.

    Parameters
    ----------
    cells : list of (str, dict)
        ``(name, kwargs)``: ``func(**kwargs)`` computes the cell and returns a
        list of row dicts (JSON-able). ``name`` is unique and file-safe.
    func : callable
        A module-level function (it is pickled for process backends).
    out : path-like
        Output folder; cells go to ``out/cells/<name>.json``.
    n_jobs : int, default=1
    backend : str or None
        joblib backend name (None: joblib's default, ``"loky"``).
    desc : str
        Progress-bar label.
    verbose : bool
        Show a tqdm progress bar.
    group_func : callable or None
        Computes several cells in one call: ``group_func([kwargs, ...])``
        returns one list of rows per cell (e.g. repetitions batched on a
        GPU). Missing cells whose ``group_by(kwargs)`` are equal are computed
        ``group_size`` at a time. Every cell still gets its own file, so a
        grouped sweep resumes an ungrouped one and the other way round. A
        group that raises is recomputed cell by cell with ``func``, so the
        cells that can be computed are kept and the error comes from its cell.
    group_by : callable or None
        Key of the cells that may share a group (called in this process only).
    group_size : int, default=1
        Cells per group; 1 computes every cell with ``func``.
    check_rows : callable or None
        ``check_rows(kwargs, rows)`` says why a stored cell's rows cannot be
        what ``func(**kwargs)`` returns (a string), or None: such a cell (a
        file edited by hand, say) is recomputed with a warning, like a
        damaged one.

    Returns
    -------
    rows : list of dict
        The rows of every cell, in the order of ``cells``.

    Examples
    --------
    >>> import tempfile
    >>> from skpoison.experiments._sweep import run_sweep
    >>> def square(x):
    ...     return [{"x": x, "y": x * x}]
    >>> with tempfile.TemporaryDirectory() as out:
    ...     rows = run_sweep([(f"x{i}", {"x": i}) for i in range(3)], square, out,
    ...                      backend="threading", verbose=False)
    >>> [r["y"] for r in rows]
    [0, 1, 4]
    """
    cell_dir = Path(out) / "cells"
    cell_dir.mkdir(parents=True, exist_ok=True)
    names = [name for name, _ in cells]
    if len(set(names)) != len(names):
        raise ValueError("Cell names must be unique.")
    paths = {name: cell_dir / f"{name}.json" for name in names}
    todo = [(name, args) for name, args in cells
            if not _finished(name, paths[name], args, check_rows)]
    if todo:
        bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc=desc,
                   disable=not verbose, unit="cell")
        # parallel_config (not Parallel(backend=...)) is what lets joblib register
        # external backends such as "dask" on first use.
        config = parallel_config(backend=backend) if backend else nullcontext()
        try:
            with config:
                tasks = _tasks(todo, func, paths, group_func, group_by, group_size)
                for done in _parallel(n_jobs)(tasks):
                    bar.update(done)
        finally:
            bar.close()
    rows = []
    for name in names:
        rows.extend(read_json(paths[name])["rows"])
    return rows


def _format(value):
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return "" if value is None else str(value)


def write_csv(rows, path):
    """Write row dicts as a CSV (columns: union, first-seen order), atomically.

    The file is written to a temporary file beside ``path`` and renamed, so
    ``path`` holds either its old content or the whole new one; missing
    folders are created. Floats are written with :func:`repr` (they read
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
    with _atomic_file(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_format(row.get(c)) for c in columns])
    return path


def _parse(text):
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv(path):
    """Read a CSV written by :func:`write_csv` (numbers parsed, '' -> None).

    Each field is parsed as an int, else a float (``inf``, ``-inf`` and
    ``nan`` included), else kept as a string; an empty field gives None.

    Parameters
    ----------
    path : str or path-like
        The CSV file; its first line holds the column names.

    Returns
    -------
    rows : list of dict
        One per line, with every column, in the file's order. See
        :func:`write_csv` for an example.
    """
    with open(path, newline="") as handle:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(handle)]
