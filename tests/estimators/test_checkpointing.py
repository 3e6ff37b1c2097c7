"""checkpoint_every: bounded-memory reverse mode from the estimators and the poisoner."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skpoison import HypergradMLP, HypergradRegularizedLR, OptimalPoisoner, hypergradient
from skpoison.poisoning import fit_batched


@pytest.fixture(scope="module")
def digits08():
    X, y = load_digits(n_class=9, return_X_y=True)
    keep = (y == 0) | (y == 8)
    return train_test_split(X[keep] / 16.0, y[keep], test_size=0.4, stratify=y[keep],
                            random_state=0)


def lr(**params):
    return HypergradRegularizedLR(inner_steps=40, outer_steps=4, random_state=0, **params)


def mlp(**params):
    return HypergradMLP(hidden_layer_sizes=(5,), inner_steps=40, inner_lr=0.3,
                        outer_steps=3, random_state=0, **params)


@pytest.mark.parametrize("make", [lr, mlp])
@pytest.mark.parametrize("every", ["sqrt", "cbrt", 7, (12, 3)])
def test_checkpointed_fit_learns_the_same_lambda(make, every, digits08):
    X, _, y, _ = digits08
    plain = make().fit(X, y)
    checkpointed = make(checkpoint_every=every).fit(X, y)
    np.testing.assert_allclose(checkpointed.lambda_path_, plain.lambda_path_, rtol=1e-10)
    np.testing.assert_allclose(checkpointed.val_loss_path_, plain.val_loss_path_, rtol=1e-10)


def test_hypergradient_api_uses_the_estimators_checkpointing(digits08):
    X, _, y, _ = digits08
    args = (X[:60], y[:60], X[60:90], y[60:90])
    plain = hypergradient(mlp(), *args, X_poison=X[90:93], y_poison=y[90:93])
    checkpointed = hypergradient(mlp(checkpoint_every=5), *args, X_poison=X[90:93],
                                 y_poison=y[90:93])
    np.testing.assert_allclose(checkpointed.grad_X_poison, plain.grad_X_poison, rtol=1e-9)
    # Another method than the estimator's: its checkpointing does not apply.
    forward = hypergradient(lr(checkpoint_every=5), *args, method="fmd")
    assert np.isfinite(forward.grad_log_lambda).all()


def test_checkpointed_attack_matches_the_stored_trajectory(digits08):
    X, _, y, _ = digits08
    data = dict(X=X[:60], y=y[:60], X_val=X[60:90], y_val=y[60:90])
    settings = dict(ratios=(0.1,), batch_size=6, outer_steps=3, random_state=0)
    plain = OptimalPoisoner(lr(), **settings).fit(**data)
    checkpointed = OptimalPoisoner(lr(checkpoint_every="sqrt"), **settings).fit(**data)
    np.testing.assert_allclose(checkpointed.results_[-1].X, plain.results_[-1].X,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("params, message", [
    (dict(checkpoint_every=5, hypergrad="cg"), "reverse-mode option"),
    (dict(checkpoint_every=(3, 8)), "must decrease"),
    (dict(checkpoint_every=0), "checkpoint_every"),
    (dict(checkpoint_every="fourth"), "checkpoint_every"),
    (dict(checkpoint_every=()), r"checkpoint_every=\(\) is empty"),
])
def test_bad_checkpointing(params, message, digits08):
    X, _, y, _ = digits08
    with pytest.raises(ValueError, match=message):
        lr(**params).fit(X, y)


def test_batched_attacks_check_the_schedule(digits08):
    X, _, y, _ = digits08
    attack = OptimalPoisoner(lr(checkpoint_every=(2, 5)), ratios=(0.1,), batch_size=6,
                             outer_steps=1)
    with pytest.raises(ValueError, match="must decrease"):
        fit_batched(attack, [(X[:60], y[:60], X[60:90], y[60:90])])


def test_numpy_integers_are_segment_lengths(digits08):
    X, _, y, _ = digits08
    plain = lr().fit(X, y)
    for every in (np.int64(7), (np.int64(12), np.int32(3))):
        fitted = lr(checkpoint_every=every).fit(X, y)
        np.testing.assert_allclose(fitted.lambda_path_, plain.lambda_path_, rtol=1e-10)
