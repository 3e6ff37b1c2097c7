"""Poisoners against a victim that takes proximal L1 steps."""

import numpy as np

from skpoison import HypergradMLP, HypergradRegularizedLR, OptimalPoisoner
from skpoison.poisoning import fit_batched
from skpoison.poisoning._resume import attack_fingerprint

from .conftest import digits
from .test_batched import SEEDS, assert_same_attacks, repetitions, sequential


def _poisoner(l1_step):
    victim = HypergradRegularizedLR(penalty="l1", l1_step=l1_step, inner_steps=30)
    return OptimalPoisoner(victim, ratios=(0, 0.1, 0.2), batch_size=6, outer_steps=3)


def test_batched_attacks_equal_separate_ones():
    datasets = repetitions([0, 8], 60, 30)
    poisoner = _poisoner("proximal")
    assert_same_attacks(fit_batched(poisoner, datasets, random_states=SEEDS),
                        sequential(poisoner, datasets, SEEDS))


def test_the_step_changes_the_attack_and_its_resume_fingerprint():
    X, y, X_val, y_val = digits([0, 8], 60, 30)[:4]
    attacks = {step: _poisoner(step).set_params(random_state=0).fit(X, y, X_val=X_val,
                                                                    y_val=y_val)
               for step in ("subgradient", "proximal")}
    assert not np.allclose(attacks["subgradient"].results_[-1].X,
                           attacks["proximal"].results_[-1].X)
    arrays = [X, y, X_val, y_val]
    assert attack_fingerprint(_poisoner("subgradient"), arrays, "cpu") != \
        attack_fingerprint(_poisoner("proximal"), arrays, "cpu")


def test_batched_attacks_on_a_proximal_network_equal_separate_ones():
    victim = HypergradMLP(hidden_layer_sizes=(4,), penalty="l1", l1_step="proximal",
                          inner_steps=15, lambda_init=-3.0)
    poisoner = OptimalPoisoner(victim, ratios=(0, 0.1), batch_size=6, outer_steps=2)
    datasets = repetitions([0, 8], 60, 30)
    assert_same_attacks(fit_batched(poisoner, datasets, random_states=SEEDS),
                        sequential(poisoner, datasets, SEEDS))
