"""MNIST and Fashion-MNIST from the official IDX files (private)."""

from http.client import HTTPException
from pathlib import Path

import numpy as np

from ._common import check_classes, make_bunch, select_classes
from ._home import download, get_data_home, missing_files_error
from ._idx import read_idx

__all__ = ["fetch_mnist", "fetch_fashion_mnist"]

_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: Published md5 of the UNCOMPRESSED files (tests may monkeypatch these).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

_MNIST_NAMES = [str(i) for i in range(10)]
_FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _locate(folder, md5s, url, download_if_missing):
    """Return ``{base name: path}``, downloading missing files if allowed."""
    found, missing = {}, []
    for base in _FILES:
        for candidate in (folder / f"{base}.gz", folder / base):
            if candidate.is_file():
                found[base] = candidate
                break
        else:
            missing.append(base)
    if not missing:
        return found
    names = [f"{base}.gz" for base in missing]
    if folder.exists() and not folder.is_dir():   # (else "download failed: File exists")
        raise NotADirectoryError(
            f"{folder} is a file, not a folder: the data files go in a folder of that "
            "name. Move the file away, or choose another data home (data_home, "
            "SKPOISON_DATA).")
    if not download_if_missing:
        raise missing_files_error(names, folder, "download=False, so nothing was downloaded.",
                                  data_home=folder.parent)
    for base in missing:
        dest = folder / f"{base}.gz"
        try:
            download(url + dest.name, dest, lambda p, b=base: read_idx(p, md5s[b]))
        except (OSError, HTTPException) as exc:  # URLError, timeouts, ...
            still_missing = [f"{name}.gz" for name in missing[missing.index(base):]]
            raise missing_files_error(
                still_missing, folder, f"Downloading them from {url} failed.", cause=exc,
                data_home=folder.parent,
            ) from exc
        found[base] = dest
    return found


def _fetch_idx(classes, data_home, download_if_missing, *, dataset, subdir,
               md5s, url, names, description):
    classes = check_classes(classes, range(10), dataset)
    folder = get_data_home(data_home) / subdir
    paths = _locate(folder, md5s, url, download_if_missing)
    arrays = {base: read_idx(path, md5s[base]) for base, path in paths.items()}
    parts = []
    for split in ("train", "t10k"):
        images = arrays[f"{split}-images-idx3-ubyte"]
        labels = arrays[f"{split}-labels-idx1-ubyte"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{folder}: inconsistent {split} files: images of shape "
                f"{images.shape}, labels of shape {labels.shape}."
            )
        parts.append((images.reshape(len(images), -1), labels))
    X, y = select_classes(parts, classes, dataset)
    data = X.astype(np.float64) / 255.0
    pair = " vs ".join(names[c] for c in classes)
    desc = (f"{description}, classes {pair}: joint pool of the original train "
            f"and test sets ({len(y)} samples, {data.shape[1]} features), "
            f"pixels scaled to [0, 1]. Read from {Path(folder)}.")
    return make_bunch(data, y, feature_range=(0.0, 1.0), name=dataset,
                      classes=classes, target_names=names, description=desc)


def fetch_mnist(classes=(0, 8), *, data_home=None, download=True):
    """Load the joint train+test pool of a selection of MNIST digits.

    Reads the four official IDX files from ``<data_home>/mnist/`` (``.gz``
    or uncompressed), checking their headers strictly and the md5 of their
    uncompressed bytes against the published digests.

    Parameters
    ----------
    classes : sequence of int or None, default=(0, 8)
        Digits to keep (at least two); ``None`` keeps all ten.
    data_home : str or path-like, default=None
        See :func:`get_data_home`.
    download : bool, default=True
        Download missing files from the official mirror
        (https://ossci-datasets.s3.amazonaws.com/mnist/).

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data`` float64 (n, 784) in [0, 1]; ``target`` int64 original
        digits; ``feature_range`` (0.0, 1.0); ``name`` "mnist";
        ``classes``; ``target_names``; ``description``; ``caveat`` None
        (exact data).

    Raises
    ------
    FileNotFoundError
        Files missing and not downloadable; the message names them and the
        folder to put them in.
    NotADirectoryError
        ``data_home`` is a file.
    ValueError
        Corrupted/truncated file, checksum mismatch, unknown or absent class.

    Examples
    --------
    Reads (or downloads once) the four IDX files; not run as a test, since
    it needs them:

    >>> from skpoison.datasets import fetch_mnist
    >>> mnist = fetch_mnist(classes=(0, 8), data_home="data")   # doctest: +SKIP
    >>> mnist.data.shape, sorted(set(mnist.target))             # doctest: +SKIP
    ((13728, 784), [0, 8])

    Offline (``download=False``), a data home without the files gets an
    error that names them and the folder to put them in:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as home:
    ...     fetch_mnist(data_home=home, download=False)  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    FileNotFoundError: Missing data file(s) train-images-idx3-ubyte.gz, ... download=False, so
    nothing was downloaded. Put the official file(s) in .../mnist, or point data_home= ...
    """
    return _fetch_idx(classes, data_home, download, dataset="mnist",
                      subdir="mnist", md5s=MNIST_MD5, url=MNIST_URL,
                      names=_MNIST_NAMES, description="MNIST")


def fetch_fashion_mnist(classes=(1, 2), *, data_home=None, download=True):
    """Load the joint train+test pool of a selection of Fashion-MNIST classes.

    Same as :func:`fetch_mnist`, reading ``<data_home>/fashion-mnist/`` and
    downloading from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/.
    Class ids: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat,
    5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.

    Parameters
    ----------
    classes : sequence of int or None, default=(1, 2)
        Classes to keep (trouser vs pullover by default); ``None`` keeps all.
    data_home : str or path-like, default=None
        See :func:`get_data_home`.
    download : bool, default=True
        Download missing files from the official mirror.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        As :func:`fetch_mnist`, with ``name`` "fashion-mnist".

    Examples
    --------
    Not run as a test (it needs the files):

    >>> from skpoison.datasets import fetch_fashion_mnist
    >>> fashion = fetch_fashion_mnist(data_home="data")    # doctest: +SKIP
    >>> fashion.data.shape, fashion.target_names            # doctest: +SKIP
    ((14000, 784), ['Trouser', 'Pullover'])

    The files go in the data home's ``fashion-mnist/`` folder; offline
    (``download=False``), a data home without them says so:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as home:
    ...     fetch_fashion_mnist(data_home=home, download=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: Missing data file(s) ... in its fashion-mnist/ subfolder.
    """
    return _fetch_idx(classes, data_home, download, dataset="fashion-mnist",
                      subdir="fashion-mnist", md5s=FASHION_MNIST_MD5,
                      url=FASHION_MNIST_URL, names=_FASHION_NAMES,
                      description="Fashion-MNIST")
