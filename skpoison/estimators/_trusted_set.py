"""The trusted set (and other feature matrices: poisoning points) read against the
training set."""

from __future__ import annotations

from sklearn.utils import check_array
from sklearn.utils.validation import _get_feature_names, validate_data

from .._warn import warn_user
from ._labels import encode_labels
from ._trusted_scale import check_trusted_scale


def check_X_val(estimator, X_val, *, dtype, name="X_val", train_name="X"):
    """The trusted set's features, checked against the training set just validated.

    The number of features must match, and so must the column names when
    either set has them (as ``predict`` checks them): a DataFrame with its
    columns in another order is an error, not silently read by position.
    Errors name the argument, ``name`` (``validate_data`` would call it ``X``);
    other feature matrices read against the training set (poisoning points)
    pass their own name, and ``train_name`` names the training set's argument.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> estimator = LogisticRegression().fit([[0, 1], [1, 0]], [0, 1])
    >>> check_X_val(estimator, [[0, 1]], dtype=np.float64)
    array([[0., 1.]])
    """
    try:
        checked = check_array(X_val, dtype=dtype, input_name=name)
    except ValueError as exc:   # ("Found array with 0 sample(s)", "Expected 2D array"...)
        if name in str(exc):
            raise
        raise ValueError(f"{name}: {exc}") from exc
    if checked.shape[1] != estimator.n_features_in_:
        raise ValueError(f"{name} has {checked.shape[1]} features, but the training set "
                         f"{train_name} has {estimator.n_features_in_}."
                         + (" In a Pipeline, the trusted set must pass through the "
                            "preceding transformers too: Pipeline(..., transform_input="
                            "[\"X_val\"]) with metadata routing enabled."
                            if name == "X_val" else ""))
    # The feature names: a missing side warns (here, so that the warning names
    # the argument: scikit-learn's would say X), a mismatch raises (scikit-learn's check).
    fitted = getattr(estimator, "feature_names_in_", None)
    given = _get_feature_names(X_val)
    if fitted is not None and given is None:
        warn_user(f"{name} does not have valid feature names, but the training set "
                  f"{train_name} has feature names")
    elif fitted is None and given is not None:
        warn_user(f"{name} has feature names, but the training set {train_name} has none")
    elif given is not None:
        try:
            validate_data(estimator, X_val, reset=False, skip_check_array=True)
        except ValueError as exc:
            raise ValueError(f"{name}'s columns do not match the training set "
                             f"{train_name}'s: {exc}") from exc
    return checked


def check_trusted_set(estimator, X, X_val, y_val, *, dtype, check_scale=True):
    """``(X_val, y_val_encoded)``: the trusted set read against the training set ``X``.

    Its features as :func:`check_X_val` reads them, a warning when they look
    differently scaled (:func:`check_trusted_scale`; ``check_scale=False``:
    the caller checks that itself), its labels encoded against
    ``estimator.classes_``. Shared by the estimators' and the poisoners' ``fit``.
    """
    X_val = check_X_val(estimator, X_val, dtype=dtype)
    if check_scale:
        check_trusted_scale(X, X_val, sampler=hasattr(estimator, "fit_resample"))
    return X_val, encode_labels(y_val, estimator.classes_, name="y_val", n_rows=len(X_val))
