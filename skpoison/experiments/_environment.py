"""What computed a result: software versions and the device, for the record (private).

Cell files and ``<stem>_settings.json`` carry it, so that a table can say
which machine and which versions gave its numbers (a sweep resumed on another
machine, or with other versions, mixes cells of both: each cell says its own).
"""

from __future__ import annotations

import platform
from functools import lru_cache

__all__ = ["environment"]


def environment(device="cpu"):
    """Versions of skpoison and its numerical stack, and the device's name.

    Parameters
    ----------
    device : str or torch.device
        The device the computation ran on (``"auto"`` is resolved).

    Returns
    -------
    dict
        JSON-able: ``skpoison``, ``python``, ``numpy``, ``scipy``,
        ``scikit-learn``, ``torch`` (versions), ``device`` (e.g. ``"cuda:0"``)
        and ``device_name`` (the GPU's name, or the CPU's model).

    Examples
    --------
    >>> sorted(environment("cpu"))  # doctest: +NORMALIZE_WHITESPACE
    ['device', 'device_name', 'numpy', 'python', 'scikit-learn', 'scipy', 'skpoison',
     'torch']
    """
    import numpy
    import scipy
    import sklearn
    import torch

    from .. import __version__
    from .._torch_utils import resolve_device

    resolved = resolve_device(device)
    if resolved.type == "cuda":
        index = resolved.index if resolved.index is not None else torch.cuda.current_device()
        resolved = torch.device("cuda", index)
        name = torch.cuda.get_device_name(index)
    else:
        name = _cpu_name()
    return {"skpoison": __version__, "python": platform.python_version(),
            "numpy": numpy.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__, "torch": torch.__version__,
            "device": str(resolved), "device_name": name}


@lru_cache(maxsize=1)
def _cpu_name():
    """The CPU's model name (Linux: /proc/cpuinfo), or what the platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
