"""HypergradRegularizedLR(l1_step=...): proximal L1 steps in the estimator."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from skpoison import HypergradMLP, HypergradRegularizedLR


@pytest.fixture(scope="module")
def split(digits08_pool):
    X, y = digits08_pool
    return X[:150], y[:150], X[150:200], y[150:200]


def _fit(split, **params):
    X, y, X_val, y_val = split
    settings = dict(penalty="l1", inner_steps=100, outer_steps=4, random_state=0)
    return HypergradRegularizedLR(**{**settings, **params}).fit(X, y, X_val=X_val, y_val=y_val)


def test_the_default_is_the_papers_subgradient_step():
    assert HypergradRegularizedLR().l1_step == "subgradient"


@pytest.mark.parametrize("bad", ["ista", "Proximal", None, 1])
def test_an_unknown_step_is_refused(split, bad):
    with pytest.raises(InvalidParameterError, match="l1_step"):
        _fit(split, l1_step=bad)


def test_proximal_steps_give_exact_zeros_that_settle_as_T_grows(split):
    # A fixed, large λ: most weights' optimum is 0 (the digits' always-blank
    # pixels are 0 under either step; the others zigzag under subgradient steps).
    fits = {(step, steps): _fit(split, l1_step=step, inner_steps=steps, outer_steps=0,
                                lambda_init=-2.5, inner_lr=0.5)
            for step in ("subgradient", "proximal") for steps in (1500, 1501)}
    prox, prox_next = fits["proximal", 1500], fits["proximal", 1501]
    sub, sub_next = fits["subgradient", 1500], fits["subgradient", 1501]
    assert (prox.coef_ == 0).sum() > (sub.coef_ == 0).sum() + 10
    np.testing.assert_array_equal(prox.coef_ == 0, prox_next.coef_ == 0)
    lr_alpha = 0.5 * np.exp(-2.5)
    # (this problem converges slowly: 2e-4 here, 2e-5 after 3000 steps)
    assert np.abs(prox.coef_ - prox_next.coef_).max() < 0.01 * lr_alpha
    assert np.abs(sub.coef_ - sub_next.coef_).max() > 0.5 * lr_alpha


def test_forward_mode_learns_reverse_modes_lambda(split):
    reference = _fit(split, l1_step="proximal")
    forward = _fit(split, l1_step="proximal", hypergrad="fmd")
    np.testing.assert_allclose(forward.lambda_path_, reference.lambda_path_, rtol=1e-10)


@pytest.mark.filterwarnings("ignore::skpoison.hypergrad.InnerNotConvergedWarning")
@pytest.mark.parametrize("hypergrad", ["cg", "exact"])
def test_the_implicit_methods_learn_about_reverse_modes_lambda(split, hypergrad):
    # Nearly long enough for the implicit route's optimum (its residual check still
    # warns): its λ is close, not equal.
    reference = _fit(split, l1_step="proximal", inner_steps=2000, inner_lr=0.5)
    implicit = _fit(split, l1_step="proximal", inner_steps=2000, inner_lr=0.5,
                    hypergrad=hypergrad)
    np.testing.assert_allclose(implicit.lambda_path_, reference.lambda_path_, atol=0.01)


def test_l1_step_is_ignored_under_l2(split):
    default = _fit(split, penalty="l2")
    proximal = _fit(split, penalty="l2", l1_step="proximal")
    np.testing.assert_array_equal(default.coef_, proximal.coef_)
    np.testing.assert_array_equal(default.lambda_, proximal.lambda_)


def test_clone_keeps_the_step():
    assert clone(HypergradRegularizedLR(l1_step="proximal")).l1_step == "proximal"


def test_the_auto_rate_of_proximal_steps_does_not_shrink_with_the_box(split):
    # A proximal step is stable below 2 / L whatever λ: "auto" took
    # 1 / (L + exp(lambda_bounds[1])), 48 times too small at a box top of 5,
    # and warned that the box, not the data, set it.
    X, y, X_val, y_val = split
    rates = {}
    for step in ("subgradient", "proximal"):
        for top in (0.0, 5.0):
            model = HypergradRegularizedLR(penalty="l1", l1_step=step, lambda_bounds=(-12, top),
                                           inner_steps=20, outer_steps=1)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model.fit(X, y, X_val=X_val, y_val=y_val)
            rates[step, top] = model.inner_lr_
            if step == "proximal":
                assert not [w for w in caught if "small enough to stay stable" in str(w.message)]
    assert rates["proximal", 0.0] == rates["proximal", 5.0]
    assert rates["subgradient", 5.0] < rates["subgradient", 0.0] < rates["proximal", 0.0]
    assert rates["proximal", 0.0] == pytest.approx(1 / (1 / rates["subgradient", 0.0] - 1.0))


def _fit_mlp(split, **params):
    X, y, X_val, y_val = split
    settings = dict(hidden_layer_sizes=(6,), penalty="l1", inner_steps=60, outer_steps=3,
                    random_state=0)
    return HypergradMLP(**{**settings, **params}).fit(X, y, X_val=X_val, y_val=y_val)


def test_networks_take_the_step_too(split):
    assert HypergradMLP().l1_step == "subgradient"
    assert clone(HypergradMLP(l1_step="proximal")).l1_step == "proximal"
    with pytest.raises(InvalidParameterError, match="l1_step"):
        _fit_mlp(split, l1_step="ista")
    default = _fit_mlp(split)
    explicit = _fit_mlp(split, l1_step="subgradient")
    np.testing.assert_array_equal(default.lambda_path_, explicit.lambda_path_)
    l2 = [_fit_mlp(split, penalty="l2", l1_step=step) for step in ("subgradient", "proximal")]
    np.testing.assert_array_equal(l2[0].coefs_[0], l2[1].coefs_[0])


def test_proximal_networks_have_exact_zeros_and_both_modes_learn_the_same_lambda(split):
    fits = {steps: _fit_mlp(split, l1_step="proximal", lambda_init=-2.5, inner_steps=steps,
                            outer_steps=0, inner_lr=0.2) for steps in (1500, 1501)}
    zeros = [np.concatenate([W.ravel() for W in fit.coefs_]) == 0 for fit in fits.values()]
    assert zeros[0].any() and not zeros[0].all()
    np.testing.assert_array_equal(zeros[0], zeros[1])
    sub = _fit_mlp(split, lambda_init=-2.5, inner_steps=1500, outer_steps=0, inner_lr=0.2)
    assert not any((W == 0).any() for W in sub.coefs_)
    reverse = _fit_mlp(split, l1_step="proximal", lambda_mode="per_layer")
    forward = _fit_mlp(split, l1_step="proximal", lambda_mode="per_layer", hypergrad="fmd")
    np.testing.assert_allclose(forward.lambda_path_, reverse.lambda_path_, rtol=1e-10)
