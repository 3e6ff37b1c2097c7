"""Suite-wide settings, and the digits pool that several packages' tests share.

The problems in the unit tests are tiny: one intra-op thread avoids the
oversubscription that makes small torch ops slow when pytest shares 2 cores.
This folder goes on ``sys.path`` for its helper modules (``numpydoc_sections``;
``--import-mode=importlib`` puts no test folder there).
"""

import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture(scope="session")
def digits08_pool():
    """The bundled digits 0 and 8 (352 samples), pixels in [0, 1]: ``(X, y)``."""
    from sklearn.datasets import load_digits

    X, y = load_digits(n_class=9, return_X_y=True)
    keep = (y == 0) | (y == 8)
    return X[keep] / 16.0, y[keep]


@pytest.fixture
def device_lanczos_runs(monkeypatch):
    """The device code of ``inner_lr="auto"`` on CPU tensors (every device then
    counts as not the host's; the code is a GPU's): the number of designs of
    each batched Lanczos run, as they happen."""
    from skpoison.estimators import _spectral

    monkeypatch.setattr(_spectral, "HOST_LANCZOS_DEVICES", frozenset())
    runs, lanczos = [], _spectral._device_squared_norms

    def counted(X, ones):
        runs.append(X.shape[0])
        return lanczos(X, ones)
    monkeypatch.setattr(_spectral, "_device_squared_norms", counted)
    return runs
