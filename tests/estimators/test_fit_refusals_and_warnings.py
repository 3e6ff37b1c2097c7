"""User-facing refusals and warnings of ``fit`` and ``hypergradient``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from skpoison import HypergradRegularizedLR, hypergradient
from skpoison.estimators._trusted_scale import check_trusted_scale
from skpoison.hypergrad import InnerDivergenceError


@pytest.fixture(scope="module")
def data(digits08_pool):
    X, y = digits08_pool
    return X[:60], y[:60], X[60:90], y[60:90]


def quick(**params):
    return HypergradRegularizedLR(**{"inner_steps": 5, "outer_steps": 2, **params})


@pytest.mark.parametrize("device, message", [
    ("gpu", r"^device='gpu' is not a valid device; use 'cpu', 'cuda', 'cuda:N' or 'auto'.$"),
    ("cuda:x", r"^device='cuda:x' is not a valid device"),
])
def test_a_device_torch_cannot_read_is_refused(data, device, message):
    with pytest.raises(ValueError, match=message):
        quick(device=device).fit(*data[:2], X_val=data[2], y_val=data[3])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message of a machine without CUDA")
def test_cuda_without_a_gpu_says_so(data):
    with pytest.raises(ValueError, match=r"^device='cuda' was requested but CUDA is not "
                                         r"available on this machine; use device='cpu'"):
        quick(device="cuda").fit(*data[:2], X_val=data[2], y_val=data[3])


def test_a_torch_device_is_a_device(data):
    X, y, X_val, y_val = data
    by_name = quick().fit(X, y, X_val=X_val, y_val=y_val)
    by_object = quick(device=torch.device("cpu")).fit(X, y, X_val=X_val, y_val=y_val)
    np.testing.assert_array_equal(by_object.coef_, by_name.coef_)
    np.testing.assert_array_equal(by_object.lambda_, by_name.lambda_)


@pytest.mark.parametrize("lambda_init", [np.nan, np.inf, [np.nan]], ids=["nan", "inf", "[nan]"])
def test_lambda_init_must_not_be_nan_or_plus_infinity(data, lambda_init):
    X, y, X_val, y_val = data
    with pytest.raises(ValueError, match=r"^lambda_init must not be NaN or \+inf"):
        quick(lambda_init=lambda_init).fit(X, y, X_val=X_val, y_val=y_val)


def test_lambda_init_minus_infinity_starts_at_the_lower_bound(data):
    X, y, X_val, y_val = data
    # (with a warning: "no regularization" trained with λ = -12 said nothing)
    with pytest.warns(UserWarning, match="lambda_init=-inf lies outside lambda_bounds"):
        low = quick(lambda_init=-np.inf, outer_steps=0).fit(X, y, X_val=X_val, y_val=y_val)
    bound = quick(lambda_init=-12.0, outer_steps=0).fit(X, y, X_val=X_val, y_val=y_val)
    np.testing.assert_array_equal(low.lambda_, [-12.0])
    np.testing.assert_array_equal(low.coef_, bound.coef_)


def test_a_validation_fraction_that_leaves_no_training_rows_is_refused(data):
    X, y = data[0][:2], np.array([0, 8])
    with pytest.raises(ValueError, match=r"^validation_fraction=0.9 leaves no training "
                                         r"samples out of 2; pass X_val/y_val"):
        quick(validation_fraction=0.9).fit(X, y)


@pytest.mark.parametrize("sizes", [(40, 40, 1), (1, 1)], ids=["one-sample-class", "two-rows"])
def test_an_internal_split_that_cannot_keep_every_class_warns(sizes):
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(len(sizes)), sizes)
    X = rng.rand(len(y), 4) + y[:, None]
    with pytest.warns(UserWarning, match=r"^The split of X .* cannot keep every class's "
                                         r"share: .* the smallest class has 1\. .* pass a "
                                         r"trusted set \(X_val, y_val\)"):
        quick(random_state=0).fit(X, y)
    with warnings.catch_warnings():          # five samples of every class: stratified
        warnings.simplefilter("error")
        quick(random_state=0).fit(np.tile(X, (5, 1)), np.tile(y, 5))


@pytest.mark.parametrize("fraction, part", [(0.8, "training part"), (0.2, "trusted set")])
def test_a_stratified_split_that_leaves_a_class_out_of_a_part_warns(fraction, part):
    # 50 and 2 samples: the small class's share rounds to 0 rows of the training part
    # (4 rows at 0.8) or of the trusted set (11 rows at 0.2); stratified, it was silent.
    rng = np.random.RandomState(0)
    y = np.repeat(["a", "b"], [50, 2])
    X = rng.rand(len(y), 4) + (y == "b")[:, None]
    with pytest.warns(UserWarning, match=rf"^The stratified split of X .* leaves no sample "
                                         rf"of class 'b' in the {part}"):
        quick(validation_fraction=fraction, random_state=0).fit(X, y)


def test_verbose_shows_progress_and_changes_nothing(data, capsys):
    X, y, X_val, y_val = data
    silent = quick().fit(X, y, X_val=X_val, y_val=y_val)
    assert capsys.readouterr().err == ""
    chatty = quick(verbose=1).fit(X, y, X_val=X_val, y_val=y_val)
    assert "HypergradRegularizedLR: learning lambda" in capsys.readouterr().err
    np.testing.assert_array_equal(chatty.lambda_path_, silent.lambda_path_)
    np.testing.assert_array_equal(chatty.coef_, silent.coef_)


def test_a_named_trusted_set_beside_an_unnamed_training_set_warns(data):
    pd = pytest.importorskip("pandas")
    X, y, X_val, y_val = data
    named = pd.DataFrame(X_val, columns=[f"pixel{i}" for i in range(X.shape[1])])
    with pytest.warns(UserWarning, match="^X_val has feature names, but the training set X "
                                         "has none$") as caught:
        quick().fit(X, y, X_val=named, y_val=y_val)
    assert caught[0].filename == __file__        # the caller's line, not skpoison's


def test_hypergradient_needs_two_classes_in_y_train(data):
    X, y, X_val, y_val = data
    # (the estimators' and the poisoners' rule, one message)
    message = (r"^hypergradient needs samples of at least 2 classes in y_train; "
               r"got 1 class \(0\)\.$")
    with pytest.raises(ValueError, match=message):
        hypergradient(quick(), X, np.zeros(len(X), int), X_val, np.zeros(len(X_val), int))


@pytest.mark.parametrize("dtype, scale", [("float64", 1e155), ("float32", 1e22)])
def test_poison_too_large_for_the_rate_bound_fails_in_the_computation(dtype, scale):
    # The rate warning cannot compute the poisoned set's bound (its spectral
    # norm overflows; in float32 its step underflows) and leaves the verdict to
    # the computation, which returned a finite hypergradient of a run whose
    # objective overflowed to NaN (val_loss ~1e153) without a word.
    rng = np.random.RandomState(0)
    X, X_val = rng.randn(60, 5).astype(dtype), rng.randn(20, 5).astype(dtype)
    y, y_val = (X[:, 0] > 0).astype(int), (X_val[:, 0] > 0).astype(int)
    X_poison = np.full((6, 5), scale, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # (the rate warning itself stays silent)
        with pytest.raises(InnerDivergenceError, match="training objective rose"):
            hypergradient(HypergradRegularizedLR(inner_steps=5, dtype=dtype), X, y, X_val,
                          y_val, X_poison=X_poison, y_poison=np.zeros(6, int))


def test_a_training_set_without_varying_features_skips_the_scale_check():
    # Nothing to measure the trusted set against: no warning, and no NumPy
    # warning about the median of an empty selection either.
    X = np.ones((20, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_trusted_scale(X, np.full((20, 3), 1e6))


@pytest.mark.parametrize("kind", ["read-only array", "pandas Series"])
def test_log_lambda_values_are_read_into_a_writable_copy(kind):
    # torch.as_tensor warned ("The given NumPy array is not writable ...", at
    # the caller's fit) for a read-only lambda_init, log_lambda or fixed_lambda,
    # a pandas Series under copy-on-write among them. (torch warns once per
    # process, so the check is on the array, not on the warning.)
    from skpoison.estimators._log_lambda import as_log_lambda

    if kind == "pandas Series":
        given = pytest.importorskip("pandas").Series([-4.0, -3.0])
    else:
        given = np.array([-4.0, -3.0])
        given.flags.writeable = False
    values = as_log_lambda(given, "lambda_init")
    assert values.flags.writeable and not np.shares_memory(values, np.asarray(given))
    np.testing.assert_array_equal(values, [-4.0, -3.0])
