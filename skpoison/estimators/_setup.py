"""From an estimator's parameters and data to an engine problem (tensors)."""

from __future__ import annotations

from numbers import Real
from typing import NamedTuple

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils.validation import _get_feature_names, column_or_1d, validate_data

from .._torch_utils import make_generator, resolve_device, resolve_dtype
from .._warn import warn_user


class EngineSetup(NamedTuple):
    """Everything the hypergradient engine needs besides the data."""

    problem: object
    w0: torch.Tensor
    steps: int
    lr: float
    device: torch.device
    dtype: torch.dtype


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


def check_X_val(estimator, X_val, *, dtype, name="X_val"):
    """The trusted set's features, checked against the training set just validated.

    The number of features must match, and so must the column names when
    either set has them (as ``predict`` checks them): a DataFrame with its
    columns in another order is an error, not silently read by position.
    Errors name the argument, ``name`` (``validate_data`` would call it ``X``);
    other feature matrices read against the training set (poisoning points)
    pass their own name.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> estimator = LogisticRegression().fit([[0, 1], [1, 0]], [0, 1])
    >>> check_X_val(estimator, [[0, 1]], dtype=np.float64)
    array([[0., 1.]])
    """
    checked = check_array(X_val, dtype=dtype, input_name=name)
    if checked.shape[1] != estimator.n_features_in_:
        raise ValueError(f"{name} has {checked.shape[1]} features, but the training set X has "
                         f"{estimator.n_features_in_}.")
    # The feature names: a missing side warns (here, so that the warning names
    # the argument: scikit-learn's would say X), a mismatch raises (scikit-learn's check).
    fitted = getattr(estimator, "feature_names_in_", None)
    given = _get_feature_names(X_val)
    if fitted is not None and given is None:
        warn_user(f"{name} does not have valid feature names, but the training set X has "
                  "feature names")
    elif fitted is None and given is not None:
        warn_user(f"{name} has feature names, but the training set X has none")
    elif given is not None:
        try:
            validate_data(estimator, X_val, reset=False, skip_check_array=True)
        except ValueError as exc:
            raise ValueError(f"{name}'s columns do not match the training set X's: "
                             f"{exc}") from exc
    return checked


class TrustedSetWarning(UserWarning):
    """The trusted set's features look like they are on another scale than ``X``'s.

    The usual cause is a :class:`~sklearn.pipeline.Pipeline` that hands the
    model the raw trusted set while ``X`` went through a scaler (see
    :func:`check_trusted_scale`); λ learned on such a set is meaningless.
    """


#: Fewer rows than this in either set, and the scale check does not judge.
_SCALE_CHECK_MIN_ROWS = 10
#: At most this many rows of each set enter the scale check (drawn at random
#: with a fixed seed): a heuristic needs no more, and a copy of a large X
#: would cost memory.
_SCALE_CHECK_MAX_ROWS = 2000
#: The factor by which the trusted set's typical feature may be wider than the
#: training set's, and the distance (in training standard deviations) its
#: mean may lie away, before the check warns.
_SCALE_CHECK_FACTOR = 4.0
#: The same for the features pooled (all variances summed): a far looser
#: bound, for sets whose typical feature is fine but whose large ones are not.
_SCALE_CHECK_POOLED_FACTOR = 100.0


def check_trusted_scale(X, X_val, *, name="X_val"):
    """Warn when the trusted set looks unscaled (or otherwise rescaled) against ``X``.

    For every feature that varies in ``X``, the distance between the two
    sets' means in ``X``'s standard deviations, and the ratio of the trusted
    set's standard deviation to ``X``'s. A :class:`TrustedSetWarning` is
    issued when the median distance or the median ratio over the features
    exceeds ``_SCALE_CHECK_FACTOR`` (4). Medians, because a few features
    may legitimately differ a lot: a pixel almost always 0 in ``X`` that
    ``StandardScaler`` divides by a tiny deviation is far off in any trusted
    set that lights it. So that a majority of harmless features (one-hot
    columns, which scaling barely moves) cannot hide large raw ones, it also
    warns when the pooled distance or spread (over all features, in units of
    ``X``'s total standard deviation) exceeds ``_SCALE_CHECK_POOLED_FACTOR``
    (100; honest MNIST behind a ``StandardScaler`` reaches about 23 there).
    Sets of fewer than ``_SCALE_CHECK_MIN_ROWS`` (10) rows are not judged; at
    most ``_SCALE_CHECK_MAX_ROWS`` rows of each set, drawn at random with a
    fixed seed, are read.

    Honest trusted sets stay well inside, raw or standardized, even next to a
    training set with 20 % of its points poisoned onto the corners of the
    feature box (digits, MNIST, Fashion-MNIST, CIFAR-10 and the synthetic set,
    10 to 100 trusted points, 400 splits: median distance ≤ 0.5, ratio ≤ 1.2).
    Raw digits next to standardized training features give 5.5 and 4.2;
    next to min-max scaled ones 18 and 15, robust-scaled 12 and 6.3. Two
    limits of a heuristic: a set only narrower than ``X`` (pixels in [0, 1]
    against standardized ones) is not flagged, since a trusted set whose rare
    features happen to be constant is narrower too; and an honest set does get
    flagged behind a transform fitted to about as few rows as it has outputs
    (a whitening PCA keeping 99 % of the variance of 200 MNIST rows: ratios
    up to 17), whose unseen data is then indeed on another scale.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data
    >>> X_scaled = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1)
    >>> check_trusted_scale(X_scaled[:300], X_scaled[300:400])    # silent
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_trusted_scale(X_scaled[:300], X[300:400])       # the raw trusted set
    >>> caught[0].category.__name__
    'TrustedSetWarning'
    """
    if min(len(X), len(X_val)) < _SCALE_CHECK_MIN_ROWS:
        return
    X, X_val = _some_rows(X), _some_rows(X_val)
    std = X.std(axis=0)
    varying = (std > 0) & np.isfinite(std)
    if not varying.any():
        return
    std, X, X_val = std[varying], X[:, varying], X_val[:, varying]
    shift, spread = np.abs(X_val.mean(axis=0) - X.mean(axis=0)), X_val.std(axis=0)
    distance, ratio = np.median(shift / std), np.median(spread / std)
    total = np.sqrt(np.sum(std ** 2))
    pooled = max(np.sqrt(np.sum(shift ** 2)), np.sqrt(np.sum(spread ** 2))) / total
    if (distance > _SCALE_CHECK_FACTOR or ratio > _SCALE_CHECK_FACTOR
            or pooled > _SCALE_CHECK_POOLED_FACTOR):
        warn_user(
            f"{name} does not look like it is on the scale of the training set X: its "
            f"features' means lie a median {distance:.3g} standard deviations of X away, "
            f"and their spreads are a median {ratio:.3g} times X's. The usual cause is a "
            "Pipeline that does not transform the trusted set (pass "
            "Pipeline(..., transform_input=[\"X_val\"]) with metadata routing); a "
            "transform fitted to few rows (a whitening PCA) does the same to honest data. "
            "λ learned on a set so unlike the training data may not mean much.",
            TrustedSetWarning)


def _some_rows(X):
    """At most ``_SCALE_CHECK_MAX_ROWS`` rows of ``X`` drawn at random (a fixed
    seed: evenly spaced rows alias with periodic data), in float64."""
    if len(X) > _SCALE_CHECK_MAX_ROWS:
        rows = np.random.default_rng(0).choice(len(X), _SCALE_CHECK_MAX_ROWS, replace=False)
        X = X[np.sort(rows)]
    return np.asarray(X, dtype=np.float64)


def _is_missing(label):
    """NaN, or pandas' ``NA`` (whose comparisons are ``NA``: ``bool()`` of them raises)."""
    try:
        return bool(label != label)
    except TypeError:
        return True


def encode_labels(labels, classes, *, name, n_rows=None):
    """Indices of ``labels`` in the sorted ``classes``; unseen labels are an error.

    Shared by the estimators, :func:`~skpoison.hypergradient` and the poisoners.

    Examples
    --------
    >>> encode_labels(["b", "a"], np.array(["a", "b"]), name="y_val")
    array([1, 0])
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:  # a column, as scikit-learn accepts for y
        labels = column_or_1d(labels, warn=True)
    if n_rows is not None and (labels.ndim != 1 or labels.shape[0] != n_rows):
        raise ValueError(f"{name} must be 1-d with one label per row of X_val "
                         f"({n_rows}); got shape {labels.shape}.")
    # By set membership, not np.setdiff1d: labels of mixed types (None among
    # integers, say) cannot be sorted, and are still just unknown labels.
    known = set(classes.tolist())
    unknown = [label for label in dict.fromkeys(labels.ravel().tolist()) if label not in known]
    missing = [label for label in unknown if _is_missing(label)]
    if missing:   # NaNs, each one a distinct key, shown once
        unknown = [label for label in unknown if not _is_missing(label)] + missing[:1]
    if unknown:
        raise ValueError(f"{name} has labels absent from the training set: "
                         f"{unknown} (not seen in y).")
    return np.searchsorted(classes, labels)


def as_log_lambda(values, name):
    """``values`` (log λ: a number, or an array of numbers) as a float array.

    Strings and bools are refused, though NumPy would read ``"1"`` and
    ``True`` as 1.0: a typo must not become a regularization strength.

    Examples
    --------
    >>> as_log_lambda([-4, 0], "lambda_init")
    array([-4.,  0.])
    >>> as_log_lambda(True, "fixed_lambda")
    Traceback (most recent call last):
    ...
    ValueError: fixed_lambda=True must be a float or an array of floats (log λ), not a bool.
    """
    if not is_real_array(values):
        is_bool = any(isinstance(v, (bool, np.bool_)) for v in _items(values))
        raise ValueError(f"{name}={values!r} must be a float or an array of floats "
                         f"(log λ){', not a bool' if is_bool else ''}.")
    return np.asarray(values, dtype=float)


def is_real_array(values):
    """Whether ``values`` is a real number or a (rectangular) array of them, no bools.

    Element by element: NumPy turns ``[True, -4]`` into integers and
    ``("-12", "0")`` into strings it would then read as floats.

    Examples
    --------
    >>> is_real_array([-12, 0.0]), is_real_array((-12, True)), is_real_array(["-1"])
    (True, False, False)
    """
    try:
        np.asarray(values, dtype=float)
    except (TypeError, ValueError):   # ragged, or not numbers at all
        return False
    return all(isinstance(v, Real) and not isinstance(v, (bool, np.bool_))
               for v in _items(values))


def _items(values):
    """The elements of ``values`` as Python or NumPy scalars (one, for a scalar).

    0-d arrays and tensors among them (``[np.array(-4.0)]``, ``list(tensor)``)
    are unwrapped to their scalar.
    """
    try:
        items = np.asarray(values, dtype=object).ravel().tolist()
    except (TypeError, ValueError):
        items = [values]
    return [v.item() if np.ndim(v) == 0 and hasattr(v, "item") else v for v in items]


def initial_params(problem, random_state, *, device, dtype):
    """``w_0`` drawn on the CPU in float64, then moved.

    The same ``random_state`` thus gives the same initial network on every
    device and in every dtype (CUDA generators draw other streams).
    """
    generator = make_generator(random_state, "cpu")
    return problem.init_params(generator).to(device=device, dtype=dtype)


def max_log_lambda_for(dtype):
    """The largest log λ whose ``exp`` is finite in ``dtype`` (709.8 in float64).

    Examples
    --------
    >>> round(max_log_lambda_for("float32"), 1)
    88.7
    """
    return float(np.log(np.finfo(np.dtype(dtype)).max))


def _check_representable_step(lr, n_samples, dtype):
    """``inner_lr="auto"``'s step ``lr / n`` must be a normal number in ``dtype``.

    Features of huge magnitude give a rate so small that in float32 it
    underflows: training would not move, or lose its precision, silently.
    """
    tiny = float(np.finfo(np.dtype(dtype)).tiny)
    if lr / n_samples < tiny:
        raise ValueError(
            f"inner_lr='auto' is {lr:.3g} for these features: the step inner_lr / n_samples "
            f"= {lr / n_samples:.3g} is below the smallest normal {dtype} number ({tiny:.3g}), "
            "so training would not move. The features are too large: scale them (e.g. "
            "StandardScaler or MinMaxScaler), or use dtype='float64'.")


def build_setup(estimator, X_train, n_classes, *, max_log_lambda=None):
    """Build the :class:`EngineSetup` for ``estimator`` on a training matrix.

    Parameters
    ----------
    estimator : HypergradRegularizedLR or HypergradMLP
        Only its parameters are read (it need not be fitted).
    X_train : ndarray of shape (n_samples, n_features)
        The clean training features; ``inner_lr="auto"`` is derived from them.
    n_classes : int
    max_log_lambda : float or None
        The largest λ the inner problem will be solved with, when it may
        exceed ``lambda_bounds`` (a fixed λ): ``inner_lr="auto"`` must stay
        stable for it.
    """
    device = resolve_device(estimator.device)
    dtype = resolve_dtype(estimator.dtype)
    n_outputs = 1 if n_classes == 2 else n_classes
    problem = estimator._make_problem(X_train.shape[1], n_outputs, device)
    w0 = initial_params(problem, estimator.random_state, device=device, dtype=dtype)
    lr = estimator.inner_lr
    if lr == "auto":
        top = max(float(np.max(np.asarray(estimator.lambda_bounds, dtype=float))),
                  -np.inf if max_log_lambda is None else max_log_lambda)
        limit = max_log_lambda_for(estimator.dtype)
        if top >= limit:
            raise ValueError(
                f"inner_lr='auto' is stable up to the largest λ allowed, log λ = {top:g} "
                f"(lambda_bounds or the fixed λ), but exp({top:g}) overflows {estimator.dtype} "
                f"(log λ < {limit:.1f}); lower it.")
        max_alpha = float(np.exp(top))
        lr = estimator._auto_inner_lr(X_train, n_outputs, max_alpha)
        _check_representable_step(lr, X_train.shape[0], estimator.dtype)
    return EngineSetup(problem, w0, int(estimator.inner_steps), float(lr), device, dtype)
