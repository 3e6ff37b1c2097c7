"""The benchmarks' command-line values, checked as argparse reads them.

A count of 0 had run nothing and written NaN medians (or failed on an empty
list), a negative thread count reached ``torch.set_num_threads``, and
``--device auto`` reached ``torch.device``, which does not know it (and the
scripts' own ``device.startswith("cuda")``, which would not have synchronized
a GPU it chose).
"""

from __future__ import annotations

import argparse


def count(minimum=1):
    """An argparse ``type``: an integer ``>= minimum``, else argparse's usage error."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    return parse


def device(text):
    """An argparse ``type``: the device skpoison would use for ``text``, as a string
    (``"auto"`` resolved: ``"cuda"`` or ``"cpu"``), else argparse's usage error."""
    from skpoison._torch_utils import resolve_device

    try:
        return str(resolve_device(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
