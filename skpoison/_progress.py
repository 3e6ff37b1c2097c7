"""Progress bars: tqdm's, imported when one is drawn (private)."""

from __future__ import annotations

import os

__all__ = ["progress_bar"]


def progress_bar(*args, disable=False, **kwargs):
    """A ``tqdm`` bar: ``tqdm.auto``'s (a widget in notebooks) when drawn, the plain one
    when ``disable``. ``leave=None`` keeps a bar drawn alone and clears one drawn
    under another (a sweep's), in a notebook too.

    ``disable=None`` means what it means to ``tqdm.auto``: no bar where the output
    is not a terminal (a file, a pipe), the widget in a notebook. (The library's
    callers pass ``not verbose``, a bool; None had drawn the bar everywhere.)

    ``tqdm.auto`` warns, on import, in a notebook kernel without ipywidgets
    ("IProgress not found"): imported by ``import skpoison`` itself, it warned
    every notebook, progress bars or not.

    ``TQDM_DISABLE`` set (to anything but the empty string, as tqdm reads it)
    disables every bar, ``verbose=True`` or not: tqdm lets an explicit
    ``disable=False`` override it, and its notebook bar ignores it.

    Examples
    --------
    >>> bar = progress_bar(range(3), disable=True)
    >>> list(bar)
    [0, 1, 2]
    """
    if os.environ.get("TQDM_DISABLE"):
        disable = True
    if disable:
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    bar = tqdm(*args, disable=disable, **kwargs)
    if kwargs.get("leave", True) is None:
        # The terminal's tqdm reads leave=None as "kept when drawn alone" (position 0),
        # a notebook's widget as False: decided here, as the terminal's does.
        bar.leave = bar.pos == 0
    return bar
