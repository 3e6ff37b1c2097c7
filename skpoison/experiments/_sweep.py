"""A resumable sweep runner: one small file per finished cell (private).

A sweep is a list of *cells* (e.g. one strategy x one repetition), each with
a unique name. Cells run through :class:`joblib.Parallel` (any backend:
``"loky"``, ``"threading"``, or ``"dask"`` / ``"ray"`` once registered). Each
finished cell is written at once to ``<out>/cells/<name>.json`` with an
atomic rename, so an interrupted sweep loses at most the cells that were
running, and a rerun skips every cell whose file exists.

A cell is computed under a lock on its name (``fcntl.flock``, so a killed
process never leaves one held), so sweeps running at the same time into one
folder (two figures that share cells, say) compute each cell once and share
the work: a run first computes the cells no other run holds, then waits for
the others' locks and reads their files. On
platforms without ``fcntl`` (Windows) there are no locks, and such runs each
compute every cell they need (correctly, only twice).
"""

from __future__ import annotations

import csv
import glob
import json
import math
import os
import tempfile
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import NamedTuple

from joblib import Parallel, delayed, parallel_config
from tqdm.auto import tqdm

from .._files import atomic_file, remove_stale_temporaries
from .._warn import warn_user

try:
    import fcntl
except ImportError:     # Windows: no cell locks (see the module's docstring)
    fcntl = None

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


def write_json_atomic(path, payload):
    """Write JSON to ``path`` via a temporary file and :func:`os.replace`."""
    with atomic_file(path) as handle:
        json.dump(payload, handle)  # inf/nan as Infinity/NaN


def read_json(path):
    """Read a file written by :func:`write_json_atomic`."""
    with open(path) as handle:
        return json.load(handle)


def _finished(name, path, args, check_rows, warn=True):
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
    if not ok and warn:
        warn_user(f"Cell file {path} is damaged ({problem}); recomputing the cell.",
                  RuntimeWarning)
    return ok


def _lock(lock, blocking):
    """``lock`` opened and flocked (None: another run holds it and ``blocking`` is False).

    A holder removes the lock file when it is done, so a run that got the
    lock of a file no longer at ``lock`` (it waited on it while it was
    removed) locks the current one instead: one holder per cell.
    """
    while True:
        handle = open(lock, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            if _is_current(lock, handle):
                return handle
        except BlockingIOError:
            handle.close()
            return None
        except BaseException:
            handle.close()
            raise
        handle.close()


def _is_current(lock, handle):
    """Whether ``handle`` is open on the file now at ``lock`` (not one removed since)."""
    try:
        return os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


@contextmanager
def _cell_lock(path, blocking=True):
    """Hold the lock of the cell stored at ``path``; yields whether it is held.

    Blocks while another run holds it, unless ``blocking`` is False (then
    yields False at once). Temporary files of the cell that a killed writer
    left are removed (:func:`~skpoison._files.remove_stale_temporaries`).
    """
    if fcntl is None:
        yield True
        return
    lock = path.with_name(f".{path.name}.lock")
    try:
        handle = _lock(lock, blocking)
    except OSError as exc:  # a file system without locks (some network mounts)
        warn_user(f"Cells in {str(path.parent)!r} cannot be locked ({exc}); runs at "
                  "the same time into this folder each compute their cells.", RuntimeWarning)
        lock.unlink(missing_ok=True)
        yield True
        return
    if handle is None:
        yield False
        return
    with handle:   # (closing it releases the lock)
        for target in (path, _resume_path(path)):   # (only the holder writes them)
            remove_stale_temporaries(target)
        try:
            yield True
        finally:
            _remove_lock_file(lock, handle)


def _remove_lock_file(lock, handle):
    """Remove the lock file ``handle`` holds (unless another run has made a new one).

    A run waiting on it then finds it gone once it gets the lock, and locks
    the file at ``lock`` instead (:func:`_lock`).
    """
    if _is_current(lock, handle):
        lock.unlink(missing_ok=True)


@contextmanager
def _cells_locked(paths, blocking):
    """Hold the locks of several cells, or none (yields whether they are held).

    Taken in name order, so that runs never wait on each other in a cycle;
    without ``blocking``, any lock held elsewhere releases those taken.
    """
    with ExitStack() as stack:
        for path in sorted(paths):
            if not stack.enter_context(_cell_lock(path, blocking)):
                stack.close()
                yield False
                return
        yield True


def _tidy(cell_dir, paths):
    """Remove what killed runs left of these cells: lock files no run holds, temporaries.

    (A group holds every cell's lock until its last cell is written; a run
    killed in between leaves the finished cells' lock files, which no later
    run locks again.)
    """
    if fcntl is None:
        return
    left = {Path(name).name for pattern in (".*.lock", ".*.tmp")
            for name in glob.glob(glob.escape(str(cell_dir)) + os.sep + pattern)}
    for path in paths:
        if any(name.startswith((f".{path.name}.", f".{_resume_path(path).name}."))
               for name in left):
            with _cell_lock(path, blocking=False):   # (cleans up, unless a run holds it)
                pass


class _Cells(NamedTuple):
    """How a sweep computes its cells (see :func:`run_sweep`)."""

    func: object
    group_func: object = None
    check_rows: object = None
    resume_arg: object = None
    record: object = None

    def payload(self, name, rows, args, together):
        """A cell file's content: its name, rows, and (with ``record``) what computed it."""
        payload = {"cell": name, "rows": rows}
        if self.record is not None:
            payload["computed"] = {**self.record(args), "together": together}
        return payload


def _resume_path(path):
    """Where a cell computed alone keeps its partial state (``<name>.resume.pt``)."""
    return path.with_name(f"{path.stem}.resume.pt")


def _run_group(how, names, args, paths, blocking):
    """Compute several cells (in one call if ``how.group_func``); each gets its own file.

    Runs under the cells' locks, and skips the cells another run has
    finished meanwhile; returns the number of cells now finished, 0 if
    another run holds a lock and ``blocking`` is False (the sweep comes back
    to them). If the group call fails (one diverging repetition fails a
    whole batched attack), its cells are computed one by one with
    ``how.func``: every cell that succeeds is stored, and then the first
    cell's own error is raised.
    """
    with _cells_locked(paths, blocking) as held:
        if not held:
            return 0
        todo = [(name, cell_args, path)
                for name, cell_args, path in zip(names, args, paths, strict=True)
                if not _finished(name, path, cell_args, how.check_rows, warn=False)]
        if not todo:
            return len(names)
        todo_names, todo_args, todo_paths = (list(column) for column in zip(*todo))
        if how.group_func is None:
            return len(names) - len(todo) + _run_cells_alone(how, todo_names, todo_args,
                                                             todo_paths)
        try:
            results = how.group_func(todo_args)
        except Exception as group_error:  # noqa: BLE001 - the cells are retried alone
            warn_user(
                f"The group of cells {', '.join(todo_names)} failed together "
                f"({type(group_error).__name__}: {group_error}); computing them one by one.",
                RuntimeWarning)
            _run_cells_alone(how, todo_names, todo_args, todo_paths)
            return len(names)
        for name, rows, cell_args, path in zip(todo_names, results, todo_args, todo_paths,
                                               strict=True):
            write_json_atomic(path, how.payload(name, rows, cell_args, len(todo_names)))
            if how.resume_arg is not None:   # (left by an interrupted run of the cell alone)
                _resume_path(path).unlink(missing_ok=True)
        return len(names)


def _run_cells_alone(how, names, args, paths):
    """Every cell with ``how.func`` (locks held); the first error is raised once all ran."""
    first_error = None
    for name, cell_args, path in zip(names, args, paths, strict=True):
        resume = {} if how.resume_arg is None else {how.resume_arg: str(_resume_path(path))}
        try:
            rows = how.func(**cell_args, **resume)
            write_json_atomic(path, how.payload(name, rows, cell_args, 1))
        except Exception as exc:  # noqa: BLE001 - raised below, after the others
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return len(names)


def _tasks(todo, how, paths, group_by, group_size, blocking):
    """joblib tasks for the missing cells: one per cell, or one per group of cells."""
    if how.group_func is None or group_size <= 1:
        how = how._replace(group_func=None)
        return [delayed(_run_group)(how, [name], [args], [paths[name]], blocking)
                for name, args in todo]
    groups = {}
    for name, args in todo:
        groups.setdefault(group_by(args), []).append((name, args))
    tasks = []
    for members in groups.values():
        for start in range(0, len(members), group_size):
            chunk = members[start:start + group_size]
            names = [name for name, _ in chunk]
            tasks.append(delayed(_run_group)(how, names, [a for _, a in chunk],
                                             [paths[name] for name in names], blocking))
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
              group_func=None, group_by=None, group_size=1, check_rows=None,
              resume_arg=None, record=None):
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
    resume_arg : str or None
        A keyword of ``func`` that takes a file path: a cell computed alone
        (not in a group) gets ``<out>/cells/<name>.resume.pt`` there, where
        ``func`` may keep its partial state, so that an interrupted cell
        resumes (``run_attack_cell``: the attack's finished batches).
    record : callable or None
        ``record(kwargs)``, called where the cell is computed, says what
        computed it (a JSON-able dict: versions, device); the cell file keeps
        it under ``"computed"``, with ``"together"``, the number of cells
        computed in the same call.

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
        how = _Cells(func, group_func, check_rows, resume_arg, record)
        try:
            with config:
                # First the cells no other run is computing; then, waiting for
                # their locks, those it was (most will be finished by then).
                for blocking in (False, True):
                    tasks = _tasks(todo, how, paths, group_by, group_size, blocking)
                    for done in _parallel(n_jobs)(tasks):
                        bar.update(done)
                    todo = [] if blocking else [
                        (name, args) for name, args in todo
                        if not _finished(name, paths[name], args, check_rows, warn=False)]
                    if not todo:
                        break
        finally:
            bar.close()
    _tidy(cell_dir, paths.values())
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
    with atomic_file(path, newline="") as handle:
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
