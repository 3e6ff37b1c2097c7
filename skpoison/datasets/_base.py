"""Dispatch by data-set name and the experiments' default sizes (private)."""

from pathlib import Path

import numpy as np

from ._cifar import fetch_cifar10
from ._common import check_classes, make_bunch
from ._digits import load_digits_pair
from ._mnist import fetch_fashion_mnist, fetch_mnist
from ._npz import is_data_file, load_npz_pool, npz_sizes
from ._synthetic import make_synthetic_2d

__all__ = ["load_dataset", "default_sizes", "DATASET_NAMES"]

#: Canonical names accepted by :func:`load_dataset` and :func:`default_sizes`.
DATASET_NAMES = ("digits", "mnist", "fashion-mnist", "cifar10", "synthetic")
_ALIASES = {"fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
            "cifar-10": "cifar10", "synthetic-2d": "synthetic"}

#: The paper's binary pairs (digits: the project's offline stand-in).
DEFAULT_CLASSES = {"digits": (0, 8), "mnist": (0, 8), "fashion-mnist": (1, 2),
                   "cifar10": (0, 6), "synthetic": (0, 1)}

# DESIGN.md section 6 (project's choice; the paper's table values are lost).
# digits: 0 and 8 have 178 and 174 samples, so 200/40/100 (170 per class)
# fits with the same 5:1 train:validation spirit. synthetic: a 2000-point
# pool; small train and trusted sets as in the paper's Fig. 1.
_DEFAULT_SIZES = {
    "digits": dict(n_train=200, n_val=40, n_test=100),
    "mnist": dict(n_train=1000, n_val=100, n_test=1000),
    "fashion-mnist": dict(n_train=1000, n_val=100, n_test=1000),
    "cifar10": dict(n_train=1000, n_val=200, n_test=1000),
    "synthetic": dict(n_train=64, n_val=64, n_test=1000),
}
_SYNTHETIC_POOL, _SYNTHETIC_RANGE = 2000, (-5.0, 5.0)


def canonical_name(name):
    """The registered name of data set ``name`` (any case, ``_`` for ``-``, aliases);
    a data file's absolute path.

    Raises ``ValueError`` for an unknown name.
    """
    if is_data_file(name):
        return str(Path(name).expanduser().resolve())
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASET_NAMES:
        raise ValueError(f"Unknown data set {name!r}; valid names are {DATASET_NAMES}, or "
                         "the path of an .npz file of your own (arrays X and y).")
    return key


def default_sizes(name, classes=None):
    """Default split sizes of the experiments for a data set.

    Parameters
    ----------
    name : str
        One of ``"digits"``, ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``,
        ``"synthetic"``, or the path of an ``.npz`` file of your own (sizes
        from its class-balanced part: see ``load_dataset``).
    classes : sequence of int or None, default=None
        For a file of your own: the classes kept (None: all).

    Returns
    -------
    sizes : dict
        ``{"n_train": ..., "n_val": ..., "n_test": ...}`` (a fresh copy):
        MNIST / Fashion-MNIST 1000/100/1000, CIFAR-10 1000/200/1000
        (DESIGN.md section 6); digits 200/40/100 (fits the 352 samples of
        digits 0 and 8); synthetic 64/64/1000.

    Examples
    --------
    >>> from skpoison.datasets import default_sizes
    >>> default_sizes("mnist")
    {'n_train': 1000, 'n_val': 100, 'n_test': 1000}
    """
    if is_data_file(name):
        return npz_sizes(load_npz_pool(name, classes))
    return dict(_DEFAULT_SIZES[canonical_name(name)])


def _load_synthetic(classes):
    classes = check_classes(classes, (0, 1), "synthetic")
    X, y = make_synthetic_2d(_SYNTHETIC_POOL, random_state=0)
    X = np.clip(X, *_SYNTHETIC_RANGE)
    desc = (f"2-D two-Gaussian synthetic pool ({_SYNTHETIC_POOL} points, "
            "classes centred at (-1, -1) and (1, 1), identity covariance, "
            "random_state=0), clipped to the box [-5, 5]^2.")
    return make_bunch(X, y, feature_range=_SYNTHETIC_RANGE, name="synthetic",
                      classes=classes, target_names=["0", "1"], description=desc)


def load_dataset(name, classes=None, data_home=None, download=True):
    """Load the joint pool of a data set by name, with the paper's default pair.

    Parameters
    ----------
    name : str or path-like
        ``"digits"`` (0 vs 8), ``"mnist"`` (0 vs 8), ``"fashion-mnist"``
        (1 trouser vs 2 pullover), ``"cifar10"`` (0 airplane vs 6 frog) or
        ``"synthetic"`` (a fixed 2000-point pool of :func:`make_synthetic_2d`
        with ``random_state=0``, clipped to [-5, 5]^2). Case and ``_``/``-``
        are ignored; ``"fmnist"`` and ``"fashionmnist"`` are accepted. Or the
        path of an ``.npz`` file of your own, with arrays ``X`` (scaled as the
        model should see it), ``y`` (integer labels) and optionally
        ``feature_range``, the box the poisoning points stay in: ``(low,
        high)``, or shape ``(2, n_features)`` for one range per feature
        (default: the data's smallest and largest value); every class is
        kept by default.
    classes : sequence of int, default=None
        Class ids to keep; ``None`` means the default pair above.
    data_home : str or path-like, default=None
        See :func:`get_data_home` (ignored by digits, synthetic and a file).
    download : bool, default=True
        Passed to the fetchers of file-based data sets.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        As the specific loaders: ``data``, ``target``, ``feature_range``,
        ``name``, ``classes``, ``target_names``, ``description``, ``caveat``
        (None, except for the JPEG-recompressed CIFAR-10 copy).

    Examples
    --------
    >>> from skpoison.datasets import load_dataset
    >>> bunch = load_dataset("digits")
    >>> bunch.name, bunch.classes, bunch.data.shape
    ('digits', (0, 8), (352, 64))
    """
    if is_data_file(name):
        return load_npz_pool(name, classes)
    key = canonical_name(name)
    if classes is None:
        classes = DEFAULT_CLASSES[key]
    if key == "digits":
        return load_digits_pair(classes)
    if key == "synthetic":
        return _load_synthetic(classes)
    fetch = {"mnist": fetch_mnist, "fashion-mnist": fetch_fashion_mnist,
             "cifar10": fetch_cifar10}[key]
    return fetch(classes, data_home=data_home, download=download)
