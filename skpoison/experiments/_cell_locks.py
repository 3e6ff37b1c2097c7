"""Cell locks: one run at a time computes a cell of a sweep folder (private);
and a run's outputs are written by one run at a time (:func:`outputs_locked`).

A cell is computed under a lock on its name (``fcntl.flock``, so a killed
process never leaves one held): sweeps running at the same time into one
folder compute each cell once. The lock covers the cell's files, its
``<name>.json`` and its ``<name>.resume.pt`` (only the holder writes them).
On platforms without ``fcntl`` (Windows) there are no locks, and such runs
each compute every cell they need (correctly, only twice).
"""

from __future__ import annotations

import glob
import os
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .._files import remove_stale_temporaries
from .._warn import warn_user

try:
    import fcntl
except ImportError:     # Windows: no cell locks (see the module's docstring)
    fcntl = None

__all__ = ["cells_locked", "outputs_locked", "resume_path", "tidy_cells"]


def resume_path(path):
    """Where a cell computed alone keeps its partial state (``<name>.resume.pt``)."""
    return path.with_name(f"{path.stem}.resume.pt")


class _NoLocks(Exception):
    """The file system refuses locks (``flock``'s OSError is the cause): some network
    mounts. Not a lock file that cannot be made, where no cell file can be either."""


def _lock(lock, blocking):
    """``lock`` opened and flocked (None: another run holds it and ``blocking`` is False).

    A holder removes the lock file when it is done, so a run that got the
    lock of a file no longer at ``lock`` (it waited on it while it was
    removed) locks the current one instead: one holder per cell.

    Raises
    ------
    OSError
        If the lock file cannot be opened (a read-only folder, a full disk).
    _NoLocks
        If it cannot be locked.
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
        except OSError as exc:
            handle.close()
            raise _NoLocks(exc) from exc
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


_UNLOCKABLE = ("Cells in {folder!r} cannot be locked ({error}); runs at the same time into "
               "this folder each compute their cells.")


@contextmanager
def _cell_lock(path, blocking=True, *, unlockable=_UNLOCKABLE):
    """Hold the lock of the cell stored at ``path``; yields whether it is held.

    Blocks while another run holds it, unless ``blocking`` is False (then
    yields False at once). A lock file that cannot be made raises (the
    cell's file could not be written either: no work is done first).
    Temporary files of the cell that a killed writer
    left are removed (:func:`~skpoison._files.remove_stale_temporaries`).
    """
    if fcntl is None:
        yield True
        return
    lock = path.with_name(f".{path.name}.lock")
    try:
        handle = _lock(lock, blocking)
    except _NoLocks as exc:  # a file system without locks (some network mounts)
        warn_user(unlockable.format(folder=str(path.parent), error=exc.__cause__),
                  RuntimeWarning)
        lock.unlink(missing_ok=True)
        yield True
        return
    if handle is None:
        yield False
        return
    with handle:   # (closing it releases the lock)
        for target in (path, resume_path(path)):   # (only the holder writes them)
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
def outputs_locked(out, stem):
    """Hold the lock of a run's outputs, ``<stem>.csv``, its settings and figures.

    Runs of one stem at the same time (the same command with other settings)
    then write them one after the other, each its whole set: never one run's
    CSV beside another's settings or PNG. Blocks while another run holds it.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    unlockable = ("Outputs in {folder!r} cannot be locked ({error}); runs of one command "
                  f"at the same time may leave one run's {stem}.csv beside another's "
                  "figures.")
    with _cell_lock(out / f"{stem}.csv", unlockable=unlockable):
        yield


@contextmanager
def cells_locked(paths, blocking):
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


def tidy_cells(cell_dir, paths):
    """Remove what killed runs left of these cells: lock files no run holds, temporaries,
    and the resume files of finished cells.

    (A group holds every cell's lock until its last cell is written; a run
    killed in between leaves the finished cells' lock files, which no later
    run locks again. A cell keeps its resume file until its rows are written:
    a run killed just after leaves it beside the finished cell.)
    """
    for path in paths:
        if path.is_file() and resume_path(path).is_file():
            with _cell_lock(path, blocking=False) as held:
                if held:
                    resume_path(path).unlink(missing_ok=True)
    if fcntl is None:
        # No locks to take: the temporaries whose writer is gone, which a lock's
        # release removes elsewhere (a live writer's are kept)
        for path in paths:
            remove_stale_temporaries(path)
            remove_stale_temporaries(resume_path(path))
        return
    left = {Path(name).name for pattern in (".*.lock", ".*.tmp")
            for name in glob.glob(glob.escape(str(cell_dir)) + os.sep + pattern)}
    for path in paths:
        if any(name.startswith((f".{path.name}.", f".{resume_path(path).name}."))
               for name in left):
            with _cell_lock(path, blocking=False):   # (cleans up, unless a run holds it)
                pass
