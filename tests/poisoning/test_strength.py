"""The optimal attack beats label flipping against unregularized LR."""

import numpy as np

from skpoison import HypergradRegularizedLR, LabelFlipPoisoner, OptimalPoisoner


def test_optimal_attack_beats_label_flipping(binary_large):
    X, y, X_val, y_val, X_test, y_test = binary_large
    # No regularization: λ = -inf (lambda_bounds only set inner_lr="auto" = 1/L).
    victim = HypergradRegularizedLR(inner_steps=300, lambda_init=-np.inf,
                                    lambda_bounds=(-np.inf, -20.0), outer_steps=0)
    common = dict(ratios=(0.2,), batch_size=20, random_state=0)
    optimal = OptimalPoisoner(victim, hyperparams="fixed", fixed_lambda=-np.inf,
                              outer_steps=10, poison_lr=0.5, **common)
    flip = LabelFlipPoisoner(**common)

    def test_error(poisoner):
        X_p, y_p = poisoner.fit_resample(X, y, X_val=X_val, y_val=y_val)
        model = HypergradRegularizedLR(**victim.get_params()).fit(
            X_p, y_p, X_val=X_val, y_val=y_val)
        return 1.0 - model.score(X_test, y_test)

    clean = 1.0 - HypergradRegularizedLR(**victim.get_params()).fit(
        X, y, X_val=X_val, y_val=y_val).score(X_test, y_test)
    flipped, attacked = test_error(flip), test_error(optimal)
    print(f"test error: clean {clean:.3f}, label flip {flipped:.3f}, optimal {attacked:.3f}")
    assert attacked >= max(2 * flipped, flipped + 0.05)
