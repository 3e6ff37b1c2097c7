"""From an estimator's parameters and data to an engine problem (tensors)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import check_array
from sklearn.utils.validation import _get_feature_names, validate_data

from .._constraints import is_missing_label, is_real_array, real_items
from .._torch_utils import make_generator, resolve_device, resolve_dtype
from .._warn import warn_user
from ..hypergrad._prox import takes_proximal_steps
from ._feature_scales import check_feature_scales
from ._trusted_scale import check_trusted_scale


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
    unknown = [label for label in dict.fromkeys(labels.ravel().tolist()) if label not in known]
    if any(is_missing_label(label) for label in unknown):   # (NaN, None, pandas' NA)
        raise ValueError(f"{name} has missing labels (NaN, None or NA): every point "
                         "needs its class.")
    if unknown:
        raise ValueError(f"{name} has labels absent from the training set: "
                         f"{unknown} (not seen in {train_name}).")
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
        is_bool = any(isinstance(v, (bool, np.bool_)) for v in real_items(values))
        raise ValueError(f"{name}={values!r} must be a float or an array of floats "
                         f"(log λ){', not a bool' if is_bool else ''}.")
    # A copy: a read-only view (a pandas Series') made torch warn in as_tensor.
    return np.asarray(values, dtype=float).copy()


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


def check_log_lambda(values, name, *, dtype=None):
    """``values`` (log λ: a number, or a non-empty 1-D array of them) as a checked float array.

    NaN and +inf are refused; -inf (no regularization) passes; with
    ``dtype``, so do only values whose ``exp`` is finite in it (λ given
    outside ``lambda_bounds``: a fixed λ, a CV grid). The shape against the
    model's hyperparameters is :func:`lambda_vector`'s check, once the model
    is known.

    Examples
    --------
    >>> check_log_lambda([-4, -np.inf], "lambda_init")
    array([ -4., -inf])
    >>> check_log_lambda([], "log_lambda")
    Traceback (most recent call last):
    ...
    ValueError: log_lambda must be a number or a non-empty 1-D array; got shape (0,).
    """
    values = as_log_lambda(values, name)
    if values.ndim > 1 or values.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-D array; got shape "
                         f"{values.shape}.")
    if np.isnan(values).any() or np.isposinf(values).any():
        raise ValueError(f"{name} must not be NaN or +inf (-inf: no regularization).")
    if dtype is not None and (values >= max_log_lambda_for(dtype)).any():
        raise ValueError(f"{name} is log λ: values up to {max_log_lambda_for(dtype):.1f} are "
                         f"finite in {np.dtype(dtype).name}; got max {float(values.max())}.")
    return values


def lambda_vector(values, n_hyper, name, **tensor):
    """Checked ``values`` (:func:`check_log_lambda`) as a tensor of shape ``(n_hyper,)``.

    A number is repeated for every hyperparameter.

    Examples
    --------
    >>> lambda_vector(check_log_lambda(-4, "lambda_init"), 2, "lambda_init")
    tensor([-4., -4.], dtype=torch.float64)
    """
    values = np.full(n_hyper, float(values)) if values.ndim == 0 else values
    if values.shape != (n_hyper,):
        raise ValueError(f"{name} has shape {values.shape}; the model has {n_hyper} "
                         f"hyperparameter{'' if n_hyper == 1 else 's'}: give a number or one "
                         "value each.")
    return torch.as_tensor(values, **tensor)


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


def _check_representable_step(lr, n_samples, dtype, *, auto):
    """The step ``lr / n`` must be a normal number in ``dtype``.

    Below it training would not move, or lose its precision, silently: a
    float32 model fitted with ``inner_lr=1e-50`` predicted one class with
    nothing said. For ``inner_lr="auto"`` (``auto=True``) the cause is
    features of huge magnitude, and the message says so.
    """
    tiny = float(np.finfo(np.dtype(dtype)).tiny)
    if lr / n_samples >= tiny:
        return
    below = (f"the step inner_lr / n_samples = {lr / n_samples:.3g} is below the smallest "
             f"normal {dtype} number ({tiny:.3g}), so training would not move")
    if auto:
        raise ValueError(
            f"inner_lr='auto' is {lr:.3g} for these features: {below}. The features are too "
            "large: scale them (e.g. StandardScaler or MinMaxScaler), or use dtype='float64'.")
    fix = "raise inner_lr" + (", or use dtype='float64'" if dtype == "float32" else "")
    raise ValueError(f"inner_lr={lr:.3g} for {n_samples} training points: {below}; {fix}.")


def build_setup(estimator, X_train, n_classes, *, max_log_lambda=None, check_scales=True,
                squared_norm=None):
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
    check_scales : bool, default=True
        Warn when the features' scales differ too widely for gradient
        descent (:func:`check_feature_scales`); False for a second set-up of
        the same fit.
    squared_norm : float or None, default=None
        The squared spectral norm of ``[X_train, 1]`` that a linear model's
        ``inner_lr="auto"`` reads, when the caller has it already
        (``fit_batched`` computes ``K`` of them at once); None: computed here.
    """
    device = resolve_device(estimator.device)
    dtype = resolve_dtype(estimator.dtype)
    if check_scales:
        check_feature_scales(X_train, inner_steps=estimator.inner_steps)
    n_outputs = 1 if n_classes == 2 else n_classes
    problem = estimator._make_problem(X_train.shape[1], n_outputs, device)
    w0 = initial_params(problem, estimator.random_state, device=device, dtype=dtype)
    lr = estimator.inner_lr
    if lr == "auto":
        lr = auto_inner_lr(estimator, X_train, n_classes, max_log_lambda=max_log_lambda,
                           squared_norm=squared_norm)
    else:
        _check_representable_step(float(lr), X_train.shape[0], estimator.dtype, auto=False)
    return EngineSetup(problem, w0, int(estimator.inner_steps), float(lr), device, dtype)


def auto_inner_lr(estimator, X_train, n_classes, *, max_log_lambda=None, squared_norm=None):
    """``inner_lr="auto"`` of a linear ``estimator`` on ``X_train`` (see :func:`build_setup`).

    Stable for the largest λ of ``lambda_bounds`` and ``max_log_lambda``
    (:func:`auto_rate_top`); for proximal L1 steps, stable whatever λ
    (:func:`auto_rate_penalty`).
    """
    top = auto_rate_top(estimator, max_log_lambda)
    limit = max_log_lambda_for(estimator.dtype)
    if top >= limit:
        raise ValueError(
            f"inner_lr='auto' is stable up to the largest λ allowed, log λ = {top:g} "
            f"(lambda_bounds or the fixed λ), but exp({top:g}) overflows {estimator.dtype} "
            f"(log λ < {limit:.1f}); lower it.")
    n_outputs = 1 if n_classes == 2 else n_classes
    lr = estimator._auto_inner_lr(X_train, n_outputs, auto_rate_penalty(estimator, top),
                                  squared_norm=squared_norm)
    _check_representable_step(lr, X_train.shape[0], estimator.dtype, auto=True)
    return lr


def auto_rate_top(estimator, max_log_lambda=None):
    """The largest log λ ``inner_lr="auto"`` is stable for: ``lambda_bounds``' top, or
    ``max_log_lambda`` (a fixed or evaluated λ) above it."""
    return max(float(np.max(np.asarray(estimator.lambda_bounds, dtype=float))),
               -np.inf if max_log_lambda is None else float(max_log_lambda))


def proximal_steps(estimator):
    """Whether ``estimator`` trains with proximal L1 steps (``l1_step="proximal"``)."""
    return takes_proximal_steps(estimator.penalty, estimator.l1_step)


def auto_rate_penalty(estimator, top):
    """What ``inner_lr="auto"`` adds to the data's smoothness bound: ``exp(top)``.

    The penalty's strength counts as curvature (L2's is; L1's subgradient
    steps zigzag by ``inner_lr * exp(λ)``), except for proximal L1 steps,
    which are stable below ``2 / L`` whatever λ: 0 (their rate is ``1 / L``).
    """
    return 0.0 if proximal_steps(estimator) else float(np.exp(top))


def auto_rate_smoothness(lr, penalty_part):
    """The data's smoothness bound ``L`` behind an ``inner_lr="auto"`` of ``lr``.

    The rate is ``1 / (L + penalty_part)`` (:func:`auto_inner_lr`,
    :func:`auto_rate_penalty`); read back, to rounding (0 where
    ``penalty_part`` dwarfs ``L``).

    Examples
    --------
    >>> round(auto_rate_smoothness(1 / (3.0 + np.exp(0.0)), np.exp(0.0)), 12)
    3.0
    """
    return max(1.0 / float(lr) - float(penalty_part), 0.0)


def check_rate_with_poison(estimator, lr, X_all, n_classes, *, max_log_lambda, poison_rows,
                           n_clean, described):
    """Warn when the clean set's ``"auto"`` rate is beyond the poisoned set's stable range.

    Gradient descent with a rate above ``2 / L`` (``L`` the smoothness bound of
    the training set with its poisoning points) can oscillate and still end
    below its start, which the divergence check lets pass. (A poisoned set the
    bound cannot be computed for fails in the computation itself, as before.)

    ``X_all``'s rows ``poison_rows`` (a boolean mask) are the poisoning points,
    the others ``n_clean`` rows of the clean set (some, where points replaced
    rows) the rate was computed on. A bound read off the rate itself decides
    most calls without a second spectral norm: the linear models' rate is
    ``1 / (||[X, 1]||^2 / (c n) + exp(top))`` with ``c >= 2`` (without
    ``exp(top)`` for proximal steps: :func:`auto_rate_penalty`), and the poisoning
    rows ``P`` add at most ``||[P, 1]||_F^2`` to ``||[X, 1]||^2``.
    ``max_log_lambda``: as given to :func:`build_setup` for ``lr``.
    ``described``: what then describes the oscillating run (the message's
    words, e.g. ``"the hypergradient describe it"``).
    """
    high = auto_rate_penalty(estimator, auto_rate_top(estimator, max_log_lambda))
    points = np.asarray(X_all[poison_rows], dtype=np.float64)
    with np.errstate(over="ignore"):
        added = float(np.einsum("ij,ij->", points, points)) + len(points)
    bound = (n_clean * auto_rate_smoothness(lr, high) + added / 2.0) / len(X_all)
    if lr * (bound + high) < 2.0:
        return
    try:
        stable = 2.0 * auto_inner_lr(estimator, X_all, n_classes,
                                     max_log_lambda=max_log_lambda)
    except ValueError:
        return
    if lr >= stable:
        warn_user(f"inner_lr='auto' ({lr:.4g}) is computed from the clean training set, but "
                  f"with the poisoning points the training set's smoothness bound only "
                  f"guarantees descent below {stable:.4g}: the inner run may oscillate and "
                  f"{described}. Poisoning points of large norm (or many near the largest "
                  "clean rows) do this; give a float inner_lr below the bound to hold the "
                  "rate fixed.")
