"""Warnings that point at the user's line, however deep in skpoison they arise."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from contextlib import contextmanager

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message, category=UserWarning):
    """``warnings.warn`` attributed to the first caller outside skpoison.

    The libraries that call skpoison on the user's behalf are skipped too:
    scikit-learn's meta-estimators, imbalanced-learn's pipelines, joblib.

    A fixed ``stacklevel`` is right for one call path only (``fit`` and
    ``fit_resample`` reach the same checks at different depths). In a worker
    thread or process (a sweep's cells), where that caller is the worker's
    machinery (``threading``, ``multiprocessing``, ``concurrent.futures``),
    the warning names the line :func:`on_behalf_of` recorded for that work,
    else skpoison's own line.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_user("careful")
    >>> caught[0].filename.startswith(_PACKAGE)     # (here: the doctest's own line)
    False
    """
    frame, level = _users_frame(sys._getframe(1))
    if frame is None:
        line = getattr(_worker, "line", None)
        if line is not None:   # (a worker thread doing a caller's work: its line)
            filename, lineno, module_globals = line
            warnings.warn_explicit(
                message, category, filename, lineno, module=module_globals.get("__name__"),
                registry=module_globals.setdefault("__warningregistry__", {}),
                module_globals=module_globals)
            return
        # No caller's line (a worker ran skpoison directly): skpoison's own line
        # says more than the worker's (multiprocessing/process.py, threading.py).
        level = 1
    warnings.warn(message, category, stacklevel=level + 1)


#: Per thread: the caller's line (file, line number, module globals) that its
#: warnings are attributed to while it works for that caller (on_behalf_of).
_worker = threading.local()


def callers_line():
    """The line of the first caller outside skpoison (and the libraries
    :func:`warn_user` skips) in this thread: ``(filename, lineno, globals)``, or
    None. Taken before work is handed to threads, for :func:`on_behalf_of`.

    Examples
    --------
    >>> callers_line()[1] > 0
    True
    """
    frame, _ = _users_frame(sys._getframe(1))
    if frame is None:
        return getattr(_worker, "line", None)
    return frame.f_code.co_filename, frame.f_lineno, frame.f_globals


@contextmanager
def on_behalf_of(line):
    """In this (worker) thread, attribute :func:`warn_user`'s warnings that find
    no caller's line of their own to ``line`` (:func:`callers_line`, taken in
    the thread that handed the work over; None: skpoison's own line).

    ``fit_batched`` prepares its attacks in threads: a warning there named
    skpoison's line, which a filter by the user's module
    (``-W error::UserWarning:mymodule``) did not match, though each attack's
    own ``fit`` would have named the user's.

    Examples
    --------
    >>> with on_behalf_of(("script.py", 7, {"__name__": "script"})):
    ...     _worker.line[:2]
    ('script.py', 7)
    >>> getattr(_worker, "line", None) is None
    True
    """
    before = getattr(_worker, "line", None)
    _worker.line = line
    try:
        yield
    finally:
        _worker.line = before


def _users_frame(frame):
    """``(frame, level)``: the first frame from ``frame`` up that is not
    skpoison's or a skipped library's, and its distance (1: ``frame``);
    ``(None, level)`` where there is none, or it is a worker's machinery."""
    inside = _prefixes(("joblib", "sklearn", "imblearn"), package=True)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    if frame is None or frame.f_code.co_filename.startswith(
            _prefixes(("multiprocessing", "concurrent.futures", "threading"))):
        return None, level
    return frame, level


def _prefixes(modules, package=False):
    """Where the named modules' code lives, for those imported (a package's
    folder, a module's file), after skpoison's folder if ``package``.

    joblib is not the user's line either: a sweep calls its cells through
    ``joblib.Parallel``; nor are scikit-learn's and imbalanced-learn's, whose
    ``Pipeline`` or ``GridSearchCV`` call a model's ``fit``.
    """
    prefixes = [_PACKAGE] if package else []
    for name in modules:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path is None:
            continue
        path = os.path.abspath(path)
        is_package = os.path.basename(path) == "__init__.py"
        prefixes.append(os.path.dirname(path) + os.sep if is_package else path)
    return tuple(prefixes)
