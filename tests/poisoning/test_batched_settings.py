"""fit_batched compares the attacks' settings as the attacks read them: the same attack
written two ways is batched (and equals the separate fits), another attack is refused."""

import pytest
from sklearn.base import clone

from skpoison import HypergradRegularizedLR, OptimalPoisoner
from skpoison.poisoning import fit_batched

from .test_batched import assert_same_attacks, repetitions


def _poisoner(estimator=None, **params):
    estimator = HypergradRegularizedLR(inner_steps=10) if estimator is None else estimator
    settings = dict(ratios=(0.1,), batch_size=4, outer_steps=2)
    return OptimalPoisoner(estimator, **{**settings, **params})


def _lr(**params):
    return HypergradRegularizedLR(**{"inner_steps": 10, **params})


def _separate(poisoners, datasets):
    return [clone(p).fit(X, y, X_val=Xv, y_val=yv)
            for p, (X, y, Xv, yv) in zip(poisoners, datasets)]


# The second attack's settings, against _poisoner(random_state=...): the same attack.
SAME = {
    "device auto": dict(device="auto"),
    "estimator device auto": dict(estimator=_lr(device="auto")),
    "dtype None written out": dict(dtype="float64"),
    "the estimator's dtype, overridden": dict(dtype="float64",
                                              estimator=_lr(dtype="float32")),
    "validation_fraction": dict(estimator=_lr(validation_fraction=0.5)),
    "lambda_lr written out": dict(lambda_lr=0.2),
    "lambda_step written out": dict(lambda_step="adam"),
    "ratios as a list, twice": dict(ratios=[0.1, 0.1]),
}


@pytest.mark.filterwarnings("ignore:ratios .* are given more than once")
@pytest.mark.parametrize("case", SAME)
def test_the_same_attack_written_another_way_is_batched(case):
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoners = [_poisoner(random_state=0), _poisoner(random_state=1, **SAME[case])]
    assert_same_attacks(fit_batched(poisoners, datasets), _separate(poisoners, datasets))


def test_a_defenders_rate_given_twice_is_the_same_defender():
    # lambda_lr given: the estimators' outer_lr is not the defender's.
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoners = [_poisoner(_lr(outer_lr=lr), lambda_lr=0.1, random_state=0)
                 for lr in (0.2, 0.7)]
    assert_same_attacks(fit_batched(poisoners, datasets), _separate(poisoners, datasets))


def test_the_defenders_settings_play_no_part_against_a_fixed_lambda():
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoners = [_poisoner(_lr(outer_optimizer=rule), hyperparams="fixed", random_state=0)
                 for rule in ("adam", "sign")]
    assert_same_attacks(fit_batched(poisoners, datasets), _separate(poisoners, datasets))


def test_a_fixed_lambda_given_to_one_attack_only_is_its_own_start():
    # The other attacks its estimator's lambda_init: each attack's own λ.
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoners = [_poisoner(_lr(lambda_init=-2.0), hyperparams="fixed", fixed_lambda=lam,
                           random_state=0) for lam in (None, -5.0)]
    assert_same_attacks(fit_batched(poisoners, datasets), _separate(poisoners, datasets))
    # (learned against fixed: the settings that tell them apart are named)
    with pytest.raises(ValueError, match="the OptimalPoisoner parameter 'hyperparams'"):
        fit_batched([_poisoner(), poisoners[1]], datasets)


def test_each_attack_may_draw_its_labels_its_own_way():
    # label_strategy and reuse_validation change only what each attack draws.
    datasets = repetitions([0, 1, 8], 60, 30)[:2]
    poisoners = [_poisoner(label_strategy="random", random_state=0),
                 _poisoner(label_strategy="next", reuse_validation=True, random_state=0)]
    batched = fit_batched(poisoners, datasets)
    assert_same_attacks(batched, _separate(poisoners, datasets))


# The second attack's settings, against _poisoner(): another attack, with the message.
DIFFERENT = {
    "dtype": (dict(dtype="float32"), "the dtype the attack runs in"),
    "estimator dtype": (dict(estimator=_lr(dtype="float32")),
                        "estimator parameter 'dtype'"),
    "lambda_lr": (dict(lambda_lr=0.1), r"the defender's step size on λ .*0\.1"),
    "outer_lr": (dict(estimator=_lr(outer_lr=0.7)), "estimator parameter 'outer_lr'"),
    "outer_optimizer": (dict(estimator=_lr(outer_optimizer="sign")),
                        "estimator parameter 'outer_optimizer'"),
    "lambda_init": (dict(estimator=_lr(lambda_init=-2.0)), "estimator parameter 'lambda_init'"),
    "ratios": (dict(ratios=(0.05, 0.1)), "'ratios'"),
}


@pytest.mark.parametrize("case", DIFFERENT)
def test_another_attack_is_refused(case):
    datasets = repetitions([0, 8], 40, 20)[:2]
    second, message = DIFFERENT[case]
    with pytest.raises(ValueError, match=f"fit_batched needs the attacks to agree on .*{message}"):
        fit_batched([_poisoner(), _poisoner(**second)], datasets)


def test_the_plans_are_compared_too(monkeypatch):
    # A last check on what the batched loop shares, should the settings' comparison
    # ever let two attacks through.
    datasets = repetitions([0, 8], 40, 20)[:2]
    monkeypatch.setattr("skpoison.poisoning._batched._check_same_params", lambda t: None)
    with pytest.raises(ValueError, match="agree on the planned lambda_lr; attack 1 has 0.1"):
        fit_batched([_poisoner(), _poisoner(lambda_lr=0.1)], datasets)
    with pytest.raises(ValueError, match="agree on the planned batches"):
        fit_batched([_poisoner(), _poisoner(batch_size=2)], datasets)


@pytest.mark.parametrize("setting", [dict(lambda_bounds=(1.0, 0.0)),
                                     dict(checkpoint_every=(3, 8))])
def test_an_estimator_setting_at_fault_is_named_as_fit_names_it(setting):
    # (fit_batched checked the estimator's parameter constraints only: a bad
    # lambda_bounds or checkpoint_every surfaced in data set 0's plan, its
    # message prefixed with "data set 0:" as if the data were at fault)
    poisoner = _poisoner(_lr(**setting))
    datasets = repetitions((0, 8), 60, 30)
    X, y, X_val, y_val = datasets[0]
    with pytest.raises(ValueError) as from_fit:
        clone(poisoner).fit(X, y, X_val=X_val, y_val=y_val)
    with pytest.raises(ValueError) as from_batched:
        fit_batched(poisoner, datasets)
    assert str(from_batched.value) == str(from_fit.value)
