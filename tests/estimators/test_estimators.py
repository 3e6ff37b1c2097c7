"""Behaviour of HypergradRegularizedLR / HypergradMLP beyond scikit-learn's checks."""

import inspect
import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn import config_context
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import DataConversionWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skpoison import HypergradMLP, HypergradRegularizedLR, TrustedSetWarning
from skpoison.estimators._trusted_scale import (_SCALE_CHECK_MAX_ROWS, _column_stats, _rows,
                                                check_trusted_scale)
from skpoison.hypergrad import InnerDivergenceError


@pytest.fixture(scope="module")
def digits08():
    X, y = load_digits(n_class=9, return_X_y=True)
    keep = (y == 0) | (y == 8)
    X, y = X[keep] / 16.0, y[keep]
    return train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)


def fast_lr(**params):
    return HypergradRegularizedLR(inner_steps=60, outer_steps=5, random_state=0, **params)


def fast_mlp(**params):
    settings = dict(hidden_layer_sizes=(6,), inner_steps=60, inner_lr=0.3, outer_steps=3,
                    random_state=0)
    return HypergradMLP(**{**settings, **params})


@pytest.mark.parametrize("make", [fast_lr, fast_mlp])
def test_fit_learns_lambda_and_lowers_validation_loss(make, digits08):
    X_tr, X_te, y_tr, y_te = digits08
    clf = make(outer_lr=0.5).fit(X_tr, y_tr, X_val=X_te[:40], y_val=y_te[:40])
    assert clf.val_loss_path_[-1] < clf.val_loss_path_[0]
    assert clf.lambda_path_.shape == (clf.outer_steps + 1, clf.lambda_.size)
    np.testing.assert_allclose(clf.alpha_, np.exp(clf.lambda_))
    assert clf.score(X_te, y_te) > 0.95
    assert clf.n_iter_ == clf.outer_steps
    proba = clf.predict_proba(X_te)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(X_te))


@pytest.mark.parametrize("make", [fast_lr, fast_mlp])
def test_multiclass_and_string_labels(make):
    X, y = load_digits(n_class=3, return_X_y=True)
    labels = np.array(["zero", "one", "two"])[y]
    clf = make().fit(X / 16, labels)
    assert set(clf.predict(X / 16)) <= set(labels)
    assert clf.predict_proba(X / 16).shape == (len(X), 3)
    assert clf.score(X / 16, labels) > 0.9
    if isinstance(clf, HypergradRegularizedLR):
        assert clf.coef_.shape == (3, 64) and clf.intercept_.shape == (3,)
    else:
        assert [c.shape for c in clf.coefs_] == [(64, 6), (6, 3)]


def test_per_feature_lambda(digits08):
    X_tr, X_te, y_tr, y_te = digits08
    clf = fast_lr(lambda_mode="per_feature").fit(X_tr, y_tr, X_val=X_te[:40], y_val=y_te[:40])
    assert clf.lambda_.shape == (64,)
    assert np.ptp(clf.lambda_) > 0  # features get different strengths


def test_per_layer_lambda(digits08):
    X_tr, X_te, y_tr, y_te = digits08
    clf = HypergradMLP((6, 4), lambda_mode="per_layer", inner_steps=40, inner_lr=0.3,
                       outer_steps=2, random_state=0).fit(X_tr, y_tr)
    assert clf.lambda_.shape == (3,)


def test_internal_split_is_reproducible(digits08):
    X_tr, _, y_tr, _ = digits08
    a = fast_lr().fit(X_tr, y_tr)
    b = fast_lr().fit(X_tr, y_tr)
    np.testing.assert_array_equal(a.lambda_, b.lambda_)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_inputs_are_not_modified(digits08):
    X_tr, X_te, y_tr, y_te = digits08
    copies = [a.copy() for a in (X_tr, y_tr, X_te, y_te)]
    fast_lr().fit(X_tr, y_tr, X_val=X_te, y_val=y_te)
    for original, copy in zip((X_tr, y_tr, X_te, y_te), copies):
        np.testing.assert_array_equal(original, copy)


def test_pipeline_routes_and_transforms_the_trusted_set(digits08):
    X_tr, X_te, y_tr, y_te = digits08
    X_val, y_val = X_te[:40], y_te[:40]
    with config_context(enable_metadata_routing=True):
        clf = fast_lr().set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("scale", StandardScaler()), ("clf", clf)], transform_input=["X_val"])
        pipe.fit(X_tr, y_tr, X_val=X_val, y_val=y_val)
    scaler = StandardScaler().fit(X_tr)
    direct = fast_lr().fit(scaler.transform(X_tr), y_tr, X_val=scaler.transform(X_val),
                           y_val=y_val)
    np.testing.assert_allclose(pipe[-1].lambda_, direct.lambda_)


def test_a_raw_trusted_set_behind_a_scaler_warns(digits08):
    # The README's first pipeline trap: without transform_input the model gets
    # the raw trusted set while it trains on scaled features.
    X_tr, X_te, y_tr, y_te = digits08
    X_val, y_val = X_te[:40] * 16, y_te[:40]                  # digits' raw 0..16 pixels
    with config_context(enable_metadata_routing=True):
        clf = fast_lr().set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("scale", StandardScaler()), ("clf", clf)])
        with pytest.warns(TrustedSetWarning, match="transform_input"):
            pipe.fit(X_tr * 16, y_tr, X_val=X_val, y_val=y_val)
    with config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("error", TrustedSetWarning)
        pipe.set_params(transform_input=["X_val"]).fit(X_tr * 16, y_tr, X_val=X_val,
                                                        y_val=y_val)


def test_the_scale_check_warns_without_numpys_overflow_warnings(digits08):
    # A trusted set near float64's range overflowed the check's squares: NumPy's
    # RuntimeWarnings came before the check's own, clear warning.
    X_tr, X_te, y_tr, y_te = digits08
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_trusted_scale(X_tr, X_te * 1e200)
    assert [w.category for w in caught] == [TrustedSetWarning]


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_the_scale_check_judges_sets_whose_squares_leave_float64(digits08, scale):
    # Both sets near 1e-200: their deviations squared to 0, every column looked
    # constant and the check said nothing; near 1e200 they overflowed (a review).
    X_tr, X_te, y_tr, y_te = digits08
    spread = np.where(X_tr.std(0) > 0, X_tr.std(0), 1)
    standardized = (X_tr - X_tr.mean(0)) / spread
    with pytest.warns(TrustedSetWarning):
        check_trusted_scale(standardized * scale, X_te * 16 * scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_trusted_scale(X_tr * scale, X_te * scale)


def test_the_scale_check_judges_a_tiny_X_beside_a_normal_trusted_set():
    # (its unit came from the larger set, so X's deviations still squared to 0;
    # near float64's largest value the unit rounded to inf)
    rng = np.random.RandomState(0)
    X, X_val = rng.rand(100, 5), rng.rand(50, 5)
    for training, trusted in ((X * 1e-200, X_val), (X * 1.7e306 + 1.6e308, X_val * 1.7e306)):
        with pytest.warns(TrustedSetWarning):
            check_trusted_scale(training, trusted)


def test_a_minus_infinite_lambda_init_that_cannot_be_learned_warns(digits08):
    # -inf is a fixed point of the λ steps: outer_steps > 0 learned nothing, silently.
    X_tr, X_te, y_tr, y_te = digits08
    clf = HypergradRegularizedLR(inner_steps=20, outer_steps=2, lambda_init=-np.inf,
                                 lambda_bounds=(-np.inf, 0.0))
    with pytest.warns(UserWarning, match=r"lambda_init=-inf .* is a fixed point"):
        clf.fit(X_tr, y_tr, X_val=X_te, y_val=y_te)
    assert clf.lambda_.tolist() == [-np.inf]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.set_params(outer_steps=0).fit(X_tr, y_tr, X_val=X_te, y_val=y_te)


@pytest.mark.parametrize("scale, offset", [(5.0, 0.0), (1.0, 5.0), (16.0, -8.0)])
def test_a_trusted_set_on_another_scale_warns(digits08, scale, offset):
    X_tr, X_te, y_tr, y_te = digits08
    clf = HypergradRegularizedLR(inner_steps=20, outer_steps=0)
    with pytest.warns(TrustedSetWarning, match="X_val does not look like.* transform_input"):
        clf.fit(X_tr, y_tr, X_val=X_te * scale + offset, y_val=y_te)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrustedSetWarning)
        clf.fit(X_tr, y_tr, X_val=X_te * 1.5 + 0.1, y_val=y_te)     # a small honest shift
        clf.fit(X_tr, y_tr, X_val=X_te[:9] * scale + offset, y_val=y_te[:9])   # too few rows
        # A set that is only narrower is not judged: one whose rare pixels
        # happen to be all 0 is narrower too.
        clf.fit(X_tr, y_tr, X_val=X_te * 0.2, y_val=y_te)


def test_the_scale_check_reads_periodic_rows_fairly_and_sees_large_raw_columns():
    rng = np.random.default_rng(0)
    # Hourly readings with a daily cycle, in time order: rows 24 apart share an
    # hour, and an evenly spaced sample of them flagged honest data.
    hours = np.arange(48_000)
    X = np.sin(2 * np.pi * hours[:, None] / 24 + np.arange(10)) + 0.1 * rng.normal(
        size=(48_000, 10))
    X_val = X[rng.choice(48_000, 200, replace=False)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrustedSetWarning)
        check_trusted_scale(X, X_val)
    # Mostly one-hot columns (which scaling barely moves) beside raw columns of
    # large values: the medians look fine, the pooled spread does not.
    numeric = rng.lognormal(10, 1, size=(600, 8))
    onehot = np.eye(40)[rng.integers(0, 40, 600)]
    raw = np.hstack([numeric, onehot])
    scaled = StandardScaler().fit(raw[:400]).transform(raw[:400])
    with pytest.warns(TrustedSetWarning):
        check_trusted_scale(scaled, raw[400:])


def test_grid_search_routes_the_trusted_set(digits08):
    X_tr, X_te, y_tr, y_te = digits08
    with config_context(enable_metadata_routing=True):
        clf = fast_lr().set_fit_request(X_val=True, y_val=True)
        search = GridSearchCV(clf, {"penalty": ["l2", "l1"]}, cv=2)
        search.fit(X_tr, y_tr, X_val=X_te[:41], y_val=y_te[:41])
    assert search.best_params_["penalty"] in ("l2", "l1")
    assert search.best_estimator_.lambda_.shape == (1,)


def test_clone_cross_val_score_and_pickle(digits08):
    X_tr, X_te, y_tr, y_te = digits08
    clf = fast_lr()
    scores = cross_val_score(clone(clf), X_tr, y_tr, cv=3)
    assert scores.mean() > 0.9
    clf.fit(X_tr, y_tr)
    payload = pickle.dumps(clf)
    # Fitted attributes are numpy on the CPU: nothing in the pickle needs torch
    # (so a model fitted on a GPU loads on a machine without one).
    assert b"torch" not in payload
    restored = pickle.loads(payload)
    np.testing.assert_array_equal(restored.predict(X_te), clf.predict(X_te))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_matches_cpu_and_pickles_to_numpy(digits08):
    X_tr, X_te, y_tr, y_te = digits08
    cpu = fast_lr().fit(X_tr, y_tr)
    gpu = fast_lr(device="cuda").fit(X_tr, y_tr)
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, rtol=1e-6, atol=1e-9)
    # inner_lr="auto": the GPU's own Lanczos, to rounding of the host's ARPACK
    assert gpu.inner_lr_ == pytest.approx(cpu.inner_lr_, rel=1e-13)
    assert b"torch" not in pickle.dumps(gpu)


def test_l1_learned_lambda_is_sparser_than_no_regularization():
    rng = np.random.RandomState(0)
    n, relevant, irrelevant = 80, 5, 95
    X = rng.uniform(size=(n, relevant + irrelevant))
    y = (X[:, :relevant].sum(1) + 0.3 * rng.normal(size=n) > relevant / 2).astype(int)
    X_val = rng.uniform(size=(100, relevant + irrelevant))
    y_val = (X_val[:, :relevant].sum(1) > relevant / 2).astype(int)
    common = dict(penalty="l1", inner_steps=1000, random_state=0)
    plain = HypergradRegularizedLR(lambda_init=-np.inf, lambda_bounds=(-np.inf, 0.0),
                                   outer_steps=0, **common).fit(X, y)
    learned = HypergradRegularizedLR(lambda_init=-5.0, outer_steps=20, **common)
    learned.fit(X, y, X_val=X_val, y_val=y_val)
    assert learned.val_loss_path_[-1] < learned.val_loss_path_[0]
    noise_plain = np.abs(plain.coef_[0, relevant:]).mean()
    noise_learned = np.abs(learned.coef_[0, relevant:]).mean()
    assert noise_learned < 0.5 * noise_plain
    small = lambda coef: np.mean(np.abs(coef) < 0.05)  # noqa: E731
    assert small(learned.coef_) > small(plain.coef_)


def test_accuracy_close_to_logistic_regression_cv_on_digits():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    # scikit-learn 1.8 replaced LogisticRegressionCV's penalty by l1_ratios (and
    # deprecates its old attributes); the supported >= 1.6 lack both (and default to L2).
    modern = "use_legacy_attributes" in inspect.signature(LogisticRegressionCV).parameters
    options = dict(l1_ratios=(0,), use_legacy_attributes=False) if modern else {}
    reference = LogisticRegressionCV(Cs=10, max_iter=2000, scoring="accuracy", **options)
    reference = reference.fit(X_tr, y_tr).score(X_te, y_te)
    ours = HypergradRegularizedLR(inner_steps=1000, outer_steps=10, random_state=0)
    ours = ours.fit(X_tr, y_tr).score(X_te, y_te)
    assert ours >= reference - 0.01, (ours, reference)


@pytest.mark.parametrize("classes", [(0, 8), (0, 1, 2)])
def test_a_fixed_lambda_fit_is_scikit_learns_logistic_regression(classes):
    # An independent check of the model's conventions: the mean log-loss plus
    # exp(λ)/2 ||W||², intercepts unpenalized, is scikit-learn's objective with
    # C = 1 / (n exp(λ)); gradient descent run long enough reaches its optimum.
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(n_class=9, return_X_y=True)
    keep = np.isin(y, classes)
    X, y = X[keep][:200] / 16.0, y[keep][:200]
    log_lambda = -2.0
    ours = HypergradRegularizedLR(outer_steps=0, lambda_init=log_lambda, inner_steps=10_000)
    ours.fit(X, y, X_val=X[:20], y_val=y[:20])
    reference = LogisticRegression(C=1.0 / (len(X) * np.exp(log_lambda)), tol=1e-14,
                                   max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=1e-6)


# -- bad input -----------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_refused(bad, digits08):
    X_tr, X_te, y_tr, y_te = digits08
    X_bad = X_tr.copy()
    X_bad[0, 0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        fast_lr().fit(X_bad, y_tr)
    X_val_bad = X_te.copy()
    X_val_bad[0, 0] = bad
    with pytest.raises(ValueError, match="Input X_val contains (NaN|infinity)"):
        fast_lr().fit(X_tr, y_tr, X_val=X_val_bad, y_val=y_te)


def test_validation_set_errors(digits08):
    X_tr, X_te, y_tr, y_te = digits08
    with pytest.raises(ValueError, match="X_val has 10 features, but the training set X has 64"
                       r"\. In a Pipeline, .*transform_input=\[\"X_val\"\]"):
        fast_lr().fit(X_tr, y_tr, X_val=X_te[:, :10], y_val=y_te)
    # scikit-learn's shape messages did not say which argument was at fault
    with pytest.raises(ValueError, match=r"^X_val: Found array with 0 sample\(s\)"):
        fast_lr().fit(X_tr, y_tr, X_val=X_te[:0], y_val=y_te[:0])
    with pytest.raises(ValueError, match="^X_val: Expected 2D array, got 1D array"):
        fast_lr().fit(X_tr, y_tr, X_val=X_te[0], y_val=y_te[:1])
    with pytest.raises(ValueError, match="together"):
        fast_lr().fit(X_tr, y_tr, X_val=X_te)
    with pytest.raises(ValueError, match="not seen in y"):
        fast_lr().fit(X_tr, y_tr, X_val=X_te, y_val=np.full(len(X_te), 5))
    with pytest.raises(ValueError, match="one label per row"):
        fast_lr().fit(X_tr, y_tr, X_val=X_te, y_val=y_te[:-1])
    # Missing labels are named as such (they read "absent from the training set: [nan]")
    missing = r"y_val has missing labels \(NaN, None or NA\)"
    with pytest.raises(ValueError, match=missing):
        fast_lr().fit(X_tr, y_tr, X_val=X_te[:3], y_val=np.array([0, None, 8], dtype=object))
    with pytest.raises(ValueError, match=missing):
        fast_lr().fit(X_tr, y_tr, X_val=X_te[:7], y_val=[np.nan] * 5 + [3.0, 0.0])
    with pytest.raises(ValueError, match=r"absent from the training set: \[3.0\] "):
        fast_lr().fit(X_tr, y_tr, X_val=X_te[:2], y_val=[3.0, 0.0])
    pd = pytest.importorskip("pandas")   # pandas' NA: bool(NA != NA) raises
    with pytest.raises(ValueError, match=missing):
        fast_lr().fit(X_tr, y_tr, X_val=X_te[:2], y_val=pd.Series([0, pd.NA], dtype="Int64")
                      .astype(object))


def test_validation_columns_are_checked_by_name(digits08):
    pd = pytest.importorskip("pandas")
    X_tr, X_te, y_tr, y_te = digits08
    names = [f"pixel{i}" for i in range(X_tr.shape[1])]
    train, trusted = pd.DataFrame(X_tr, columns=names), pd.DataFrame(X_te, columns=names)
    fast_lr().set_params(outer_steps=1).fit(train, y_tr, X_val=trusted, y_val=y_te)
    with pytest.raises(ValueError, match="X_val's columns do not match the training set"):
        fast_lr().set_params(outer_steps=1).fit(train, y_tr, X_val=trusted[names[::-1]],
                                                y_val=y_te)
    with pytest.warns(UserWarning, match="^X_val does not have valid feature names") as caught:
        fast_lr().set_params(outer_steps=1).fit(train, y_tr, X_val=X_te, y_val=y_te)
    assert caught[0].filename == __file__        # the caller's line, not skpoison's


def test_features_too_large_for_the_auto_rate_are_refused(digits08):
    X_tr, _, y_tr, _ = digits08
    with pytest.raises(ValueError, match="spectral norm of .X, 1. overflows float64"):
        fast_lr().fit(X_tr * 1e155, y_tr)
    # float32: a rate that underflows would leave the model untrained, silently
    with pytest.raises(ValueError, match="below the smallest normal float32"):
        fast_lr(dtype="float32").fit((X_tr * 1e22).astype(np.float32), y_tr)
    fast_lr(dtype="float32").fit((X_tr * 1e15).astype(np.float32), y_tr)   # still trains


def test_single_class_and_sparse_and_options(digits08):
    X_tr, _, y_tr, _ = digits08
    with pytest.raises(ValueError, match="1 class"):
        fast_lr().fit(X_tr, np.zeros(len(X_tr)))
    with pytest.raises(TypeError, match="[Ss]parse"):
        fast_lr().fit(sparse.csr_matrix(X_tr), y_tr)
    with pytest.raises(ValueError, match="penalty"):
        fast_lr(penalty="l3").fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="inner_lr"):
        fast_lr(inner_lr=0.0).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="outer_lr"):
        fast_lr(outer_lr=-1.0).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="lambda_mode"):
        fast_mlp(lambda_mode="per_feature").fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="lambda_bounds"):
        fast_lr(lambda_bounds=(1.0, -1.0)).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="lambda_init"):
        fast_lr(lambda_init=[0.0, 1.0]).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="auto"):
        fast_mlp(inner_lr="auto").fit(X_tr, y_tr)
    for device in ("mps", "meta"):   # torch device types skpoison does not run on
        with pytest.raises(ValueError, match=f"device='{device}' is not"):
            fast_lr(device=device).fit(X_tr, y_tr)


@pytest.mark.parametrize("params, match", [
    (dict(lambda_bounds=("a", "b")), "lambda_bounds=.* pair of floats"),
    (dict(lambda_bounds=([1.0], [2.0, 3.0])), "lambda_bounds=.* pair of floats"),
    (dict(lambda_bounds=(-1.0, 0.0, 1.0)), "lambda_bounds=.* pair of floats"),
    (dict(lambda_init=["a"]), "lambda_init=.* array of floats"),
    (dict(lambda_init=True), "not a bool"),
    (dict(lambda_bounds=("-12", "0")), "lambda_bounds=.* pair of floats"),
    (dict(lambda_bounds=(False, True)), "lambda_bounds=.* pair of floats"),
    (dict(lambda_init="-4"), "'lambda_init' parameter"),   # (scikit-learn's check)
    (dict(lambda_init=[[-4.0], [1.0, 2.0]]), "lambda_init=.* array of floats"),
    (dict(lambda_bounds=(-12, True)), "lambda_bounds=.* pair of floats"),   # NumPy: ints
    (dict(lambda_bounds=(-12.0, 800.0)), r"exp\(800\) overflows float64"),
])
def test_malformed_lambda_settings_name_the_parameter(digits08, params, match):
    X_tr, _, y_tr, _ = digits08
    with pytest.raises(ValueError, match=match):
        fast_lr(**params).fit(X_tr, y_tr)


def test_any_real_numbers_are_lambda_settings(digits08):
    from fractions import Fraction

    X_tr, _, y_tr, _ = digits08
    reference = fast_lr(lambda_init=-4.0, lambda_bounds=(-12.0, 0.0)).fit(X_tr, y_tr)
    for init, bounds in ((Fraction(-4), (np.float32(-12), 0)),
                         (np.array([-4.0], dtype=object), (Fraction(-12), np.int64(0))),
                         ([np.array(-4.0)], (torch.tensor(-12.0), np.array(0.0))),
                         (list(torch.tensor([-4.0])), [-12.0, 0.0])):
        other = fast_lr(lambda_init=init, lambda_bounds=bounds).fit(X_tr, y_tr)
        np.testing.assert_array_equal(other.lambda_, reference.lambda_)


def test_array_like_settings_as_in_scikit_learn(digits08):
    X_tr, _, y_tr, _ = digits08
    reference = fast_mlp(hidden_layer_sizes=(6,), lambda_bounds=(-8.0, 0.0)).fit(X_tr, y_tr)
    arrays = fast_mlp(hidden_layer_sizes=np.array([6]),
                      lambda_bounds=np.array([-8.0, 0.0])).fit(X_tr, y_tr)
    np.testing.assert_array_equal(arrays.coefs_[0], reference.coefs_[0])


@pytest.mark.parametrize("sizes", [True, (True, 4), (0,), (2.0,)])
def test_hidden_layer_sizes_must_be_positive_integers_not_bools(digits08, sizes):
    # (True was read as one hidden unit)
    X_tr, _, y_tr, _ = digits08
    with pytest.raises(ValueError, match="hidden_layer_sizes.* must be (positive integers|an "
                                         "array-like or an int in the range .* Got True)"):
        fast_mlp(hidden_layer_sizes=sizes).fit(X_tr, y_tr)


@pytest.mark.parametrize("param", ["inner_steps", "inner_lr", "outer_steps", "outer_lr",
                                   "final_steps", "validation_fraction", "checkpoint_every"])
@pytest.mark.parametrize("flag", [True, np.True_])
def test_counts_and_rates_refuse_bools(digits08, param, flag):
    # (scikit-learn's Interval took True for 1: inner_steps=True trained one
    # step, outer_lr=True stepped by 1.0; final_steps=True failed deep in the
    # engine without naming final_steps, a review found)
    X_tr, _, y_tr, _ = digits08
    with pytest.raises(ValueError, match=f"The '{param}' parameter .* Got {flag!r} instead"):
        fast_lr().set_params(**{param: flag}).fit(X_tr, y_tr)


def test_y_val_column_is_accepted_with_a_warning(digits08):
    from sklearn.exceptions import DataConversionWarning

    X_tr, X_te, y_tr, y_te = digits08
    reference = fast_lr().fit(X_tr, y_tr, X_val=X_te, y_val=y_te)
    with pytest.warns(DataConversionWarning):
        column = fast_lr().fit(X_tr, y_tr, X_val=X_te, y_val=y_te[:, None])
    np.testing.assert_array_equal(column.coef_, reference.coef_)


def test_internal_split_auto_rate_is_stable_for_the_final_fit():
    # One far outlier: wherever the split puts it, "auto" must be stable on all of X.
    rng = np.random.RandomState(0)
    X = rng.rand(50, 3)
    X[7] = 60.0
    y = np.arange(50) % 2
    full = HypergradRegularizedLR()._auto_inner_lr(X, 1, float(np.exp(0.0)))
    for seed in range(6):
        clf = HypergradRegularizedLR(inner_steps=5, outer_steps=1, random_state=seed).fit(X, y)
        assert clf.inner_lr_ <= full * (1 + 1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unstable_l2_rate_fails_in_every_dtype(digits08, dtype):
    # inner_lr * exp(λ) >= 2: float32 overflowed, float64 returned a finite
    # 1e46 model; both now raise, naming the cause.
    X_tr, _, y_tr, _ = digits08
    lr = HypergradRegularizedLR(inner_lr=1.0, lambda_init=1.0, lambda_bounds=(-12.0, 1.0),
                                outer_steps=0, dtype=dtype)
    mlp = HypergradMLP((8,), lambda_init=4.0, lambda_bounds=(-12.0, 4.0), outer_steps=0,
                       inner_steps=50, random_state=0, dtype=dtype)
    for estimator in (lr, mlp):
        with pytest.raises(InnerDivergenceError, match="largest L2 weight exp"):
            estimator.fit(X_tr, y_tr)


def test_an_exploding_l1_run_fails_though_it_stays_finite(digits08):
    # Under L1 the objective may end above its start (the subgradient zigzag),
    # so only L2 was checked: this network returned a model with a validation
    # loss of 1e50 and weights near 1e25.
    X_tr, X_te, y_tr, y_te = digits08
    mlp = HypergradMLP((5,), penalty="l1", inner_lr=1.0, inner_steps=20, outer_steps=0,
                       random_state=0)
    with pytest.raises(InnerDivergenceError, match="training objective rose"):
        mlp.fit(X_tr * 96, y_tr, X_val=X_te * 96, y_val=y_te)
    mlp.set_params(inner_lr=0.1).fit(X_tr, y_tr, X_val=X_te, y_val=y_te)  # (a sound one passes)


@pytest.mark.parametrize("steps", [199, 200])
def test_a_large_l1_penalty_zigzags_without_failing(digits08, steps):
    # inner_lr="auto" at λ = 6 makes lr α ≈ 0.99: every weight swings by about
    # that much each step, and the objective ends ~1e4 above its start at even
    # T (the first L1 check called that divergence), below it at odd T.
    X_tr, X_te, y_tr, y_te = digits08
    clf = HypergradRegularizedLR(penalty="l1", lambda_init=6.0, lambda_bounds=(-12.0, 6.0),
                                 inner_steps=steps, outer_steps=0)
    clf.fit(X_tr, y_tr, X_val=X_te, y_val=y_te)
    assert np.isfinite(clf.coef_).all()


def test_diverging_inner_run_names_the_learning_rate(digits08):
    X_tr, _, y_tr, _ = digits08
    with pytest.raises(InnerDivergenceError, match="learning rate"):
        HypergradMLP((6,), inner_lr=1e6, inner_steps=50, outer_steps=1,
                     random_state=0).fit(X_tr * 100, y_tr)


def test_a_trusted_set_shifted_down_warns_like_one_shifted_up(digits08):
    # The distance between the means is a distance: its sign must not matter.
    X_tr, X_te, _, _ = digits08
    for offset in (5.0, -5.0):
        with pytest.warns(TrustedSetWarning, match="X_val does not look like"):
            check_trusted_scale(X_tr, X_te + offset)


def test_the_pooled_check_sees_a_shift_with_honest_spreads():
    # Most columns one-hot (medians fine), 8 columns shifted by 1000 standard
    # deviations with their spread intact: only the pooled distance shows it.
    rng = np.random.default_rng(0)
    X = np.hstack([rng.normal(size=(400, 8)), np.eye(40)[rng.integers(0, 40, 400)]])
    X_val = np.hstack([rng.normal(size=(100, 8)) + 1000.0,
                       np.eye(40)[rng.integers(0, 40, 100)]])
    with pytest.warns(TrustedSetWarning):
        check_trusted_scale(X, X_val)


def test_a_trusted_set_of_exactly_the_minimum_rows_is_judged(digits08):
    # "Sets of fewer than 10 rows are not judged": 10 rows are.
    X_tr, X_te, _, _ = digits08
    with pytest.warns(TrustedSetWarning):
        check_trusted_scale(X_tr, X_te[:10] * 16.0 - 8.0)


@pytest.mark.parametrize("lambda_init, expected", [(5.0, 0.0), (-20.0, -10.0)])
def test_lambda_init_outside_the_bounds_is_projected(digits08, lambda_init, expected):
    X_tr, X_te, y_tr, y_te = digits08
    clf = HypergradRegularizedLR(lambda_init=lambda_init, lambda_bounds=(-10.0, 0.0),
                                 inner_steps=5, inner_lr=0.01, outer_steps=0)
    with pytest.warns(UserWarning, match=r"lies outside lambda_bounds=\(-10, 0\) and starts "
                                         "clipped"):
        clf.fit(X_tr, y_tr, X_val=X_te, y_val=y_te)
    assert clf.lambda_.tolist() == [expected]
    assert clf.lambda_path_[0].tolist() == [expected]


# (tiny classes on purpose: the unstratified split's warning is not the point)
@pytest.mark.filterwarnings("ignore:The split of X:UserWarning")
def test_the_internal_validation_split_rounds_up(digits08, monkeypatch):
    # validation_fraction * n = 0.6: one trusted row (ceil), as scikit-learn's
    # float test_size; rounding down would hold out none.
    import skpoison.estimators._base as base

    sizes = []
    real = base.train_test_split

    def spy(*arrays, **kwargs):
        sizes.append(kwargs["test_size"])
        return real(*arrays, **kwargs)

    monkeypatch.setattr(base, "train_test_split", spy)
    X_tr, _, y_tr, _ = digits08
    X, y = np.vstack([X_tr[y_tr == 0][:6], X_tr[y_tr == 8][:6]]), np.repeat([0, 8], 6)
    HypergradRegularizedLR(inner_steps=5, outer_steps=1, validation_fraction=0.05,
                           random_state=0).fit(X, y)
    assert sizes and set(sizes) == {1}


def test_a_randomstate_instance_seeds_the_initial_weights(digits08):
    # A RandomState instance is drawn from (skpoison/_torch_utils.py make_generator):
    # different instances give different initial networks, equal ones the same.
    X_train, X_val, y_train, y_val = digits08

    def first_layer(random_state):
        mlp = fast_mlp(inner_steps=1, outer_steps=0, random_state=random_state)
        return mlp.fit(X_train, y_train, X_val=X_val, y_val=y_val).coefs_[0]

    one, two = (first_layer(np.random.RandomState(seed)) for seed in (1, 2))
    assert not np.array_equal(one, two)
    np.testing.assert_array_equal(one, first_layer(np.random.RandomState(1)))


@pytest.mark.parametrize("layout", ["C", "F", "float32", "one column", "over 2000 rows"])
def test_the_scale_checks_statistics_are_numpys_to_the_bit(layout):
    # The check reads its rows once (no np.std after np.mean), with the same sums.
    X = np.random.default_rng(0).normal(size=(300, 7)) * 1e3 + 5.0
    X = {"C": X, "F": np.asfortranarray(X), "float32": X.astype(np.float32),
         "one column": X[:, :1], "over 2000 rows": np.tile(X, (8, 1))}[layout]
    mean, std = _column_stats(_rows(X))
    if len(X) > _SCALE_CHECK_MAX_ROWS:     # (the same rows as the check reads)
        rows = np.random.default_rng(0).choice(len(X), _SCALE_CHECK_MAX_ROWS, replace=False)
        X = X[np.sort(rows)]
    X = X.astype(np.float64)
    assert np.array_equal(mean, X.mean(axis=0)) and np.array_equal(std, X.std(axis=0))


def test_a_column_of_trusted_labels_is_named_at_the_callers_line(digits08):
    # scikit-learn's column_or_1d warned about "y", from a line inside skpoison
    X_tr, X_te, y_tr, y_te = digits08
    with pytest.warns(DataConversionWarning, match="column-vector y_val was passed") as caught:
        fast_lr().fit(X_tr, y_tr, X_val=X_te, y_val=y_te[:, None])
    assert {record.filename for record in caught} == {__file__}


@pytest.mark.parametrize("n_classes", [2, 3])
def test_mlp_predictions_are_the_trained_networks_scores(n_classes):
    # decision_function runs the network in NumPy; the model trained is torch's
    # (models/_mlp_derivatives.py): the two forward passes must stay one function.
    from skpoison.models import MLPProblem

    X, y = load_digits(n_class=n_classes, return_X_y=True)
    X = X / 16.0
    clf = HypergradMLP((6, 4), inner_steps=30, inner_lr=0.5, outer_steps=1,
                       random_state=0).fit(X, y)
    pieces = [t for W, b in zip(clf.coefs_, clf.intercepts_) for t in (W.ravel(), b)]
    problem = MLPProblem(X.shape[1], (6, 4), 1 if n_classes == 2 else n_classes)
    w = torch.as_tensor(np.concatenate(pieces))
    scores = problem.decision_scores(w, torch.as_tensor(X)).numpy()
    pre = X @ clf.coefs_[0] + clf.intercepts_[0]
    assert (pre < 0).any()            # (the activation's negative side is reached)
    np.testing.assert_allclose(clf.decision_function(X),
                               scores.ravel() if n_classes == 2 else scores,
                               rtol=1e-12, atol=1e-12)


def test_random_state_none_draws_from_numpys_global_state():
    # scikit-learn's convention (MLPClassifier's weights follow np.random.seed);
    # the initial weights came from fresh OS entropy instead.
    X, y = load_digits(n_class=2, return_X_y=True)
    fits = []
    for _ in range(2):
        np.random.seed(0)
        fits.append(HypergradMLP((4,), inner_steps=10, inner_lr=0.5, outer_steps=0)
                    .fit(X[:100] / 16, y[:100]).coefs_[0])
    np.testing.assert_array_equal(fits[0], fits[1])
