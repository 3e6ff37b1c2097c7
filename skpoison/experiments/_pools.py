"""The data sets' pools, loaded once per process (private)."""

from __future__ import annotations

import os

from ..datasets import load_dataset
from ..datasets._home import DATA_HOME_ENV
from ..datasets._npz import is_data_file

__all__ = ["load_pool"]

_POOLS = {}


def load_pool(dataset, classes=None, data_home=None):
    """The data set's pool, loaded once per process (per data home: the
    environment's too, when ``data_home`` is None; a file of your own again
    once it is rewritten)."""
    key = (dataset, None if classes is None else tuple(classes), str(data_home),
           os.environ.get(DATA_HOME_ENV) if data_home is None else None)
    if is_data_file(dataset) and os.path.isfile(dataset):   # (else the loader says what is wrong)
        status = os.stat(dataset)
        key += (status.st_mtime_ns, status.st_size)
    if key not in _POOLS:
        _POOLS[key] = load_dataset(dataset, classes=classes, data_home=data_home)
    return _POOLS[key]
