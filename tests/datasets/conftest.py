import gzip
import hashlib
import os
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from skpoison.datasets import _home

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def shared_data_dir():
    """The offline copies of the real data sets, or None when absent."""
    env = os.environ.get("SKPOISON_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture
def shared_data():
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data copies absent (set SKPOISON_SHARED_DATA to ../shared/data)")
    return path


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """No test may reach the network: downloads fail as if offline."""
    def offline(url, dest):
        raise urllib.error.URLError(f"offline test, refused {url}")
    monkeypatch.setattr(_home, "_urlretrieve", offline)
    monkeypatch.delenv("SKPOISON_DATA", raising=False)


def _idx_bytes(array):
    """Serialize a uint8 array in the IDX format."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def _md5(data):
    return hashlib.md5(data).hexdigest()


def _write_tiny_idx_set(folder, n_train=(3, 2, 4), n_test=(1, 2, 1), seed=0):
    """Write the 4 IDX .gz files of a tiny 3-class (0, 1, 8) set; return md5s.

    ``n_train`` / ``n_test`` are the counts of classes 0, 1, 8.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md5s, arrays = {}, {}
    for split, counts in (("train", n_train), ("t10k", n_test)):
        labels = np.repeat(np.array([0, 1, 8], dtype=np.uint8), counts)
        images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            base = f"{split}-{kind}-ubyte"
            raw = _idx_bytes(arr)
            (folder / f"{base}.gz").write_bytes(gzip.compress(raw))
            md5s[base] = _md5(raw)
            arrays[base] = arr
    return md5s, arrays


@pytest.fixture
def idx_bytes():
    return _idx_bytes


@pytest.fixture
def md5():
    return _md5


@pytest.fixture
def write_tiny_idx_set():
    return _write_tiny_idx_set
