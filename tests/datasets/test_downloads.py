"""Downloads killed outright: what they leave behind, and what a later run makes of it."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from skpoison.datasets import _home, _mnist, fetch_mnist

posix_only = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and os.kill(pid, 0)")
REPO = Path(__file__).resolve().parents[2]


def _copying_from(source):
    return lambda url, dest: Path(dest).write_bytes(
        (source / url.rsplit("/", 1)[-1]).read_bytes())


@posix_only
def test_a_download_killed_outright_is_never_read_and_a_later_one_removes_its_file(
        tmp_path, monkeypatch, write_tiny_idx_set):
    home = tmp_path / "home"
    killed = textwrap.dedent(f"""
        import os, signal
        from skpoison.datasets import _home, fetch_mnist
        def cut(url, dest):
            with open(dest, "wb") as fh:
                fh.write(b"\\x1f\\x8b partial")
                fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        _home._urlretrieve = cut
        fetch_mnist(data_home={str(home)!r})
    """)
    run = subprocess.run([sys.executable, "-c", killed], cwd=REPO, capture_output=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    left = [p.name for p in (home / "mnist").iterdir()]
    assert len(left) == 1 and left[0].startswith(".train-images-idx3-ubyte.gz.")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        fetch_mnist(data_home=home, download=False)      # (the partial file is not it)

    md5s, _ = write_tiny_idx_set(tmp_path / "source")
    monkeypatch.setattr(_mnist, "MNIST_MD5", md5s)
    monkeypatch.setattr(_home, "_urlretrieve", _copying_from(tmp_path / "source"))
    assert len(fetch_mnist(data_home=home).target) == 9
    assert sorted(p.name for p in (home / "mnist").iterdir()) == sorted(
        f"{name}.gz" for name in md5s)     # (the killed download's file was removed)


@posix_only
@pytest.mark.parametrize("writer, old, removed", [
    ("this host, a live process", False, False),
    ("this host, a live process", True, True),
    ("another host", False, False),
    ("another host", True, True),
    ("no writer (older versions)", False, False),
    ("no writer (older versions)", True, True),
])
def test_only_the_files_of_dead_downloads_are_removed(tmp_path, monkeypatch, writer, old,
                                                      removed):
    # A file that a live download writes (another process's, in the same data home)
    # stays; one untouched for longer than any live download leaves it goes.
    tag = {"this host, a live process": f"{_home._writer().rsplit('-', 1)[0]}-{os.getppid()}.",
           "another host": "elsewhere-1.", "no writer (older versions)": ""}[writer]
    folder = tmp_path / "mnist"
    folder.mkdir()
    part = folder / f".t10k-labels-idx1-ubyte.gz.{tag}k2j_x9q1.part.gz"
    part.write_bytes(b"\x1f\x8b partial")
    other = folder / ".t10k-images-idx3-ubyte.gz.elsewhere-1.k2j_x9q1.part.gz"
    other.write_bytes(b"another file's")
    if old:
        for path in (part, other):
            age = _home.STALE_PART_AGE + 60
            os.utime(path, (path.stat().st_atime - age, path.stat().st_mtime - age))
    monkeypatch.setattr(_home, "_urlretrieve", lambda url, dest: Path(dest).write_bytes(b"x"))
    _home.download("https://example.org/t10k-labels-idx1-ubyte.gz",
                   folder / "t10k-labels-idx1-ubyte.gz", verify=lambda path: None)
    assert part.exists() is not removed
    assert other.exists()        # (the temporary files of another file are not looked at)
    assert (folder / "t10k-labels-idx1-ubyte.gz").read_bytes() == b"x"


def test_a_folder_that_cannot_be_listed_still_takes_the_download(tmp_path, monkeypatch):
    # (write and search rights without the right to read it: the look for dead
    # downloads' files must not cost the download)
    def refused(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refused)
    monkeypatch.setattr(_home, "_urlretrieve", lambda url, dest: Path(dest).write_bytes(b"x"))
    _home.download("https://example.org/a.gz", tmp_path / "a.gz", verify=lambda path: None)
    assert (tmp_path / "a.gz").read_bytes() == b"x"
