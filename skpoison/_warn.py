"""Warnings that point at the user's line, however deep in skpoison they arise."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message, category=UserWarning):
    """``warnings.warn`` attributed to the first caller outside skpoison.

    The libraries that call skpoison on the user's behalf are skipped too:
    scikit-learn's meta-estimators, imbalanced-learn's pipelines, joblib.

    A fixed ``stacklevel`` is right for one call path only (``fit`` and
    ``fit_resample`` reach the same checks at different depths). In a worker
    thread or process (a sweep's cells), where that caller is the worker's
    machinery (``threading``, ``multiprocessing``, ``concurrent.futures``),
    the warning names skpoison's own line instead.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_user("careful")
    >>> caught[0].filename.startswith(_PACKAGE)     # (here: the doctest's own line)
    False
    """
    inside = _prefixes(("joblib", "sklearn", "imblearn"), package=True)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    if frame is None or frame.f_code.co_filename.startswith(
            _prefixes(("multiprocessing", "concurrent.futures", "threading"))):
        # No caller's line (a worker ran skpoison directly): skpoison's own line
        # says more than the worker's (multiprocessing/process.py, threading.py).
        level = 1
    warnings.warn(message, category, stacklevel=level + 1)


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
