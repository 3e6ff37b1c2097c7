"""How many steps on λ a fit takes: with ``tol`` / ``n_iter_no_change`` it stops at a
plateau of the validation loss; with ``outer_steps=0`` it learns none and holds out no
trusted set."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from skpoison import HypergradMLP, HypergradRegularizedLR
from skpoison.estimators._outer import ValidationPlateau


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(n_class=2, return_X_y=True)
    return X[:200] / 16, y[:200]


def _lr(**params):
    return HypergradRegularizedLR(**{"inner_steps": 30, "outer_steps": 12, "outer_lr": 0.3,
                                     "random_state": 0, **params})


def _fit_quietly(estimator, X, y, **trusted):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return estimator.fit(X, y, **trusted)


def test_a_plateau_stops_the_descent_and_keeps_its_steps(digits):
    full = _fit_quietly(_lr(), *digits)
    # Every step after the first improves by less than 10: a plateau after 1 + 3 steps.
    stopped = _fit_quietly(_lr(tol=10.0, n_iter_no_change=3), *digits)
    assert (full.n_iter_, stopped.n_iter_) == (12, 4)
    assert stopped.lambda_path_.shape == (5, 1) and stopped.val_loss_path_.shape == (4,)
    # The steps taken are those of the full run, and the learned λ the last of them.
    np.testing.assert_array_equal(stopped.lambda_path_, full.lambda_path_[:5])
    np.testing.assert_array_equal(stopped.val_loss_path_, full.val_loss_path_[:4])
    np.testing.assert_array_equal(stopped.lambda_, stopped.lambda_path_[-1])
    # ... and the final model is trained with it.
    refit = _fit_quietly(_lr(lambda_init=float(stopped.lambda_[0]), outer_steps=0), *digits)
    np.testing.assert_array_equal(stopped.coef_, refit.coef_)


def test_tol_stops_where_the_loss_stops_improving_by_tol(digits):
    full = _fit_quietly(_lr(outer_steps=40), *digits)
    tol, patience = 1e-4, 2
    stopped = _fit_quietly(_lr(outer_steps=40, tol=tol, n_iter_no_change=patience), *digits)
    losses = full.val_loss_path_
    best = np.minimum.accumulate(losses)
    gains = np.concatenate([[np.inf], best[:-1] - losses[1:]])     # below the best before
    stalled = np.convolve(gains <= tol, np.ones(patience), "valid") == patience
    expected = int(np.argmax(stalled)) + patience if stalled.any() else 40
    assert 0 < stopped.n_iter_ == expected < 40


@pytest.mark.parametrize("tol", [0.0, 1e-12])
def test_running_out_of_outer_steps_before_a_plateau_warns(digits, tol):
    with pytest.warns(ConvergenceWarning, match=r"raise outer_steps \(or tol\)"):
        fitted = _lr(outer_steps=4, tol=tol, n_iter_no_change=2).fit(*digits)
    assert fitted.n_iter_ == 4


def test_too_few_outer_steps_for_the_rule_say_so_not_that_the_loss_improved(digits):
    # λ held at its lower bound: every loss is the first one, no step improves on
    # it, yet 3 steps cannot show 3 steps without a gain after a first one.
    clf = _lr(lambda_init=-12.0, outer_optimizer="sign", outer_steps=3, tol=0.1,
              n_iter_no_change=3)
    with pytest.warns(ConvergenceWarning, match="reached no plateau") as caught:
        clf.fit(*digits)
    message = " ".join(str(w.message) for w in caught)
    assert "outer_steps=3 are too few for the rule to stop" in message
    assert "improved" not in message


def test_no_tol_and_no_steps_take_every_step_and_say_nothing(digits):
    assert _fit_quietly(_lr(outer_steps=0, tol=0.1), *digits).n_iter_ == 0
    assert _fit_quietly(_lr(), *digits).get_params()["tol"] is None


def test_the_network_stops_too(digits):
    mlp = HypergradMLP((4,), inner_steps=10, outer_steps=8, tol=10.0, n_iter_no_change=2,
                       random_state=0)
    assert _fit_quietly(mlp, *digits).n_iter_ == 3


@pytest.mark.parametrize("params, match", [
    ({"tol": -1e-3}, "tol"), ({"n_iter_no_change": 0}, "n_iter_no_change"),
    ({"tol": "1e-3"}, "tol"), ({"n_iter_no_change": 2.0}, "n_iter_no_change")])
def test_bad_stopping_settings_are_refused_by_name(digits, params, match):
    with pytest.raises(ValueError, match=match):
        _lr(**params).fit(*digits)


def test_the_rule_counts_steps_without_a_gain_of_more_than_tol():
    rule = ValidationPlateau(tol=0.1, n_iter_no_change=2)
    # 1.0 improves on inf; 0.95 and 0.91 fall by less than 0.1 from the best so far.
    assert [rule.update(v) for v in (1.0, 0.95, 0.91)] == [False, False, True]
    rule = ValidationPlateau(tol=0.1, n_iter_no_change=2)
    # A gain of more than tol resets the count.
    assert [rule.update(v) for v in (1.0, 0.95, 0.8, 0.79, 0.75)] == [False] * 4 + [True]
    rule = ValidationPlateau(tol=0.1, n_iter_no_change=2)
    # Gains count against the best loss so far, not the last one.
    assert [rule.update(v) for v in (1.0, 1.5, 1.3)] == [False, False, True]


def test_a_loss_that_repeats_itself_is_no_gain_even_at_tol_0():
    # "below its best by more than tol": at tol=0, strictly below. An equal loss
    # (or a NaN one) that counted as a gain would reset the count for ever.
    rule = ValidationPlateau(tol=0.0, n_iter_no_change=2)
    assert [rule.update(v) for v in (0.5, 0.5, 0.5)] == [False, False, True]
    rule = ValidationPlateau(tol=0.0, n_iter_no_change=2)
    assert [rule.update(v) for v in (0.5, float("nan"), float("nan"))] == [False, False, True]


def test_lambda_held_at_a_bound_stops_at_tol_0(digits):
    # λ starts at the lower bound and the sign steps push it below: the projection
    # holds it there, every step repeats the same loss, which is a plateau.
    clf = _lr(lambda_init=-12.0, outer_optimizer="sign", tol=0.0, n_iter_no_change=3)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="The validation loss still improved")
        clf.fit(*digits)
    assert (clf.lambda_path_ == -12.0).all() and clf.n_iter_ == 1 + 3


@pytest.mark.parametrize("model", [HypergradRegularizedLR(outer_steps=0, inner_steps=50),
                                   HypergradMLP((4,), outer_steps=0, inner_steps=20,
                                                random_state=np.random.RandomState(3))])
def test_a_fit_that_learns_no_lambda_holds_out_no_trusted_set(digits, model):
    # outer_steps=0 trains with lambda_init on all of X: a random split (and its
    # inner_lr="auto", or a RandomState's draws) made two such fits differ.
    from sklearn.base import clone

    X, y = digits
    fits = [_fit_quietly(clone(model), X, y) for _ in range(2)]
    given = _fit_quietly(clone(model), X, y, X_val=X[:10], y_val=y[:10])
    for fitted in (fits[1], given):
        np.testing.assert_array_equal(fitted.decision_function(X),
                                      fits[0].decision_function(X))
