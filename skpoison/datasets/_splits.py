"""Disjoint, class-balanced train / validation / test draws (private)."""

import cmath

import numpy as np
from scipy.sparse import issparse
from sklearn.utils import Bunch, check_random_state

from .._constraints import check_count, is_missing_label

__all__ = ["make_poisoning_splits"]


def _per_class_counts(sizes, available, rng):
    """Balanced per-class counts for each split, shape (n_splits, n_classes).

    Each split gets ``n // K`` per class; its ``n % K`` extra samples go to
    the classes that have received the fewest so far over all splits, then
    to the classes with the most samples available, then at random. The
    totals stay balanced too, and the draw is feasible whenever any
    balanced draw is.
    """
    n_classes = len(available)
    counts = np.zeros((len(sizes), n_classes), dtype=np.int64)
    totals = np.zeros(n_classes, dtype=np.int64)
    for i, n in enumerate(sizes):
        counts[i] = n // n_classes
        extra = n % n_classes
        if extra:
            order = np.lexsort((rng.permutation(n_classes), -available, totals))
            counts[i, order[:extra]] += 1
        totals += counts[i]
    return counts


def _not_finite(value):
    """Whether one item of an object array is missing (None, NaN, NA) or infinite."""
    if is_missing_label(value):
        return True
    try:
        return not cmath.isfinite(value)
    except (TypeError, ValueError):   # (not a number: text, say; not ours to judge)
        return False


def _check_finite(X):
    """Refuse a pool ``X`` with NaN, infinite or missing values, naming the first row.

    The sets drawn from it feed estimators and attacks that need finite
    features; a NaN would surface much later, as a NaN loss (or not at all,
    when its row is not drawn). Numbers only: other items (text) pass.
    """
    if X.dtype.kind in "fc":
        with np.errstate(over="ignore", invalid="ignore"):   # (a sum past float's range)
            if np.isfinite(np.sum(X)):   # (no boolean copy of X in the usual case)
                return
        bad = ~np.isfinite(X)
    elif X.dtype == object:
        bad = np.frompyfunc(_not_finite, 1, 1)(X).astype(bool)
    else:
        return
    rows = bad.reshape(len(X), -1).any(axis=1) if X.ndim > 1 else bad
    if rows.any():
        raise ValueError(
            f"X holds {int(bad.sum())} NaN, infinite or missing value(s), in "
            f"{int(rows.sum())} row(s), the first at row {int(np.flatnonzero(rows)[0])}: "
            "drop or impute those rows first (the sets drawn from the pool feed estimators "
            "and attacks that need finite features).")


def make_poisoning_splits(X, y, *, n_train, n_val, n_test, random_state=None):
    """Draw disjoint, class-balanced train / validation / test sets from a pool.

    Each split holds (as nearly as possible) the same number of samples of
    every class present in ``y``, and so do the three splits together (their
    per-class totals differ by at most one); the splits never share a sample
    (a row of the pool: a pool that repeats a row can put equal samples in
    two splits; the paper's pools repeat none). Labels are kept as they are
    (no remapping). Within a split the rows are shuffled. The inputs are
    never modified; the outputs are copies.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        The pool (e.g. ``bunch.data`` of a loader).
    y : array-like of shape (n_samples,)
        Class labels of the pool.
    n_train, n_val, n_test : int
        Sizes of the training, trusted validation and test sets (>= 0).
    random_state : int, RandomState instance or None, default=None
        Seed for the draw (see :func:`sklearn.utils.check_random_state`).

    Returns
    -------
    splits : sklearn.utils.Bunch
        ``X_train, y_train, X_val, y_val, X_test, y_test`` and the pool
        indices ``idx_train, idx_val, idx_test``.

    Raises
    ------
    ValueError
        When the pool, or one of its classes, is too small for a balanced
        draw of the requested sizes (the message gives what is available),
        or when ``X`` holds NaN, infinite or missing values or ``y``
        missing labels.
    TypeError
        When ``X`` is a sparse matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from skpoison.datasets import make_poisoning_splits
    >>> X = np.arange(40, dtype=float).reshape(20, 2)
    >>> y = np.array([0, 8] * 10)
    >>> s = make_poisoning_splits(X, y, n_train=6, n_val=2, n_test=4, random_state=0)
    >>> s.X_train.shape, np.bincount(s.y_train).tolist()[::8]
    ((6, 2), [3, 3])
    """
    sizes = [check_count(n, name, 0) for n, name in
             ((n_train, "n_train"), (n_val, "n_val"), (n_test, "n_test"))]
    if issparse(X):
        raise TypeError("make_poisoning_splits takes dense X (the attacks move dense "
                        "features); got a sparse matrix: use X.toarray().")
    X = np.asarray(X)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}.")
    if X.ndim == 0 or len(X) != len(y):
        raise ValueError(f"X and y must have the same number of rows, got "
                         f"{X.shape} and {y.shape}.")
    if len(y) == 0:
        raise ValueError("The pool (X, y) is empty: there is nothing to split.")
    missing = (np.isnan(y) if y.dtype.kind == "f"
               else np.array([is_missing_label(label) for label in y], dtype=bool)
               if y.dtype == object else np.zeros(len(y), dtype=bool))
    if missing.any():   # (np.unique made them one class of their own)
        raise ValueError(f"y holds {int(missing.sum())} missing labels (NaN or None), the "
                         f"first at row {int(np.flatnonzero(missing)[0])}: drop those rows "
                         "first.")
    _check_finite(X)
    total = sum(sizes)
    if total > len(y):
        raise ValueError(
            f"n_train + n_val + n_test = {total} exceeds the {len(y)} samples "
            "available in the pool.")
    rng = check_random_state(random_state)
    classes, y_idx = np.unique(y, return_inverse=True)
    available = np.bincount(y_idx, minlength=len(classes))
    counts = _per_class_counts(sizes, available, rng)
    needed = counts.sum(axis=0)
    short = needed > available
    if short.any():
        avail = {c.item(): int(a) for c, a in zip(classes, available)}
        need = {c.item(): int(n) for c, n in zip(classes, needed)}
        most = len(classes) * int(available.min()) + int((available > available.min()).sum())
        raise ValueError(
            f"A class-balanced draw of n_train={sizes[0]}, n_val={sizes[1]}, "
            f"n_test={sizes[2]} over {len(classes)} classes needs {need} samples "
            f"per class, but only {avail} are available (at most {most} samples "
            "in all can be drawn with classes as equal as possible).")
    chunks = [[] for _ in sizes]
    for k in range(len(classes)):
        members = rng.permutation(np.flatnonzero(y_idx == k))
        bounds = np.concatenate([[0], np.cumsum(counts[:, k])])
        for i in range(len(sizes)):
            chunks[i].append(members[bounds[i]:bounds[i + 1]])
    out = Bunch()
    for name, parts in zip(("train", "val", "test"), chunks):
        idx = rng.permutation(np.concatenate(parts))
        out[f"X_{name}"], out[f"y_{name}"], out[f"idx_{name}"] = X[idx], y[idx], idx
    return out
