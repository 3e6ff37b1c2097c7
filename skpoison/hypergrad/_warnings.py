"""The engine's warnings: issued at once, or collected for a caller to sum up.

A fit or an attack calls the engine once per outer step, and a warning that
holds for one step usually holds for all of them (an inner problem that has
not converged stays so). Inside :func:`collect_warnings` the engine appends
its warnings to a list instead of issuing them, and the caller issues one
per category when its loop ends. The list lives in a
:class:`~contextvars.ContextVar`, so threads (a thread-based sweep's cells)
each collect their own; :func:`warnings.catch_warnings` would not be safe
there.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from contextvars import ContextVar

_COLLECTED = ContextVar("skpoison_hypergrad_warnings", default=None)


@contextmanager
def collect_warnings():
    """Collect the engine's warnings in this thread instead of issuing them.

    Yields
    ------
    list of Warning
        The collected warnings (instances of their categories), in order.

    Examples
    --------
    >>> with collect_warnings() as collected:
    ...     warn("careful", UserWarning)
    >>> collected
    [UserWarning('careful')]
    """
    collected = []
    token = _COLLECTED.set(collected)
    try:
        yield collected
    finally:
        _COLLECTED.reset(token)


def warn(message, category, stacklevel=1):
    """:func:`warnings.warn` (``stacklevel`` counted from the caller), or collect it."""
    collected = _COLLECTED.get()
    if collected is None:
        warnings.warn(message, category, stacklevel=stacklevel + 1)
    else:
        collected.append(category(message))
