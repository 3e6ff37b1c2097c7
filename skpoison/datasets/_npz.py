"""Your own data as a pool for the experiments: an ``.npz`` file with ``X`` and ``y``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._box import box_slack
from ._common import check_classes, make_bunch

__all__ = ["is_data_file", "data_label", "load_npz_pool", "npz_sizes", "npz_top_k"]


def is_data_file(name):
    """Whether the data-set ``name`` is a path to an ``.npz`` file (else a registered name)."""
    return isinstance(name, (str, os.PathLike)) and os.fspath(name).lower().endswith(".npz")


def data_label(name):
    """A short name for titles and file names: a data file's stem, else ``name``.

    Examples
    --------
    >>> data_label("/data/credit.npz"), data_label("mnist")
    ('credit', 'mnist')
    """
    return Path(name).stem if is_data_file(name) else str(name)


def load_npz_pool(path, classes=None):
    """Load your own data set, an ``.npz`` file, as the experiments' pool.

    The file holds ``X`` (n_samples, n_features: finite numbers, scaled as
    the model should see them), ``y`` (n_samples integer class labels, or
    strings: class ``i`` is then the ``i``-th name in sorted order, and
    ``target_names`` maps it back) and,
    optionally, ``feature_range`` (low, high): the box the poisoning points
    stay in. Write one with ``np.savez("mine.npz", X=X, y=y)``.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file (``~`` is expanded, as in a data home).
    classes : sequence of int or None, default=None
        Class labels to keep (at least two); None keeps every class.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        As :func:`load_dataset`'s: ``data`` (float64), ``target`` (int64),
        ``feature_range`` (the file's, else the data's smallest and largest
        value), ``name`` (the file's absolute path), ``classes``,
        ``target_names``, ``description``, ``caveat`` (None).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skpoison.datasets import load_dataset
    >>> rng = np.random.RandomState(0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "mine.npz")
    ...     np.savez(path, X=rng.rand(60, 3), y=np.repeat([3, 5], 30))
    ...     pool = load_dataset(path)
    >>> pool.data.shape, pool.classes
    ((60, 3), (3, 5))
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"No data file {str(path)!r}: give an existing .npz file "
                                "with arrays X and y (np.savez(path, X=X, y=y)).")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as exc:   # (not a zip archive, a torn file, pickled objects)
        raise ValueError(f"{path} is not an .npz archive of arrays X and y "
                         f"({type(exc).__name__}: {exc}).") from exc
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise ValueError(f"{path} holds arrays {sorted(arrays)}, not "
                         f"{' and '.join(missing)}: save it with np.savez(path, X=X, y=y).")
    X, y, names = _check_arrays(arrays["X"], arrays["y"], path)
    # (the box's slack is in the file's precision: float32 data 1 ulp above 1)
    precision = arrays["X"].dtype if arrays["X"].dtype.kind == "f" else np.float64
    labels = np.unique(y).tolist()
    if len(labels) < 2:
        raise ValueError(f"{path}: y holds one class ({labels}); a classifier needs at "
                         "least two.")
    classes = check_classes(classes, labels, path.name)
    keep = np.isin(y, classes)
    X, y = X[keep], y[keep]
    box, X = _feature_range(arrays.get("feature_range"), X, path, precision)
    where = (f"[{box[0]:g}, {box[1]:g}]" if np.ndim(box[0]) == 0
             else "the file's box, one range per feature")
    target_names = {c: str(c) if names is None else str(names[c]) for c in classes}
    shown = (list(classes) if names is None
             else ", ".join(f"{c} ({target_names[c]})" for c in classes))
    description = (f"{path.name}: {len(y)} samples of {X.shape[1]} features, classes "
                   f"{shown}, read from {path}; poisoning points stay in {where}.")
    return make_bunch(X, y, feature_range=box, name=str(path), classes=classes,
                      target_names=target_names, description=description)


def _check_arrays(X, y, path):
    if X.dtype.kind not in "biuf" or X.ndim != 2 or 0 in X.shape:
        raise ValueError(f"{path}: X must be a non-empty 2-D array of numbers; got "
                         f"{X.dtype} of shape {X.shape}.")
    X = X.astype(np.float64)
    if not np.isfinite(X).all():
        raise ValueError(f"{path}: X holds NaN or infinite values.")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.dtype.kind in "US" and y.shape == (len(X),):
        try:   # numbers written as text ("10", "2") are the numbers
            numbers = y.astype(np.int64)
        except (ValueError, OverflowError):
            numbers = None
        # ... unless two texts are one number ("1", "01", " 1"): then they are names
        if numbers is not None and len(np.unique(numbers)) == len(np.unique(y)):
            return X, numbers, None
        # names: codes in sorted order
        names, codes = np.unique(y, return_inverse=True)
        names = [n.decode() if isinstance(n, bytes) else n for n in names.tolist()]
        return X, codes.astype(np.int64), names
    whole = y.dtype.kind in "biu" or (y.dtype.kind == "f" and np.isfinite(y).all()
                                      and np.array_equal(y, np.round(y)))
    if not whole or y.shape != (len(X),):
        raise ValueError(f"{path}: y must hold one integer class label (or class name) per "
                         f"row of X ({len(X)}); got {y.dtype} of shape {y.shape}.")
    # (float and unsigned labels beyond int64's range would wrap, merging classes;
    # unsigned ones compared as integers: 2**63 - 1 is in range)
    if len(y) and y.dtype.kind in "uf" and not (
            y.max() <= np.iinfo(np.int64).max if y.dtype.kind == "u"
            else -2.0 ** 63 <= y.min() and y.max() < 2.0 ** 63):
        raise ValueError(f"{path}: y's labels must lie within int64's range; got labels "
                         f"from {y.min()} to {y.max()}.")
    return X, y.astype(np.int64), None


def _feature_range(box, X, path, precision=np.float64):
    """``(low, high)``: the file's box, floats or one value per feature (checked to
    hold the data, within rounding errors of ``precision``, the file's float dtype,
    and clipped into it), else the data's own range."""
    if box is None:
        low, high = float(X.min()), float(X.max())
        if low == high:
            raise ValueError(f"{path}: every value of X is {low:g}: no feature to learn.")
        return (low, high), X
    box = np.asarray(box, dtype=np.float64)
    if box.shape not in ((2,), (2, X.shape[1])) or not np.isfinite(box).all():
        raise ValueError(f"{path}: feature_range must be (low, high): two finite floats, "
                         f"or an array of shape (2, {X.shape[1]}), row 0 the lows and row 1 "
                         "the highs of the features (transpose an (n_features, 2) array); "
                         + (f"got NaN or infinite values ({np.sum(~np.isfinite(box))} of "
                            f"{box.size})." if box.shape in ((2,), (2, X.shape[1]))
                            else f"got shape {box.shape}."))
    low, high = (np.broadcast_to(b, X.shape[1:]) for b in box)
    if (low > high).any() or (low == high).all():
        raise ValueError(f"{path}: feature_range must have low <= high for every feature "
                         "and low < high for one at least; it does not for features "
                         f"{np.flatnonzero(low >= high).tolist()[:10]}.")
    # (as the attack reads a box: a few rounding errors outside pass; clipped in here)
    outside = ((X < low - box_slack(low, precision))
               | (X > high + box_slack(high, precision))).any(axis=0)
    if outside.any():
        raise ValueError(f"{path}: X lies outside its feature_range in features "
                         f"{np.flatnonzero(outside).tolist()[:10]}.")
    bounds = tuple(float(b) for b in box) if box.ndim == 1 else (box[0], box[1])
    return bounds, np.clip(X, low, high)


#: Samples per class below which a file cannot feed a sweep: every split is
#: class-balanced, and the trusted set needs two per class.
_LEAST_PER_CLASS = 10


def npz_sizes(pool):
    """Split sizes for a pool of your own: shares of its class-balanced part.

    With ``K`` classes whose smallest has ``m`` samples, ``K m`` samples can
    be drawn class-balanced: half of them train, a tenth (at least two per
    class) is the trusted set, three tenths the test set (the proportions of
    the bundled digits' 200 / 40 / 100). A smallest class under 10 samples
    is refused.

    Examples
    --------
    >>> from sklearn.utils import Bunch
    >>> npz_sizes(Bunch(target=np.repeat([0, 1], [300, 500]), name="a.npz"))
    {'n_train': 300, 'n_val': 60, 'n_test': 180}
    """
    labels, counts = np.unique(pool.target, return_counts=True)
    smallest = int(counts.min())
    if smallest < _LEAST_PER_CLASS:
        raise ValueError(
            f"{pool.name}: class {labels[np.argmin(counts)]} has {smallest} samples; the "
            f"sweeps draw class-balanced sets and need {_LEAST_PER_CLASS} per class at "
            "least (drop it with --classes, or give more data).")
    balanced = len(counts) * smallest
    return dict(n_train=balanced // 2, n_val=max(2 * len(counts), balanced // 10),
                n_test=3 * balanced // 10)


def npz_top_k(pool):
    """Kuncheva's k for a pool of your own: a tenth, a fifth and half of its
    features (each below their number).

    Examples
    --------
    >>> from sklearn.utils import Bunch
    >>> npz_top_k(Bunch(data=np.zeros((5, 30)))), npz_top_k(Bunch(data=np.zeros((5, 3))))
    ((3, 6, 15), (1, 2))
    """
    n_features = pool.data.shape[1]
    return tuple(sorted({k for k in (max(1, round(f * n_features)) for f in (0.1, 0.2, 0.5))
                         if k < n_features}))
