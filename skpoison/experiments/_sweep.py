"""A resumable sweep runner: one small file per finished cell (private).

A sweep is a list of *cells* (e.g. one strategy x one repetition), each with
a unique name. Cells run through :class:`joblib.Parallel` (any backend:
``"loky"``, ``"threading"``, or ``"dask"`` / ``"ray"`` once registered). Each
finished cell is written at once to ``<out>/cells/<name>.json`` with an
atomic rename, so an interrupted sweep loses at most the cells that were
running, and a rerun skips every cell whose file exists.

A cell that fails (a repetition whose training diverges) does not stop the
others: they are computed and stored, then its error is raised.

A cell is computed under a lock on its name (:mod:`._cell_locks`), so sweeps
running at the same time into one folder (two figures that share cells, say)
compute each cell once and share the work: a run first computes the cells no
other run holds, then waits for the others' locks and reads their files.
Tables are written and read by :mod:`._csv`.
"""

from __future__ import annotations

import os
import tempfile
import traceback
from contextlib import nullcontext
from numbers import Integral
from pathlib import Path
from typing import NamedTuple

from joblib import Parallel, delayed, parallel_config
from joblib import parallel as joblib_parallel

from .._progress import progress_bar
from .._warn import warn_user
from ._cell_locks import cells_locked, resume_path, tidy_cells
from ._json_files import read_json, write_json_atomic

__all__ = ["check_execution", "check_writable", "run_sweep", "write_json_atomic",
           "read_json"]


def check_writable(out):
    """Create ``out`` if needed and make sure files can be written there.

    Raises
    ------
    PermissionError
        With a clear message, before any work is done.
    """
    if not str(out).strip():   # ("" would write into the working folder: a slip)
        raise PermissionError(f"The output folder is empty (out={str(out)!r}); give a "
                              "folder with --out (or out=).")
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        # (unnamed where the system allows, O_TMPFILE: a killed run leaves no probe)
        with tempfile.TemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        # The usual cause, said plainly: a file where a folder should be.
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()),
                       None)
        reason = (exc.strerror or str(exc)) if blocker is None else (
            "it is a file, not a folder" if blocker == path
            else f"{str(blocker)!r} is a file, not a folder")
        if path.is_symlink() and not path.exists():
            reason = f"it is a link to {os.readlink(path)!r}, which does not exist"
        raise PermissionError(
            f"The output folder {str(path)!r} cannot be written ({reason}); "
            "choose another one with --out."
        ) from exc
    return path


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


class _Cells(NamedTuple):
    """How a sweep computes its cells (see :func:`run_sweep`)."""

    func: object
    group_func: object = None
    check_rows: object = None
    resume_arg: object = None
    record: object = None
    progress_arg: object = None

    def progress(self):
        """The keyword that turns the cells' own progress bars on, if this sweep shows them."""
        return {} if self.progress_arg is None else {self.progress_arg: True}

    def payload(self, name, rows, args, together):
        """A cell file's content: its name, rows, and (with ``record``) what computed it."""
        payload = {"cell": name, "rows": rows}
        if self.record is not None:
            payload["computed"] = {**self.record(args), "together": together}
        return payload


def _run_group(how, names, args, paths, blocking):
    """Compute several cells (in one call if ``how.group_func``); each gets its own file.

    Runs under the cells' locks, and skips the cells another run has
    finished meanwhile; returns the number of cells now finished (0 if
    another run holds a lock and ``blocking`` is False: the sweep comes back
    to them) and the cells that failed, ``{name: (error, traceback text)}``.
    If the group call fails (one diverging repetition fails a whole batched
    attack), its cells are computed one by one with ``how.func``: every cell
    that succeeds is stored, and the failures are those of the cells alone.
    """
    with cells_locked(paths, blocking) as held:
        if not held:
            return 0, {}
        todo = [(name, cell_args, path)
                for name, cell_args, path in zip(names, args, paths, strict=True)
                if not _finished(name, path, cell_args, how.check_rows, warn=False)]
        if not todo:
            return len(names), {}
        todo_names, todo_args, todo_paths = (list(column) for column in zip(*todo))
        if how.group_func is None:
            failed = _run_cells_alone(how, todo_names, todo_args, todo_paths)
            return len(names) - len(failed), failed
        try:
            results = how.group_func(todo_args, **how.progress())
        except Exception as group_error:  # noqa: BLE001 - the cells are retried alone
            warn_user(
                f"The group of cells {', '.join(todo_names)} failed together "
                f"({type(group_error).__name__}: {group_error}); computing them one by one.",
                RuntimeWarning)
            failed = _run_cells_alone(how, todo_names, todo_args, todo_paths)
            return len(names) - len(failed), failed
        for name, rows, cell_args, path in zip(todo_names, results, todo_args, todo_paths,
                                               strict=True):
            write_json_atomic(path, how.payload(name, rows, cell_args, len(todo_names)))
            if how.resume_arg is not None:   # (left by an interrupted run of the cell alone)
                resume_path(path).unlink(missing_ok=True)
        return len(names), {}


def _run_cells_alone(how, names, args, paths):
    """Every cell with ``how.func`` (locks held); the failed ones, as :func:`_run_group`
    returns them (the traceback as text: a worker process's does not travel)."""
    failed = {}
    for name, cell_args, path in zip(names, args, paths, strict=True):
        resume = {} if how.resume_arg is None else {how.resume_arg: str(resume_path(path))}
        try:
            rows = how.func(**cell_args, **resume, **how.progress())
            write_json_atomic(path, how.payload(name, rows, cell_args, 1))
            if resume:   # (kept by the cell until its rows are stored)
                resume_path(path).unlink(missing_ok=True)
        except Exception as exc:  # noqa: BLE001 - raised by run_sweep, after the others
            failed[name] = (exc, "".join(traceback.format_exception(exc)))
    return failed


class _CellTraceback(Exception):
    """The traceback of a cell's error, as text (the cause of the error a sweep raises)."""

    def __str__(self):
        return f"\n\"\"\"\n{self.args[0]}\"\"\""


def _raise_first_failure(failed, names):
    """Name the cells that failed (a warning), then raise the first one's error."""
    order = [name for name in names if name in failed]
    warn_user(f"{len(order)} of {len(names)} cells failed ({', '.join(order)}): the "
              "finished cells are stored, and the first failed cell's error follows (rerun "
              "to compute the failed cells again).", RuntimeWarning)
    error, text = failed[order[0]]
    if error.__traceback__ is None:     # (computed in another process)
        raise error from _CellTraceback(text)
    raise error


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


def check_execution(n_jobs, backend):
    """Refuse an ``n_jobs`` or a backend joblib would refuse, before any work.

    joblib only checks them once there are cells to compute: a finished sweep
    took (and recorded) any value.
    """
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral)
                               or n_jobs == 0):
        raise ValueError(f"n_jobs={n_jobs!r} must be a nonzero int (cells in parallel; -1: "
                         "all cores) or None.")
    known = {*joblib_parallel.BACKENDS, *getattr(joblib_parallel, "EXTERNAL_BACKENDS", {})}
    if backend is not None and backend not in known:
        hint = (" Ray's backend is registered from Python first (ray.util.joblib."
                "register_ray(); see docs/experiments.md)." if backend == "ray" else "")
        raise ValueError(f"backend={backend!r} is not a joblib backend; known: "
                         f"{sorted(known)}.{hint}")


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
              resume_arg=None, record=None, progress_arg=None):
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
        (A cell that raises stops no other: once they have all run, a
        ``RuntimeWarning`` names the failed cells and the first one's error
        is raised.)
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
    progress_arg : str or None
        A keyword of ``func`` and ``group_func`` that turns on a cell's own
        progress bars (an attack's batches and steps, under the sweep's bar):
        given True where the cells run one at a time in this process
        (``n_jobs=1``, no ``backend``) and ``verbose``, not given elsewhere
        (bars drawn by several workers at once would overwrite one another).

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
    check_execution(n_jobs, backend)
    cell_dir = Path(out) / "cells"
    cell_dir.mkdir(parents=True, exist_ok=True)
    names = [name for name, _ in cells]
    if len(set(names)) != len(names):
        raise ValueError("Cell names must be unique.")
    paths = {name: cell_dir / f"{name}.json" for name in names}
    todo = [(name, args) for name, args in cells
            if not _finished(name, paths[name], args, check_rows)]
    failed = {}
    if todo:
        bar = progress_bar(total=len(cells), initial=len(cells) - len(todo), desc=desc,
                           disable=not verbose, unit="cell")
        # parallel_config (not Parallel(backend=...)) is what lets joblib register
        # external backends such as "dask" on first use.
        config = parallel_config(backend=backend) if backend else nullcontext()
        here = verbose and n_jobs == 1 and backend is None    # (one cell at a time)
        how = _Cells(func, group_func, check_rows, resume_arg, record,
                     progress_arg if here else None)
        try:
            with config:
                # First the cells no other run is computing; then, waiting for
                # their locks, those it was (most will be finished by then).
                for blocking in (False, True):
                    tasks = _tasks(todo, how, paths, group_by, group_size, blocking)
                    for done, failures in _parallel(n_jobs)(tasks):
                        bar.update(done)
                        failed.update(failures)
                    todo = [] if blocking else [
                        (name, args) for name, args in todo if name not in failed
                        and not _finished(name, paths[name], args, check_rows, warn=False)]
                    # (the cells another run finished while this one left them to it)
                    bar.update(len(cells) - len(todo) - len(failed) - bar.n)
                    if not todo:
                        break
        finally:
            bar.close()
    tidy_cells(cell_dir, paths.values())    # (what killed runs left, failed cells or not)
    if failed:
        _raise_first_failure(failed, names)
    rows = []
    for name in names:
        rows.extend(read_json(paths[name])["rows"])
    return rows
