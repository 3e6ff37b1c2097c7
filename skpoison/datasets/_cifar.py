"""CIFAR-10 from the official python pickles, their tarball, or an .npz (private)."""

import io
import pickle
import tarfile
import zlib
from contextlib import contextmanager
from contextvars import ContextVar
from http.client import HTTPException

import numpy as np

from .._warn import warn_user
from ._common import check_classes, make_bunch, select_classes
from ._home import (check_md5, download, get_data_home, md5_bytes, md5_file,
                    missing_files_error)

__all__ = ["fetch_cifar10"]

_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
            "data_batch_5", "test_batch")
#: Official md5 of each batch file, checked BEFORE unpickling (tests may
#: monkeypatch these to read tiny batches they wrote).
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR10_TAR_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_DIR, _TAR, _NPZ = "cifar-10-batches-py", "cifar-10-python.tar.gz", "cifar10.npz"
_LOSSY_NPZ = ("cifar10-airplane-frog", "cifar10_airplane_frog_jpegq75.npz")
#: What figures computed from the JPEG copy say about their data.
JPEG_CAVEAT = "JPEG-recompressed CIFAR-10 copy (quality 75)"
_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
          "horse", "ship", "truck"]
# The only globals a CIFAR-10 batch pickle needs (defence in depth).
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
            ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"), ("_codecs", "encode")}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module.replace("numpy._core", "numpy.core"), name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        if module.startswith("numpy.core") and np.lib.NumpyVersion(np.__version__) >= "2.0.0":
            module = module.replace("numpy.core", "numpy._core")
        return super().find_class(module, name)


def _read_batch(raw, batch, name, classes):
    """Checksum, then unpickle one python batch; rows in (row, col, channel) order."""
    check_md5(md5_bytes(raw), CIFAR10_MD5[batch], name)
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as exc:
        raise ValueError(f"{name} is not a CIFAR-10 python batch: {exc!r}") from exc
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (len(data),):
        raise ValueError(f"{name}: bad shapes data {data.shape}, labels {labels.shape}.")
    mask = np.isin(labels, classes)
    images = data[mask].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images.reshape(len(images), 3072), labels[mask]


def _from_dir(folder, classes):
    parts = [_read_batch((folder / b).read_bytes(), b, folder / b, classes)
             for b in _BATCHES]
    return [(np.concatenate([x for x, _ in parts[:5]]),
             np.concatenate([y for _, y in parts[:5]])), parts[5]]


def _from_tar(path, classes):
    check_md5(md5_file(path), CIFAR10_TAR_MD5, path)
    try:
        with tarfile.open(path, "r:gz") as tar:
            raws = {b: tar.extractfile(f"{_DIR}/{b}").read() for b in _BATCHES}
    except (tarfile.TarError, KeyError, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path} is not a valid CIFAR-10 tarball: {exc!r}") from exc
    parts = [_read_batch(raws[b], b, f"{path}:{_DIR}/{b}", classes) for b in _BATCHES]
    return [(np.concatenate([x for x, _ in parts[:5]]),
             np.concatenate([y for _, y in parts[:5]])), parts[5]]


def _from_npz(path):
    """Return ``([(x_train, y_train), (x_test, y_test)], jpeg)`` with flattened images;
    ``jpeg``: the archive names its images as JPEG files (``names_train``,
    ``names_test``), as the re-encoded copy does wherever it is put."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"PK":   # np.load would read it as a pickle or a bare array
            raise ValueError(f"{path}: not an .npz archive (a zip file): the file is "
                             "corrupted or in another format; replace it.")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            names = [f[k] for k in ("names_train", "names_test") if k in f.files]
    except Exception as exc:
        raise ValueError(
            f"{path}: not a CIFAR-10 .npz with keys x_train, y_train, x_test, "
            f"y_test: {exc!r}") from exc
    parts = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.shape[1:] != (32, 32, 3) or y.shape != (len(x),) \
                or y.dtype.kind not in "iu":
            raise ValueError(
                f"{path}: x_{split} must be uint8 of shape (n, 32, 32, 3) with y_{split} "
                f"integer labels of shape (n,), got {x.dtype} {x.shape} and {y.dtype} "
                f"{y.shape}.")
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise ValueError(f"{path}: y_{split} must hold CIFAR-10 class ids 0-9 (0 airplane "
                             f"... 6 frog ... 9 truck); got labels {y.min()} to {y.max()}.")
        parts.append((x.reshape(len(x), 3072), y.astype(np.int64)))
    return parts, any(_jpeg_names(n) for n in names)


def _jpeg_names(names):
    """Whether any of ``names`` (an array of file names) is a JPEG file's."""
    lower = np.char.lower(np.asarray(names, dtype=str))
    return bool((np.char.endswith(lower, ".jpg") | np.char.endswith(lower, ".jpeg")).any())


#: Whether reading the lossy copy warns (per thread and context; see quiet_caveats).
_ANNOUNCE_CAVEATS = ContextVar("skpoison_announce_data_caveats", default=True)


@contextmanager
def quiet_caveats():
    """Read the JPEG copy without its warning, in this block (and thread).

    For a sweep's workers: the sweep itself has loaded the pool and warned
    once, and its rows carry the caveat; every worker process loading the
    pool again would repeat the warning.
    """
    token = _ANNOUNCE_CAVEATS.set(False)
    try:
        yield
    finally:
        _ANNOUNCE_CAVEATS.reset(token)


def _load_parts(home, classes, download_if_missing):
    folder, tar = home / _DIR, home / _TAR
    missing = [b for b in _BATCHES if not (folder / b).is_file()]
    if not missing:
        return _from_dir(folder, classes), f"the official batches in {folder}", None
    if folder.is_dir():    # (a copy cut short: said, not skipped in silence)
        warn_user(f"{folder} lacks {', '.join(missing)}, so it is not read; the other "
                  "CIFAR-10 sources are tried.")
    if tar.is_file():
        return _from_tar(tar, classes), f"the official tarball {tar}", None
    skipped = []   # .npz copies without every requested class
    for path, lossy in ((home / _NPZ, False), (home.joinpath(*_LOSSY_NPZ), True)):
        if path.is_file():
            parts, jpeg = _from_npz(path)
            lossy = lossy or jpeg   # (the JPEG copy, copied to cifar10.npz, say)
            present = set(np.concatenate([y for _, y in parts]).tolist())
            if not set(classes) <= present:
                absent = ", ".join(str(c) for c in sorted(set(classes) - present))
                skipped.append(f"{path} holds classes {sorted(present)} only (not {absent})")
                continue
            if lossy and _ANNOUNCE_CAVEATS.get():
                warn_user(f"Reading CIFAR-10 from {path}: a copy re-encoded as JPEG "
                          "(quality 75), whose pixels differ slightly from CIFAR-10. "
                          f"Put the official {_TAR} in {home} for exact data.")
            return (parts, f"{path}" + (" (JPEG quality 75, lossy)" if lossy else ""),
                    JPEG_CAVEAT if lossy else None)
    lacking = (f" The .npz copies found lack some of classes {sorted(classes)}: "
               + "; ".join(skipped) + "." if skipped else "")
    lacking += (f" (Also read, when present in the data home: the official batches "
                f"folder {_DIR}/, or a {_NPZ} copy.)")
    if not download_if_missing:
        raise missing_files_error([_TAR], home, "download=False, so nothing was "
                                  f"downloaded.{lacking}")
    try:
        download(CIFAR10_URL, tar, lambda p: check_md5(md5_file(p), CIFAR10_TAR_MD5, p))
    except (OSError, HTTPException) as exc:
        raise missing_files_error(
            [_TAR], home, f"Downloading it from {CIFAR10_URL} failed.{lacking}",
            cause=exc) from exc
    return _from_tar(tar, classes), f"the official tarball {tar}", None


def fetch_cifar10(classes=(0, 6), *, data_home=None, download=True):
    """Load the joint train+test pool of a selection of CIFAR-10 classes.

    Sources, first found wins: ``<data_home>/cifar-10-batches-py/`` (all six
    batches), ``<data_home>/cifar-10-python.tar.gz``, ``<data_home>/cifar10.npz``
    (keys ``x_train, y_train, x_test, y_test``; uint8 images (n, 32, 32, 3),
    the CIFAR-10 class ids 0-9 as labels),
    ``<data_home>/cifar10-airplane-frog/cifar10_airplane_frog_jpegq75.npz``
    (a JPEG-recompressed copy of classes 0 and 6; a ``UserWarning`` says
    so, and ``caveat`` too, as for any ``.npz`` whose ``names_train`` or
    ``names_test`` name JPEG files), then a download of the official tarball. An ``.npz`` lacking a
    requested class is skipped. Each pickle's md5 is checked against the
    official one BEFORE it is unpickled (and then with a restricted unpickler).

    Parameters
    ----------
    classes : sequence of int or None, default=(0, 6)
        Classes to keep (airplane vs frog by default); ``None`` keeps all.
    data_home : str or path-like, default=None
        See :func:`get_data_home`.
    download : bool, default=True
        Download the official tarball when no local source serves.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data`` float64 (n, 3072) in [-1, 1], each row an image flattened in
        (row, column, channel) order, so ``data.reshape(-1, 32, 32, 3)``
        gives the images; ``target`` int64 original class ids;
        ``feature_range`` (-1.0, 1.0); ``name`` "cifar10"; ``classes``;
        ``target_names``; ``description`` (names the source used);
        ``caveat``: None, or :data:`JPEG_CAVEAT` for the JPEG copy.

    Raises
    ------
    FileNotFoundError
        No source serves the classes and none can be downloaded.
    NotADirectoryError
        ``data_home`` is a file.
    ValueError
        A corrupted file, a checksum mismatch, an unknown class.

    Examples
    --------
    Not run as a test (it needs the files). With only the team's
    JPEG-recompressed airplane/frog copy at hand, the bunch says so:

    >>> from skpoison.datasets import fetch_cifar10
    >>> cifar = fetch_cifar10(classes=(0, 6), data_home="data")  # doctest: +SKIP
    >>> cifar.data.shape, cifar.caveat                            # doctest: +SKIP
    ((12000, 3072), 'JPEG-recompressed CIFAR-10 copy (quality 75)')

    A ``cifar10.npz`` of your own is read as it is (here six random images
    of classes 0 and 6); each row of ``data`` is an image scaled to [-1, 1]:

    >>> import os, tempfile
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> x_train = rng.randint(0, 256, size=(4, 32, 32, 3)).astype(np.uint8)
    >>> x_test = rng.randint(0, 256, size=(2, 32, 32, 3)).astype(np.uint8)
    >>> with tempfile.TemporaryDirectory() as home:
    ...     np.savez(os.path.join(home, "cifar10.npz"), x_train=x_train,
    ...              y_train=[0, 6, 0, 6], x_test=x_test, y_test=[6, 0])
    ...     cifar = fetch_cifar10(data_home=home, download=False)
    >>> cifar.data.shape, cifar.target.tolist(), cifar.target_names
    ((6, 3072), [0, 6, 0, 6, 6, 0], ['airplane', 'frog'])
    >>> pixels = np.rint((cifar.data + 1) * 127.5).reshape(-1, 32, 32, 3)
    >>> np.array_equal(pixels, np.concatenate([x_train, x_test])), cifar.caveat
    (True, None)
    """
    classes = check_classes(classes, range(10), "cifar10")
    home = get_data_home(data_home)
    parts, source, caveat = _load_parts(home, classes, download)
    X, y = select_classes(parts, classes, "cifar10")
    data = X.astype(np.float64) / 127.5 - 1.0
    pair = " vs ".join(_NAMES[c] for c in classes)
    desc = (f"CIFAR-10, classes {pair}: joint pool of the original train and "
            f"test sets ({len(y)} samples, 3072 features), pixels scaled to "
            f"[-1, 1]. Read from {source}.")
    return make_bunch(data, y, feature_range=(-1.0, 1.0), name="cifar10",
                      classes=classes, target_names=_NAMES, description=desc,
                      caveat=caveat)
