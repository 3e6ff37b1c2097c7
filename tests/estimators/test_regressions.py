"""Regression tests for defects found in review."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import DataConversionWarning

from skpoison import HypergradMLP, HypergradRegularizedLR, OptimalPoisoner, hypergradient


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(n_class=2, return_X_y=True)
    return X / 16.0, y


def test_negative_stride_views_are_accepted(digits):
    X, y = digits
    est = HypergradRegularizedLR(inner_steps=20, outer_steps=1)
    a = est.fit(X[::-1][:200], y[::-1][:200], X_val=X[::-1][200:260], y_val=y[::-1][200:260])
    b = HypergradRegularizedLR(inner_steps=20, outer_steps=1).fit(
        np.ascontiguousarray(X[::-1][:200]), y[::-1][:200],
        X_val=np.ascontiguousarray(X[::-1][200:260]), y_val=y[::-1][200:260])
    np.testing.assert_array_equal(a.coef_, b.coef_)
    hypergradient(HypergradRegularizedLR(inner_steps=20), X[:, ::-1][:100], y[:100],
                  X[:, ::-1][100:150], y[100:150])


def test_auto_step_is_stable_for_lambda_above_the_bounds(digits):
    X, y = digits
    est = HypergradRegularizedLR(inner_steps=100)
    res = hypergradient(est, X[:200], y[:200], X[200:260], y[200:260], log_lambda=4.0)
    assert res.val_loss < np.log(2) + 1e-6  # strong L2 pulls towards w = 0, loss ~ log 2
    poisoner = OptimalPoisoner(est, ratios=(0.05,), batch_size=10, hyperparams="fixed",
                               fixed_lambda=4.0, outer_steps=2, random_state=0)
    poisoner.fit(X[:200], y[:200], X_val=X[200:260], y_val=y[200:260])
    assert poisoner.results_[-1].val_loss < 1.0


def test_mlp_initialization_does_not_depend_on_dtype(digits):
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(4,), inner_steps=1, outer_steps=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = HypergradMLP(dtype="float64", **kwargs).fit(X, y)
        b = HypergradMLP(dtype="float32", **kwargs).fit(X, y)
    np.testing.assert_allclose(a.coefs_[0], b.coefs_[0], atol=1e-5)


def test_probabilities_do_not_overflow(digits):
    X, y = digits
    clf = HypergradRegularizedLR(inner_steps=50, outer_steps=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = clf.predict_proba(X * 1e4)
        log_proba = clf.predict_log_proba(X * 1e4)
    assert np.isfinite(proba).all() and np.isfinite(log_proba).all()
    np.testing.assert_allclose(np.exp(log_proba), proba, atol=1e-12)


def test_hypergradient_validates_its_estimator_and_lambda(digits):
    X, y = digits
    args = (X[:100], y[:100], X[100:150], y[100:150])
    with pytest.raises(ValueError, match="inner_steps"):
        hypergradient(HypergradRegularizedLR(inner_steps=0), *args)
    with pytest.raises(ValueError, match="NaN"):
        hypergradient(HypergradRegularizedLR(), *args, log_lambda=np.nan)
    with pytest.warns(DataConversionWarning, match="y_train"):   # (a column, taken as fit does)
        res = hypergradient(HypergradRegularizedLR(inner_steps=10), X[:100], y[:100, None],
                            X[100:150], y[100:150])
    assert np.isfinite(res.val_loss)


def test_failed_fit_does_not_leave_a_fitted_looking_estimator(digits):
    from sklearn.exceptions import NotFittedError

    X, y = digits
    clf = HypergradRegularizedLR(inner_steps=10, outer_steps=1).fit(X, y)
    with pytest.raises(ValueError, match="not seen in y"):
        clf.fit(X, y, X_val=X[:5], y_val=np.full(5, 7))
    with pytest.raises(NotFittedError):
        clf.predict(X)


@pytest.mark.filterwarnings("ignore:The split of X:UserWarning")   # (3 rows on purpose)
def test_a_fit_whose_training_objective_overflowed_to_nan_raises():
    # Features of 1e30 and a fixed step: the weights stay finite (~1e146), but the
    # scores overflow to +inf and -inf, so the softmax objective is NaN. The fit
    # used to pass the divergence check (NaN never compares above the start) and
    # return a model that predicts NaN probabilities.
    from skpoison.hypergrad import InnerDivergenceError

    X = np.array([[1.25730221], [-1.32104863], [6.40422650]]) * 1e30
    est = HypergradMLP(hidden_layer_sizes=(3,), inner_steps=5, outer_steps=0, random_state=0)
    with pytest.raises(InnerDivergenceError, match="training objective"):
        est.fit(X, [1, 2, 0])
    assert not hasattr(est, "coefs_")
