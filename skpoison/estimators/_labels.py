"""Class labels: the training set's classes, other sets' labels encoded against
them, and the engine's targets."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.exceptions import DataConversionWarning

from .._constraints import is_missing_label
from .._warn import warn_user


def encode_classes(y, who, *, labels="the data"):
    """``(classes, y_encoded)`` of training labels; fewer than 2 classes are refused.

    ``who`` (the estimator or function) and ``labels`` (where the labels came
    from) name both in the error.

    Examples
    --------
    >>> encode_classes(np.array(["b", "a", "b"]), "fit")
    (array(['a', 'b'], dtype='<U1'), array([1, 0, 1]))
    >>> encode_classes(np.zeros(3), "fit")
    Traceback (most recent call last):
    ...
    ValueError: fit needs samples of at least 2 classes in the data; got 1 class (0.0).
    """
    classes, y_encoded = np.unique(y, return_inverse=True)
    if classes.size < 2:
        # (the callers have refused empty label sets: one class here)
        raise ValueError(f"{who} needs samples of at least 2 classes in {labels}; got 1 "
                         f"class ({classes.tolist()[0]!r}).")
    return classes, y_encoded


def refuse_missing_labels(labels, name):
    """Raise a ValueError that names ``name`` where ``labels`` hold missing ones
    (None, NaN or pandas' NA, in an array of objects: strings, pandas' string or
    categorical labels).

    scikit-learn's checks fail on them with a TypeError (``'<' not supported
    between instances of 'NoneType' and 'str'``, ``boolean value of NA is
    ambiguous``) or an "Unknown label type"; numeric labels' NaN, which it
    names, and labels NumPy cannot read are left to it.

    Examples
    --------
    >>> refuse_missing_labels(["a", None], "y")
    Traceback (most recent call last):
    ...
    ValueError: y has missing labels (NaN, None or NA): every point needs its class.
    """
    if labels is None:   # (scikit-learn's "requires y to be passed")
        return
    try:
        array = np.asarray(labels)
    except (TypeError, ValueError):   # (ragged: scikit-learn's check says so)
        return
    if array.dtype.kind != "O" or array.ndim == 0:   # (a scalar: not labels at all)
        return
    try:
        distinct = dict.fromkeys(array.ravel().tolist())
    except TypeError:   # (unhashable items, lists say: scikit-learn's check names them)
        return
    if any(is_missing_label(label) for label in distinct):
        raise ValueError(f"{name} has missing labels (NaN, None or NA): every point "
                         "needs its class.")


def raveled_column(labels, name):
    """``labels`` raveled if a column, as scikit-learn accepts for y, with its
    ``DataConversionWarning``; labels of any other shape as they are.

    Warned here, at the user's line and naming the argument (``name``):
    ``column_or_1d``'s own warning says "y" and points into skpoison, and
    without ``warn=True`` says nothing.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DataConversionWarning)
    ...     raveled_column(np.array([[1], [0]]), "y_val")
    array([1, 0])
    """
    if np.ndim(labels) == 2 and np.shape(labels)[1] == 1:
        warn_user(f"A column-vector {name} was passed when a 1d array was expected. "
                  f"Please change the shape of {name} to (n_samples,), for example "
                  "using ravel().", DataConversionWarning)
        return np.asarray(labels).ravel()
    return labels


def encode_labels(labels, classes, *, name, n_rows=None, train_name="y"):
    """Indices of ``labels`` in the sorted ``classes``; unseen labels are an error.

    Shared by the estimators, :func:`~skpoison.hypergradient` and the poisoners.
    Errors name the argument, ``name``, and the training labels' one, ``train_name``.

    Examples
    --------
    >>> encode_labels(["b", "a"], np.array(["a", "b"]), name="y_val")
    array([1, 0])
    """
    labels = raveled_column(np.asarray(labels), name)
    if n_rows is not None and (labels.ndim != 1 or labels.shape[0] != n_rows):
        raise ValueError(f"{name} must be 1-d with one label per row of X_val "
                         f"({n_rows}); got shape {labels.shape}.")
    # By set membership, not np.setdiff1d: labels of mixed types (None among
    # integers, say) cannot be sorted, and are still just unknown labels.
    known = set(classes.tolist())
    try:
        distinct = dict.fromkeys(labels.ravel().tolist())
    except TypeError:   # (a list or an array per row: no class label is one)
        raise ValueError(f"{name} must hold one class label per row (numbers or strings); "
                         "it holds sequences, which are no class labels.") from None
    unknown = [label for label in distinct if label not in known]
    if any(is_missing_label(label) for label in unknown):   # (NaN, None, pandas' NA)
        raise ValueError(f"{name} has missing labels (NaN, None or NA): every point "
                         "needs its class.")
    if unknown:
        raise ValueError(f"{name} has labels absent from the training set: "
                         f"{unknown} (not seen in {train_name}).")
    return np.searchsorted(classes, labels)


def encode_targets(y_encoded, n_classes, *, device, dtype):
    """Targets as the engine wants them: one {0, 1} column (binary) or one-hot rows.

    Examples
    --------
    >>> encode_targets(np.array([0, 1, 1]), 2, device="cpu", dtype=torch.float64).ravel()
    tensor([0., 1., 1.], dtype=torch.float64)
    """
    y_tensor = torch.as_tensor(np.asarray(y_encoded), device=device, dtype=torch.long)
    if n_classes == 2:
        return y_tensor.to(dtype).unsqueeze(1)
    return torch.nn.functional.one_hot(y_tensor, n_classes).to(dtype)
