"""A resume file is kept for the same attack however its settings are written, and
refused for any other attack."""

import numpy as np
import pytest

from skpoison import HypergradMLP, HypergradRegularizedLR
from skpoison.poisoning._resume import attack_fingerprint

from .test_resume import _assert_same_results, _attack, _fit, _interrupt_after

pytestmark = pytest.mark.usefixtures("save_every_batch")

ARRAYS = [np.zeros((3, 2))]
BOX = (np.zeros(2), np.ones(2))


def _print(estimator=None, box=BOX, **params):
    estimator = HypergradRegularizedLR(inner_steps=20) if estimator is None else estimator
    return attack_fingerprint(_attack(estimator, **params), ARRAYS, "cpu", box)


def _lr(**params):
    return HypergradRegularizedLR(**{"inner_steps": 20, **params})


# Pairs of attacks that compute the same numbers: one fingerprint.
SAME = {
    "device auto": (dict(device="auto"), dict(device="cpu")),
    "estimator device auto": (dict(estimator=_lr(device="auto")), {}),
    "dtype None": (dict(dtype=None), dict(dtype="float64")),
    "the estimator's dtype, overridden": (dict(dtype="float32"),
                                         dict(dtype="float32",
                                              estimator=_lr(dtype="float32"))),
    "the fit's own outer steps": (dict(estimator=_lr(outer_steps=5, final_steps=50)), {}),
    "the fit's stopping rule": (dict(estimator=_lr(tol=1e-3, n_iter_no_change=2)), {}),
    "validation_fraction": (dict(estimator=_lr(validation_fraction=0.5)), {}),
    "lambda_lr None": (dict(lambda_lr=None), dict(lambda_lr=0.2)),
    "lambda_step None": (dict(lambda_step=None), dict(lambda_step="adam")),
    "outer_lr, given lambda_lr": (dict(estimator=_lr(outer_lr=0.7), lambda_lr=0.1),
                                  dict(lambda_lr=0.1)),
    "outer_optimizer, with a fixed λ": (dict(estimator=_lr(outer_optimizer="sign"),
                                             hyperparams="fixed"),
                                        dict(hyperparams="fixed")),
    "fixed_lambda, learned λ": (dict(fixed_lambda=-3.0), {}),
    "lambda_init, given fixed_lambda": (
        dict(estimator=_lr(lambda_init=-1.0), hyperparams="fixed", fixed_lambda=-3.0),
        dict(hyperparams="fixed", fixed_lambda=-3.0)),
    "ratios' order": (dict(ratios=(0.2, 0.0, 0.1)), dict(ratios=[0.0, 0.1, 0.2])),
}

# Pairs that differ in a setting that changes the attack: two fingerprints.
DIFFERENT = {
    "dtype": (dict(dtype="float32"), {}),
    "estimator dtype": (dict(estimator=_lr(dtype="float32")), {}),
    "lambda_lr": (dict(lambda_lr=0.1), {}),
    "outer_lr, learned λ": (dict(estimator=_lr(outer_lr=0.7)), {}),
    "outer_optimizer, learned λ": (dict(estimator=_lr(outer_optimizer="sign")), {}),
    "lambda_step": (dict(lambda_step="gd"), {}),
    "hyperparams": (dict(hyperparams="fixed"), {}),
    "fixed_lambda, fixed λ": (dict(hyperparams="fixed", fixed_lambda=-3.0),
                              dict(hyperparams="fixed", fixed_lambda=-2.0)),
    "lambda_init, fixed λ from it": (dict(estimator=_lr(lambda_init=-1.0),
                                          hyperparams="fixed"),
                                     dict(hyperparams="fixed")),
    "lambda_init, learned λ": (dict(estimator=_lr(lambda_init=-1.0)), {}),
    "inner_steps": (dict(estimator=_lr(inner_steps=30)), {}),
    "inner_lr": (dict(estimator=_lr(inner_lr=0.5)), {}),
    "estimator random_state": (dict(estimator=_lr(random_state=1)), {}),
    "lambda_bounds": (dict(estimator=_lr(lambda_bounds=(-10.0, 0.0))), {}),
    "ratios": (dict(ratios=(0.0, 0.1)), {}),
    "outer_steps": (dict(outer_steps=4), {}),
    "random_state": (dict(random_state=1), {}),
    "box": (dict(box=(np.zeros(2), np.full(2, 2.0))), {}),
}


def _pair(params):
    params = dict(params)
    estimator = params.pop("estimator", None)
    box = params.pop("box", BOX)
    return _print(estimator, box, **params)


@pytest.mark.parametrize("case", SAME)
def test_settings_written_another_way_keep_the_fingerprint(case):
    one, other = SAME[case]
    assert _pair(one) == _pair(other)


@pytest.mark.parametrize("case", DIFFERENT)
def test_settings_that_change_the_attack_change_the_fingerprint(case):
    one, other = DIFFERENT[case]
    assert _pair(one) != _pair(other)


def test_the_mlps_fit_only_parameters_are_not_part_of_the_attack():
    mlp = dict(hidden_layer_sizes=(3,), inner_steps=10)
    assert (_print(HypergradMLP(**mlp, outer_steps=3, validation_fraction=0.4))
            == _print(HypergradMLP(**mlp)))
    assert _print(HypergradMLP(**mlp, inner_lr=0.3)) != _print(HypergradMLP(**mlp))


def test_a_scalar_bound_is_the_box_it_gives(binary_small, tmp_path, monkeypatch):
    # feature_range=(0, 1) and the same box as arrays of zeros and ones: one attack,
    # which resumes from the other's file (it was started over).
    estimator = HypergradRegularizedLR(inner_steps=20)
    calls = _interrupt_after(monkeypatch, 100)
    fresh = _fit(_attack(estimator), binary_small)
    n_batches = len(calls)
    monkeypatch.undo()
    path = tmp_path / "attack.pt"
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _fit(_attack(estimator, path, feature_range=(0.0, 1.0), device="auto"), binary_small)
    monkeypatch.undo()
    calls = _interrupt_after(monkeypatch, 100)
    ones = np.ones(binary_small[0].shape[1])
    resumed = _fit(_attack(estimator.set_params(outer_steps=3, validation_fraction=0.5), path,
                           feature_range=(0 * ones, ones), device="cpu"), binary_small)
    assert len(calls) == n_batches - 2      # the batches saved were not run again
    _assert_same_results(resumed, fresh)


def test_a_file_of_a_defender_with_other_steps_is_started_over(binary_small, tmp_path,
                                                               monkeypatch):
    # The estimator's outer_lr is the defender's step size when lambda_lr is None.
    path = tmp_path / "attack.pt"
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _fit(_attack(HypergradRegularizedLR(inner_steps=20, outer_lr=0.05), path),
             binary_small)
    monkeypatch.undo()
    estimator = HypergradRegularizedLR(inner_steps=20)
    with pytest.warns(UserWarning, match="holds an attack with other data or settings"):
        resumed = _fit(_attack(estimator, path), binary_small)
    _assert_same_results(resumed, _fit(_attack(estimator), binary_small))
