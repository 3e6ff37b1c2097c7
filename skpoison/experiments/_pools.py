"""The data sets' pools, loaded once per process (private)."""

from __future__ import annotations

import os

import numpy as np
from sklearn.utils import Bunch

from ..datasets import load_dataset
from ..datasets._home import DATA_HOME_ENV
from ..datasets._npz import is_data_file

__all__ = ["load_pool"]

_POOLS = {}


def load_pool(dataset, classes=None, data_home=None):
    """The data set's pool, loaded once per process (per data home: the
    environment's too, when ``data_home`` is None; a file of your own again
    once it is rewritten).

    Every call shares the same arrays, so they are read-only (a caller that
    wants to change one copies it first), and every call gets a ``Bunch`` of
    its own: a caller cannot change what the later cells of a sweep read.
    """
    try:
        classes = None if classes is None else tuple(classes)   # (an iterator: read once)
        # (typed: 0.0 == 0 and True == 1, but the loaders refuse them as class ids)
        typed = None if classes is None else tuple((type(c), c) for c in classes)
        hash(typed)
    except TypeError:   # (no sequence of class ids: the loader says what is wrong)
        return load_dataset(dataset, classes=classes, data_home=data_home)
    key = (dataset, typed, str(data_home),
           os.environ.get(DATA_HOME_ENV) if data_home is None else None)
    if is_data_file(dataset) and os.path.isfile(dataset):   # (else the loader says what is wrong)
        status = os.stat(dataset)
        key += (status.st_mtime_ns, status.st_size)
    if key not in _POOLS:
        _POOLS[key] = _frozen(load_dataset(dataset, classes=classes, data_home=data_home))
    return Bunch(**{name: list(value) if isinstance(value, list) else value
                    for name, value in _POOLS[key].items()})


def _frozen(pool):
    """``pool`` with its arrays (the box's bounds among them) made read-only, in place."""
    for value in (*pool.values(), *pool.get("feature_range", ())):
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return pool
