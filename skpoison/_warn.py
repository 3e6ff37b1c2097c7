"""Warnings that point at the user's line, however deep in skpoison they arise."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message, category=UserWarning):
    """``warnings.warn`` attributed to the first caller outside skpoison (and joblib).

    A fixed ``stacklevel`` is right for one call path only (``fit`` and
    ``fit_resample`` reach the same checks at different depths).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_user("careful")
    >>> caught[0].filename.startswith(_PACKAGE)     # (here: the doctest's own line)
    False
    """
    inside = _inside_prefixes()
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    if frame is None:
        # No caller's line at all (a sweep's worker process or thread): skpoison's
        # own line, rather than the bottom of the worker's stack
        # (multiprocessing/process.py, threading.py), says where it came from.
        level = 1
    warnings.warn(message, category, stacklevel=level + 1)


def _inside_prefixes():
    """skpoison's folder, and those of joblib and of the standard library's
    workers once imported: a sweep calls its cells through ``joblib.Parallel``
    from worker processes or threads, none of which is the user's line."""
    prefixes = [_PACKAGE]
    for name in ("joblib", "multiprocessing", "concurrent.futures"):
        module = sys.modules.get(name)
        if getattr(module, "__file__", None) is not None:
            prefixes.append(os.path.dirname(os.path.abspath(module.__file__)) + os.sep)
    threading = sys.modules.get("threading")
    if getattr(threading, "__file__", None) is not None:
        prefixes.append(os.path.abspath(threading.__file__))
    return tuple(prefixes)
