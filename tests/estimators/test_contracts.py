"""Contracts of the estimators that no other test pins (from a mutation round)."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from skpoison import HypergradMLP, HypergradRegularizedLR
from skpoison.estimators._spectral import squared_spectral_norm


def test_internal_split_final_fit_trains_on_all_of_X(digits08_pool):
    # E2: without X_val, λ is learned on a held-out part, then the model is refit on all X.
    X, y = digits08_pool[0][:150], digits08_pool[1][:150]
    params = dict(inner_steps=40, inner_lr=1.0, outer_steps=0, random_state=0)
    internal = HypergradRegularizedLR(**params).fit(X, y)
    given = HypergradRegularizedLR(**params).fit(X, y, X_val=X[:20], y_val=y[:20])
    np.testing.assert_array_equal(internal.coef_, given.coef_)
    np.testing.assert_array_equal(internal.intercept_, given.intercept_)


def test_internal_split_is_stratified():
    # E13: the held-out trusted part keeps the class proportions.
    rng = np.random.RandomState(0)
    X, y = rng.rand(100, 3), np.r_[np.zeros(90, int), np.ones(10, int)]
    for seed in range(5):
        clf = HypergradRegularizedLR(validation_fraction=0.2, random_state=seed)
        _, _, _, y_val = clf._internal_split(X, y)
        assert np.bincount(y_val).tolist() == [18, 2]


def test_auto_rate_is_one_over_the_smoothness_bound():
    # E9: 1 / (||[X 1]||^2 / (4n) + exp(high)) binary, / (2n) multiclass.
    X, y = load_digits(n_class=3, return_X_y=True)
    X = X / 16.0
    for n_classes, divisor in ((2, 4.0), (3, 2.0)):
        keep = y < n_classes
        Xk, yk = X[keep], y[keep]
        clf = HypergradRegularizedLR(outer_steps=0, inner_steps=1).fit(
            Xk, yk, X_val=Xk[:10], y_val=yk[:10])
        expected = 1.0 / (squared_spectral_norm(Xk) / len(Xk) / divisor + np.exp(0.0))
        assert clf.inner_lr_ == pytest.approx(expected, rel=1e-12)


def test_auto_rate_refuses_a_per_sample_step_below_the_normal_range(digits08_pool):
    # E8: the rate itself is a normal float32, inner_lr / n_samples is not.
    X, y = digits08_pool
    tiny = float(np.finfo(np.float32).tiny)
    scale = np.sqrt(16.0 / (tiny * squared_spectral_norm(X)))
    Xs = (X * scale).astype(np.float32)
    clf = HypergradRegularizedLR(dtype="float32", outer_steps=0, inner_steps=5)
    lr = clf._auto_inner_lr(Xs, 1, 1.0)
    assert lr > tiny and lr / len(Xs) < tiny   # the case under test
    with pytest.raises(ValueError, match="below the smallest normal float32"):
        clf.fit(Xs, y, X_val=Xs[:10], y_val=y[:10])


@pytest.mark.parametrize("estimator", [
    HypergradRegularizedLR(dtype="float32", outer_steps=1, inner_steps=5),
    HypergradMLP((4,), dtype="float32", outer_steps=1, inner_steps=5),
])
def test_a_given_inner_lr_whose_step_underflows_is_refused(digits08_pool, estimator):
    # inner_lr=1e-50 in float32 trained nothing and predicted one class, silently.
    X, y = digits08_pool
    X = X.astype(np.float32)
    tiny = float(np.finfo(np.float32).tiny)
    with pytest.raises(ValueError, match=r"inner_lr=1e-50 for \d+ training points: the step "
                                         r"inner_lr / n_samples = .* below the smallest normal "
                                         r"float32 .*raise inner_lr, or use dtype='float64'"):
        clone(estimator).set_params(inner_lr=1e-50).fit(X, y, X_val=X[:10], y_val=y[:10])
    # the bound is the step, not the rate: just above it still fits, in float32 and float64
    at_bound = 2 * tiny * len(X)
    clone(estimator).set_params(inner_lr=at_bound).fit(X, y, X_val=X[:10], y_val=y[:10])
    clone(estimator).set_params(inner_lr=1e-50, dtype="float64").fit(
        X, y, X_val=X[:10], y_val=y[:10])
    with pytest.raises(ValueError, match=r"below the smallest normal float64 .*; raise "
                                         r"inner_lr\.$"):
        clone(estimator).set_params(inner_lr=1e-310, dtype="float64").fit(
            X, y, X_val=X[:10], y_val=y[:10])


def test_an_auto_rate_set_by_a_wide_lambda_box_warns(digits08_pool):
    # lambda_bounds=(-12, 20) made inner_lr='auto' 2e-9: the model came back
    # untrained (probabilities ~0.5) and λ stuck at its start, with nothing said.
    X, y = digits08_pool
    fit_args = (X[:250], y[:250])
    trusted = dict(X_val=X[250:300], y_val=y[250:300])
    wide = HypergradRegularizedLR(lambda_bounds=(-12.0, 20.0), outer_steps=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"inner_lr='auto' is 2\.\d+e-09, small enough "
                                                r"to stay stable up to .*exp\(20\).* Lower "
                                                r"lambda_bounds\[1\]"):
        wide.fit(*fit_args, **trusted)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # the default box, a box whose top λ is the one learned, a given rate: silent
        HypergradRegularizedLR(outer_steps=3, random_state=0).fit(*fit_args, **trusted)
        HypergradRegularizedLR(lambda_bounds=(-12.0, 5.0), lambda_init=5.0, outer_steps=0,
                               random_state=0).fit(*fit_args, **trusted)
        clone(wide).set_params(inner_lr=0.2).fit(*fit_args, **trusted)


def test_mlp_decision_function_is_the_leaky_relu_network(digits08_pool):
    # E10: predict's numpy forward pass must be the trained (LeakyReLU) network.
    X, y = digits08_pool
    clf = HypergradMLP((6,), inner_steps=30, inner_lr=0.3, outer_steps=0,
                       random_state=0).fit(X, y)
    (W0, W1), (b0, b1) = [torch.as_tensor(c) for c in clf.coefs_], \
        [torch.as_tensor(b) for b in clf.intercepts_]
    pre = torch.as_tensor(X) @ W0 + b0
    assert (pre < 0).any()
    expected = (torch.nn.functional.leaky_relu(pre, 0.01) @ W1 + b1).numpy().ravel()
    np.testing.assert_allclose(clf.decision_function(X), expected, rtol=1e-12, atol=1e-12)
