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
    warnings.warn(message, category, stacklevel=level + 1)


def _inside_prefixes():
    """skpoison's folder, and joblib's once imported: a sweep calls its cells
    through ``joblib.Parallel``, which is not the user's line either."""
    joblib = sys.modules.get("joblib")
    if joblib is None or getattr(joblib, "__file__", None) is None:
        return (_PACKAGE,)
    return (_PACKAGE, os.path.dirname(os.path.abspath(joblib.__file__)) + os.sep)
