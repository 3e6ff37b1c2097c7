"""Progress bars: tqdm's, imported when one is drawn (private)."""

from __future__ import annotations

__all__ = ["progress_bar"]


def progress_bar(*args, disable=False, **kwargs):
    """A ``tqdm`` bar: ``tqdm.auto``'s (a widget in notebooks) when drawn, the plain one
    when ``disable``.

    ``tqdm.auto`` warns, on import, in a notebook kernel without ipywidgets
    ("IProgress not found"): imported by ``import skpoison`` itself, it warned
    every notebook, progress bars or not.

    Examples
    --------
    >>> bar = progress_bar(range(3), disable=True)
    >>> list(bar)
    [0, 1, 2]
    """
    if disable:
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(*args, disable=disable, **kwargs)
