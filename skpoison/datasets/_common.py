"""Helpers shared by the loaders: class validation and selection (private)."""

import numbers

import numpy as np
from sklearn.utils import Bunch


def check_classes(classes, valid, dataset):
    """Validate a selection of class ids; ``None`` means all of ``valid``.

    Returns a tuple of Python ints (at least two, distinct, all in
    ``valid``); raises ``ValueError`` listing the valid ids otherwise.
    """
    valid = tuple(int(c) for c in valid)
    if classes is None:
        return valid
    bad = ValueError(f"classes must be a sequence of at least two class ids of "
                     f"{dataset} among {valid}, got {classes!r}.")
    if isinstance(classes, (numbers.Number, str, bytes)):
        raise bad
    try:
        items = list(classes)
    except TypeError:
        raise bad from None
    out = []
    for c in items:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            raise ValueError(f"Class ids must be integers, got {c!r}.")
        if int(c) not in valid:
            raise ValueError(
                f"Unknown class id {c!r} for {dataset}; valid class ids are {valid}."
            )
        out.append(int(c))
    if len(set(out)) != len(out):
        raise ValueError(f"classes must be distinct, got {tuple(out)}.")
    if len(out) < 2:
        raise ValueError(
            f"classes must hold at least two class ids of {dataset}, got {tuple(out)}."
        )
    return tuple(out)


def select_classes(parts, classes, dataset):
    """Keep the rows of the given classes and concatenate several parts.

    ``parts`` is a sequence of ``(X, y)`` pairs (e.g. the original train and
    test sets); the result is ``(X, y)`` with ``y`` as int64. A class with no
    sample at all raises ``ValueError``.
    """
    xs, ys = [], []
    for X, y in parts:
        mask = np.isin(y, classes)
        xs.append(X[mask])
        ys.append(np.asarray(y[mask], dtype=np.int64))
    y = np.concatenate(ys)
    present = set(np.unique(y).tolist())
    absent = [c for c in classes if c not in present]
    if absent:
        raise ValueError(
            f"Class(es) {absent} absent from the {dataset} data; classes present "
            f"in it are among {sorted(present) or 'none of the requested'}."
        )
    return np.concatenate(xs), y


def make_bunch(data, target, *, feature_range, name, classes, target_names,
               description, caveat=None):
    """Assemble the ``Bunch`` returned by every public loader.

    ``caveat`` (None for exact data) says how the data differ from the
    original set; experiments print it wherever the data feed a figure.
    """
    return Bunch(
        data=data,
        target=target,
        feature_range=tuple(float(b) if np.ndim(b) == 0 else np.asarray(b, dtype=np.float64)
                            for b in feature_range),
        name=name,
        classes=tuple(classes),
        target_names=[target_names[c] for c in classes],
        description=description,
        caveat=caveat,
    )
