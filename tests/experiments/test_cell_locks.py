"""Cell locks where the folder refuses them."""

import warnings

import pytest

from skpoison.experiments import run_sweep
from skpoison.experiments._cell_locks import _lock

try:
    import fcntl
except ImportError:     # Windows: the runner takes no cell locks
    fcntl = None
needs_locks = pytest.mark.skipif(fcntl is None, reason="cell locks need fcntl (POSIX only)")

CALLS = []


def _square(x):
    CALLS.append(x)
    return [{"x": x, "y": x * x}]


@needs_locks
@pytest.mark.parametrize("error", [PermissionError(13, "Permission denied"),
                                   OSError(30, "Read-only file system"),
                                   OSError(28, "No space left on device")])
def test_a_lock_file_that_cannot_be_made_fails_the_cell_before_its_work(tmp_path,
                                                                        monkeypatch, error):
    # (a folder made read-only mid-run, a full disk: the cell's file cannot be
    # written either.) It warned that the folder had no locks, that runs at the
    # same time would each compute their cells, and computed the cell.
    def refused(file, *args, **kwargs):
        raise type(error)(error.errno, error.strerror, str(file))

    monkeypatch.setitem(_lock.__globals__, "open", refused)
    CALLS.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(type(error), match=f"{error.strerror}: .*c0.json.lock"):
            run_sweep([("c0", {"x": 0})], _square, tmp_path, verbose=False)
    assert CALLS == [] and not [w for w in caught if "cannot be locked" in str(w.message)]
