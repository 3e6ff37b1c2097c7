"""The warning for features whose scales differ too widely for gradient descent."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skpoison import HypergradMLP, HypergradRegularizedLR, hypergradient

SPREAD = "The features' scales differ widely: column 0's root mean square"


@pytest.fixture(scope="module")
def one_huge_column():
    # digits' first pixel is always 0: replaced by a feature of scale 1e4, next to
    # pixels in [0, 1]. inner_lr="auto" was then 4e-8 and the model predicted at
    # chance (test accuracy 0.51, against 1.00 standardized), with nothing said.
    X, y = load_digits(n_class=2, return_X_y=True)
    X = X / 16
    X[:, 0] = np.random.RandomState(0).normal(0, 1e4, len(X))
    return X[:250], y[:250], X[250:], y[250:]


def test_fit_warns_once_and_a_scaler_silences_it(one_huge_column):
    X, y, X_test, y_test = one_huge_column
    model = HypergradRegularizedLR(outer_steps=2, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)           # (an internal split: two set-ups, one warning)
    spread = [w for w in caught if issubclass(w.category, ConvergenceWarning)
              and str(w.message).startswith(SPREAD)]
    assert len(spread) == 1 and spread[0].filename == __file__
    assert "times the median column's" in str(spread[0].message)
    assert model.score(X_test, y_test) < 0.7       # what it warns of: barely trained
    scaled = make_pipeline(StandardScaler(), HypergradRegularizedLR(outer_steps=2,
                                                                    random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert scaled.fit(X, y).score(X_test, y_test) > 0.95


def test_networks_and_the_hypergradient_helper_warn_too(one_huge_column):
    X, y, X_val, y_val = one_huge_column
    with pytest.warns(ConvergenceWarning, match=SPREAD):
        hypergradient(HypergradRegularizedLR(inner_steps=5), X, y, X_val, y_val)
    with pytest.warns(ConvergenceWarning, match=SPREAD):
        HypergradMLP((3,), inner_steps=5, outer_steps=0, inner_lr=1e-9,
                     random_state=0).fit(X, y)


SMALL = "The features are small: the median column's root mean square"


@pytest.mark.parametrize("Model", [HypergradRegularizedLR, HypergradMLP])
def test_small_features_warn(Model):
    # Features all 100 times smaller than [0, 1]: no column stands out, but the
    # intercept's column of ones (LR's "auto" rate: its curvature, 1/4, against
    # the features' 1e-4) set the step, and the model predicted one class for
    # every point (accuracy 0.5 against 0.93 unscaled), with nothing said.
    from sklearn.datasets import make_classification
    X, y = make_classification(300, 10, random_state=0)
    with pytest.warns(ConvergenceWarning, match=SMALL):
        small = Model(random_state=0, outer_steps=3).fit(X[:200] * 0.01, y[:200])
    assert small.score(X[200:] * 0.01, y[200:]) < 0.6      # what it warns of
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = Model(random_state=0, outer_steps=3).fit(X[:200], y[:200])
    assert model.score(X[200:], y[200:]) > 0.85


@pytest.mark.parametrize("scale, dtype", [(1.0, np.float64), (1e150, np.float64),
                                          (1e25, np.float32)])
def test_features_on_one_scale_pass_whatever_it_is(scale, dtype):
    # (1e150 and float32's 1e25: their squares overflow, the spread does not)
    X = (np.random.RandomState(0).rand(60, 5) * scale).astype(dtype)
    X[:, 2] = 0.0                                  # (a constant zero column: not counted)
    from skpoison.estimators._feature_scales import check_feature_scales
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_feature_scales(X, inner_steps=10)


@pytest.mark.parametrize("scale, dtype", [(0.05, np.float64), (1e-30, np.float64),
                                          (1e-200, np.float64), (1e-25, np.float32)])
def test_features_on_one_small_scale_warn(scale, dtype):
    # (1e-200 and float32's 1e-25: their squares round to 0, and the check took
    # every column for a zero column and said nothing, a review found)
    X = (np.random.RandomState(0).rand(60, 5) * scale).astype(dtype)   # (median RMS 0.58 * scale)
    from skpoison.estimators._feature_scales import check_feature_scales
    with pytest.warns(ConvergenceWarning, match=SMALL):
        check_feature_scales(X, inner_steps=10)


def test_columns_that_underflow_beside_a_normal_one_are_judged():
    # (one normal column kept the check from rescaling: the others passed for zero)
    from skpoison.estimators._feature_scales import feature_scale_problem
    rng = np.random.RandomState(0)
    problem = feature_scale_problem(np.c_[rng.rand(50, 1), rng.rand(50, 4) * 1e-200])
    assert problem is not None and "median column's root mean square, 5.64e-201" in problem


def test_an_all_zero_design_is_not_judged():
    from skpoison.estimators._feature_scales import feature_scale_problem
    assert feature_scale_problem(np.zeros((20, 3))) is None


def test_indicator_columns_do_not_count_as_small_features():
    # Rare one-hot categories have a small root mean square, not small units:
    # rescaling them did not train better, so they do not make the median.
    from skpoison.estimators._feature_scales import check_feature_scales
    rng = np.random.RandomState(0)
    codes = rng.zipf(1.5, size=(500, 5)) % 100
    one_hot = np.concatenate([np.eye(100)[codes[:, j]] for j in range(5)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_feature_scales(one_hot, inner_steps=10)
    small = np.hstack([one_hot, rng.rand(500, 3) * 0.01])     # ... but small numbers do
    with pytest.warns(ConvergenceWarning, match=SMALL):
        check_feature_scales(small, inner_steps=10)
