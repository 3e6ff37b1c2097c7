"""Local data home, checksums and atomic downloads (private)."""

import hashlib
import os
import re
import shutil
import socket
import tempfile
import urllib.request
from pathlib import Path

from .._files import remove_if_left

__all__ = ["get_data_home"]

#: Environment variable consulted by :func:`get_data_home`.
DATA_HOME_ENV = "SKPOISON_DATA"

#: Seconds before an unanswered download is given up.
DOWNLOAD_TIMEOUT = 60

#: Seconds after which an untouched temporary download file is taken for one a killed
#: download left (a live download writes to it at least every DOWNLOAD_TIMEOUT seconds).
STALE_PART_AGE = 10 * DOWNLOAD_TIMEOUT


def get_data_home(data_home=None):
    """Return the folder where skpoison looks for (and stores) data sets.

    The folder is, in order of precedence: the ``data_home`` argument, the
    environment variable ``SKPOISON_DATA`` (when set and non-empty), or
    ``~/skpoison_data``. It is not created here; loaders create it only
    when they download something into it.

    Expected layout (any subset of it)::

        <data_home>/mnist/train-images-idx3-ubyte.gz        (and the 3 others)
        <data_home>/fashion-mnist/train-images-idx3-ubyte.gz  (and the 3 others)
        <data_home>/cifar-10-batches-py/data_batch_1 ... test_batch
        <data_home>/cifar-10-python.tar.gz
        <data_home>/cifar10.npz
        <data_home>/cifar10-airplane-frog/cifar10_airplane_frog_jpegq75.npz

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit folder. ``~`` is expanded.

    Returns
    -------
    data_home : pathlib.Path
        The resolved folder (it may not exist).

    Raises
    ------
    NotADirectoryError
        If it is a file.
    ValueError
        If ``data_home`` is an empty string (``Path("")`` is the working
        folder, which would silently take the downloads).

    Examples
    --------
    >>> from skpoison.datasets import get_data_home
    >>> str(get_data_home("/tmp/my_data"))
    '/tmp/my_data'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or "~/skpoison_data"
    try:
        home = Path(os.fspath(data_home)).expanduser()
    except TypeError:
        raise TypeError("data_home must be a folder (a str or path-like), or None; got "
                        f"{data_home!r}.") from None
    if not os.fspath(data_home):   # (an unset variable on a command line: --data-home "$D")
        raise ValueError("data_home is an empty path; name a folder, or give None (the "
                         f"environment variable {DATA_HOME_ENV}, else ~/skpoison_data).")
    if home.exists() and not home.is_dir():
        raise NotADirectoryError(
            f"The data home {home} is a file, not a folder: point data_home= (--data-home "
            f"on the command line) or {DATA_HOME_ENV} at the folder that holds the data "
            "sets.")
    return home


def md5_bytes(data):
    """Hex md5 digest of a bytes object."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path, chunk_size=1 << 20):
    """Hex md5 digest of a file's bytes, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ChecksumError(ValueError):
    """A digest is not the official one: ``expected``, ``actual``, and ``of`` what."""

    def __init__(self, message, expected, actual, of):
        super().__init__(message)
        self.expected, self.actual, self.of = expected, actual, of


def check_md5(actual, expected, path, *, of="the file"):
    """Raise :class:`ChecksumError` naming ``path`` when two md5 digests differ.

    ``of`` says what was digested ("the file", or "its uncompressed bytes").
    """
    if actual != expected:
        subject = path if of == "the file" else f"{path} ({of})"
        raise ChecksumError(
            f"Checksum mismatch for {subject}: expected md5 {expected}, got "
            f"{actual}. The file is corrupted or not the official one; "
            "delete it and download it again.", expected, actual, of)


def _urlretrieve(url, dest):
    """Copy the resource at ``url`` into the file ``dest`` (network access).

    Module-level so that tests can replace it.
    """
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
        with open(dest, "wb") as fh:
            shutil.copyfileobj(response, fh)


def download(url, dest, verify):
    """Download ``url`` to ``dest`` atomically.

    The bytes go to a temporary file beside ``dest``; ``verify(tmp_path)``
    must raise (``ValueError``) when the content is wrong. Only a verified
    file is renamed to ``dest``; the temporary file never survives, nor do
    the folders created for it when the download fails.
    """
    dest = Path(dest)
    created = []   # innermost first
    folder = dest.parent
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_parts(dest)
    done = False
    # the temporary name keeps dest's suffix (".gz" decides how it is read), and
    # says which process writes it (remove_dead_parts)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.{_writer()}.",
                               suffix=".part" + dest.suffix)
    os.close(fd)
    try:
        _urlretrieve(url, tmp)
        try:
            verify(Path(tmp))
        except ValueError as exc:
            # Not the check's own message: it names the temporary file (gone by now)
            # and advises deleting it (moot: nothing was kept).
            reason = (f"the md5 of {exc.of} is {exc.actual}, not the official "
                      f"{exc.expected}" if isinstance(exc, ChecksumError)
                      else str(exc).replace(str(tmp), "the downloaded file"))
            raise ValueError(
                f"The file downloaded from {url} for {dest} was refused, and nothing "
                f"was kept: {reason}. Try again later, or put the official file at "
                f"{dest} by hand.") from exc
        os.replace(tmp, dest)
        done = True
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        for folder in created if not done else ():
            try:
                folder.rmdir()
            except OSError:  # not empty (another writer): keep it and its parents
                break


def _writer():
    """``host-pid`` of this process, as the temporary download files name it."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}"


def remove_dead_parts(dest):
    """Delete the temporary files that killed downloads of ``dest`` left beside it.

    A download killed outright (SIGKILL, a power cut) cannot remove its
    temporary file. Such a file is never read as ``dest`` (only a verified
    download is renamed to ``dest``), but it would stay on disk: a later
    download of ``dest`` removes those whose writer, a process of this host,
    no longer runs, and any untouched for :data:`STALE_PART_AGE` seconds. The
    files of live downloads (another process's, in the same data home) stay.
    """
    dest = Path(dest)
    host = _writer().rsplit("-", 1)[0]
    # (mkstemp's random part has no "-" nor "."; files of older versions name no writer)
    pattern = re.compile(rf"\.{re.escape(dest.name)}\.(?:(.+)-(\d+)\.)?\w+"
                         rf"\.part{re.escape(dest.suffix)}")
    try:
        names = list(dest.parent.iterdir())
    except OSError:   # (a folder we may not list: its files are not ours to judge)
        return
    for part in names:
        match = pattern.fullmatch(part.name)
        if match is None:
            continue
        this_host = match[1] == host
        remove_if_left(part, this_host=this_host, pid=int(match[2]) if this_host else None,
                       max_age=STALE_PART_AGE)


def missing_files_error(names, folder, reason, cause=None, *, data_home=None):
    """Build the ``FileNotFoundError`` raised when data files are missing.

    ``folder`` is where the files were looked for: ``data_home`` itself or
    one of its subfolders (``mnist/``), which the advice then names.
    """
    listed = ", ".join(names)
    folder = Path(folder)
    home = folder if data_home is None else Path(data_home)
    where = "" if folder == home else f" in its {folder.relative_to(home)}/ subfolder"
    msg = (
        f"Missing data file(s) {listed}. {reason} Put the official file(s) in {folder}, "
        f"or point data_home= (--data-home on the command line) or the environment "
        f"variable {DATA_HOME_ENV} at a data home that holds them{where}."
    )
    if cause is not None:
        msg += f" Last download error: {cause!r}"
    return FileNotFoundError(msg)
