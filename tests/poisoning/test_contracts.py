"""Contracts of the poisoners that no other test pins (from a mutation round)."""

import numpy as np
import pytest

from skpoison import HypergradMLP, HypergradRegularizedLR, LabelFlipPoisoner, OptimalPoisoner
from skpoison.estimators._spectral import squared_spectral_norm


def test_auto_rate_is_stable_for_the_largest_fixed_lambda(digits08_pool):
    # P1: a per-feature fixed λ above lambda_bounds: the rate follows its maximum.
    X, y = digits08_pool
    X_tr, y_tr, X_val, y_val = X[:100], y[:100], X[100:140], y[100:140]
    fixed = np.full(64, -5.0)
    fixed[3] = 3.0
    attack = OptimalPoisoner(HypergradRegularizedLR(lambda_mode="per_feature", inner_steps=20),
                             ratios=(0.05,), hyperparams="fixed", fixed_lambda=fixed,
                             outer_steps=1, random_state=0)
    attack.fit(X_tr, y_tr, X_val=X_val, y_val=y_val)
    expected = 1.0 / (squared_spectral_norm(X_tr) / (4 * len(X_tr)) + np.exp(3.0))
    assert attack.inner_lr_ == pytest.approx(expected, rel=1e-12)


def test_the_defender_steps_with_the_estimators_own_optimizer(digits08_pool):
    # P2: lambda_step=None means the estimator's outer_optimizer, not Adam.
    X, y = digits08_pool
    data = (X[:100], y[:100])
    trusted = dict(X_val=X[100:140], y_val=y[100:140])
    paths = []
    for step in (None, "sign"):
        attack = OptimalPoisoner(
            HypergradRegularizedLR(inner_steps=20, outer_optimizer="sign", outer_lr=0.3),
            ratios=(0.0, 0.05), outer_steps=3, lambda_step=step, random_state=0)
        attack.fit(*data, **trusted)
        paths.append(attack.results_[-1].lambda_path)
    np.testing.assert_array_equal(paths[0], paths[1])


def test_the_estimators_own_seed_draws_the_initial_network(digits08_pool):
    # P3: the poisoner's random_state seeds w0 only when the estimator has none.
    X, y = digits08_pool
    losses = []
    for seed in (0, 1):
        attack = OptimalPoisoner(
            HypergradMLP((4,), inner_steps=20, inner_lr=0.3, random_state=3),
            ratios=(0.0,), hyperparams="fixed", fixed_lambda=-4.0, outer_steps=1,
            random_state=seed)
        attack.fit(X[:100], y[:100], X_val=X[100:140], y_val=y[100:140])
        losses.append(attack.results_[0].val_loss)
    assert losses[0] == losses[1]


def test_a_budget_of_exactly_the_validation_set_needs_no_reuse(digits08_pool):
    # P7: total == n_val clones every validation point once: allowed.
    X, y = digits08_pool
    flip = LabelFlipPoisoner(ratios=(0.1,), batch_size=10, random_state=0)
    flip.fit(X[:100], y[:100], X_val=X[100:110], y_val=y[100:110])
    result = flip.results_[-1]
    assert result.n_poison == 10
    poison = result.X[result.poison_mask]
    assert sorted(map(tuple, poison)) == sorted(map(tuple, X[100:110]))


def test_fit_resample_returns_arrays_that_are_not_results_(digits08_pool):
    # P11: editing the returned arrays in place must leave results_ alone.
    X, y = digits08_pool
    flip = LabelFlipPoisoner(ratios=(0.1,), random_state=0)
    X_p, y_p = flip.fit_resample(X[:100], y[:100], X_val=X[100:140], y_val=y[100:140])
    assert not np.shares_memory(X_p, flip.results_[-1].X)
    assert not np.shares_memory(y_p, flip.results_[-1].y)
