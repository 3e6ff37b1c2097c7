"""The engine's warnings: issued at once, or once per category over a whole loop.

A fit or an attack calls the engine once per outer step, and a warning that
holds for one step usually holds for all of them (an inner problem that has
not converged stays so). Inside :func:`warnings_once` the first warning of
each category goes to the caller's ``issue`` (which can attribute it to the
user's line) as it happens, so an ``"error"`` filter still stops the loop
there; the later ones are only counted, and the block's end adds how many
there were. A warning may name its ``kind`` within its category (a Hessian
solve that made no step at all, say): each kind is then shown and counted on
its own, so a rarer, graver case is not hidden behind the first of its class.
The state lives in a :class:`~contextvars.ContextVar`, so threads (a
thread-based sweep's cells) each count their own;
:func:`warnings.catch_warnings` would not be safe there.
"""

from __future__ import annotations

import warnings
from contextvars import ContextVar

_ONCE = ContextVar("skpoison_hypergrad_warnings_once", default=None)


class warnings_once:
    """Issue each category of the engine's warnings once in this block (and thread).

    A context manager (a class, not a generator: ``issue`` may look for the
    first frame outside skpoison, and ``contextlib`` would be one).

    Parameters
    ----------
    what : str
        What the block is, for the closing count ("fit", "attack").
    issue : callable
        ``issue(message, category)`` issues a warning; called for the first
        warning of each category, and at the end (also when the block raises)
        once for each category that came more than once.

    Examples
    --------
    >>> shown = []
    >>> with warnings_once("fit", lambda message, category: shown.append(message)):
    ...     for _ in range(3):
    ...         warn("slow", UserWarning)
    >>> shown
    ['slow', 'UserWarning was issued 3 times in this fit; only the first is shown.']

    A kind of its own is shown even after others of its category:

    >>> shown = []
    >>> with warnings_once("fit", lambda message, category: shown.append(message)):
    ...     warn("inaccurate", UserWarning)
    ...     warn("no step", UserWarning, kind="no step")
    ...     warn("no step", UserWarning, kind="no step")
    >>> shown   # doctest: +NORMALIZE_WHITESPACE
    ['inaccurate', 'no step',
     'UserWarning (no step) was issued 2 times in this fit; only the first is shown.']
    """

    def __init__(self, what, issue):
        self.what, self.issue, self.counts = what, issue, {}

    def __enter__(self):
        self._token = _ONCE.set((self.issue, self.counts))
        return self

    def __exit__(self, *exc_info):
        _ONCE.reset(self._token)
        for (category, kind), count in self.counts.items():
            if count > 1:
                name = category.__name__ + ("" if kind is None else f" ({kind})")
                self.issue(f"{name} was issued {count} times in this {self.what}; only "
                           "the first is shown.", category)
        return False


def warn(message, category, stacklevel=1, *, kind=None):
    """:func:`warnings.warn` (``stacklevel`` from the caller), or as :func:`warnings_once` says.

    ``kind`` (a short label, or None) sets the warning apart within its
    category inside :func:`warnings_once`; outside it, it changes nothing.
    """
    state = _ONCE.get()
    if state is None:
        warnings.warn(message, category, stacklevel=stacklevel + 1)
        return
    issue, counts = state
    key = (category, kind)
    counts[key] = counts.get(key, 0) + 1
    if counts[key] == 1:
        issue(message, category)
