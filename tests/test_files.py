"""Atomic writes (skpoison._files)."""

import errno
import os

import pytest

from skpoison._files import atomic_file


def test_a_failed_write_leaves_the_old_file_and_names_the_path(tmp_path):
    # (a full disk said only "[Errno 28] No space left on device": which file?)
    path = tmp_path / "table.csv"
    path.write_text("old")
    with pytest.raises(OSError, match=r"No space left on device: '.*table\.csv'") as caught:
        with atomic_file(path, "w") as handle:
            handle.write("new")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert caught.value.errno == errno.ENOSPC
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["table.csv"]


def test_an_interrupt_leaves_the_old_file(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(path, "w") as handle:
            handle.write("new")
            raise KeyboardInterrupt
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["table.csv"]
