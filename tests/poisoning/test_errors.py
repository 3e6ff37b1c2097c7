"""Bad input gives clear errors."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import InvalidParameterError

from skpoison import HypergradMLP, HypergradRegularizedLR, LabelFlipPoisoner, OptimalPoisoner
from skpoison.hypergrad import InnerDivergenceError


def optimal(**params):
    return OptimalPoisoner(**{"estimator": HypergradRegularizedLR(inner_steps=5),
                              "ratios": (0.1,), "batch_size": 5, "outer_steps": 1,
                              "random_state": 0, **params})


@pytest.fixture
def data(binary_small):
    return [a.copy() for a in binary_small[:4]]


def run(poisoner, X, y, X_val, y_val):
    return poisoner.fit_resample(X, y, X_val=X_val, y_val=y_val)


@pytest.mark.parametrize("make", [optimal, LabelFlipPoisoner])
def test_validation_set_required(data, make):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="trusted validation set"):
        make().fit(X, y)
    with pytest.raises(ValueError, match="trusted validation set"):
        make().fit_resample(X, y, X_val=X)


def test_validation_classes_absent_from_training(data):
    X, y, X_val, y_val = data
    y_val[0] = 5
    with pytest.raises(ValueError, match=r"absent from the training set: \[5\]"):
        run(optimal(), X, y, X_val, y_val)


@pytest.mark.parametrize("ratios", [(1.0,), (0.1, -0.1), (np.nan,), ()])
def test_ratio_outside_unit_interval(data, ratios):
    with pytest.raises(ValueError, match=r"ratios"):
        run(optimal(ratios=ratios), *data)


def test_a_ratio_given_twice_warns_and_runs_once(data):
    with pytest.warns(UserWarning, match=r"ratios \[0.1\] are given more than once"):
        poisoner = optimal(ratios=(0.1, 0.05, 0.1)).fit(*data[:2], X_val=data[2],
                                                         y_val=data[3])
    assert [result.ratio for result in poisoner.results_] == [0.05, 0.1]


def test_ratios_must_be_one_dimensional(data):
    with pytest.raises(ValueError, match=r"1-d sequence .* shape \(1, 2\)"):
        run(optimal(ratios=[[0.1, 0.2]]), *data)


def test_a_validation_set_without_names_warns_at_the_callers_line(data):
    pd = pytest.importorskip("pandas")
    X, y, X_val, y_val = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    for call in ("fit", "fit_resample"):   # (two depths into the same check)
        with pytest.warns(UserWarning, match="^X_val does not have valid feature") as caught:
            getattr(optimal(), call)(frame, y, X_val=X_val, y_val=y_val)
        assert caught[0].filename == __file__


def test_validation_columns_are_checked_by_name(data):
    pd = pytest.importorskip("pandas")
    X, y, X_val, y_val = data
    names = [f"f{i}" for i in range(X.shape[1])]
    with pytest.raises(ValueError, match="X_val's columns do not match"):
        run(optimal(), pd.DataFrame(X, columns=names), y,
            pd.DataFrame(X_val, columns=names[::-1]), y_val)


def test_budgets(data):
    X, y, X_val, y_val = data  # 60 training and 30 validation points
    with pytest.raises(ValueError, match="Batches of 31 poisoning points are larger"):
        run(optimal(batch_size=31, ratios=(0.52,), reuse_validation=True), *data)
    # Only the batches the schedule really draws count, not the nominal batch_size.
    run(LabelFlipPoisoner(batch_size=31, ratios=(0.05,)), *data)
    with pytest.raises(ValueError, match="needs 36 poisoning points.*reuse_validation"):
        run(optimal(ratios=(0.6,)), *data)
    # Both budgets fail: the advice that suffices (reuse) comes first.
    with pytest.raises(ValueError, match="needs 36 poisoning points.*reuse_validation"):
        run(optimal(batch_size=36, ratios=(0.6,)), *data)
    with pytest.raises(ValueError, match="leaves no clean point"):
        run(LabelFlipPoisoner(ratios=(0.995,), reuse_validation=True), *data)
    X_p, _ = run(LabelFlipPoisoner(ratios=(0.6,), reuse_validation=True), *data)
    assert X_p.shape == X.shape


def test_divergence_during_an_attack_names_the_moving_points(data):
    # No box and huge steps: the poisoning points, not the clean data, blow up
    # the training set the inner rate was chosen for.
    attack = optimal(estimator=HypergradRegularizedLR(inner_steps=20), outer_steps=3,
                     feature_range=(-np.inf, np.inf), poison_lr=1e3)
    with pytest.raises(InnerDivergenceError, match="inner_lr.*a bounded feature_range"):
        run(attack, *data)


def test_divergence_before_any_point_moved_gets_no_advice_about_them(data):
    # inner_lr * exp(λ) >= 2 from the first step: feature_range and poison_lr are
    # beside the point, and the error no longer suggests them.
    attack = optimal(estimator=HypergradRegularizedLR(inner_steps=20, inner_lr=1.0),
                     hyperparams="fixed", fixed_lambda=1.0)
    with pytest.raises(InnerDivergenceError) as caught:
        run(attack, *data)
    assert "feature_range" not in str(caught.value)


def test_points_that_make_the_auto_rate_unstable_warn(data):
    # A box far wider than the data: the points grow until inner_lr="auto", chosen
    # on the clean set (0.237), is past the poisoned set's stable range (0.063),
    # while the inner run still ends below its start (no divergence error: the
    # objective rose on 23 of 49 steps); hypergradient() warned of this, the
    # attack did not.
    from sklearn.datasets import load_digits

    X, y = load_digits(n_class=2, return_X_y=True)
    X = X / 16
    attack = OptimalPoisoner(HypergradRegularizedLR(inner_steps=50, random_state=0),
                             ratios=(0.1,), hyperparams="fixed", fixed_lambda=-3.0,
                             feature_range=(0.0, 20.0), poison_lr=10.0, outer_steps=20,
                             random_state=0)
    with pytest.warns(UserWarning, match="with the poisoning points the training set's "
                                         "smoothness bound only guarantees descent below"):
        run(attack, X[:100], y[:100], X[100:130], y[100:130])
    with warnings.catch_warnings():             # the default box: nothing to say
        warnings.simplefilter("error")
        run(optimal(outer_steps=5), *data)


def test_learning_lambda_from_minus_infinity_warns_as_fit_does(data):
    victim = HypergradRegularizedLR(inner_steps=5, lambda_init=-np.inf,
                                    lambda_bounds=(-np.inf, 0.0))
    with pytest.warns(UserWarning, match="fixed point of the λ steps.*hyperparams='fixed'"):
        run(optimal(estimator=victim), *data)


def test_each_results_paths_are_its_own(data):
    poisoner = optimal(ratios=(0.05, 0.1)).fit(*data[:2], X_val=data[2], y_val=data[3])
    first, second = poisoner.results_
    before = second.val_loss_path.copy()
    first.val_loss_path[:] = 0.0
    first.lambda_path[:] = 0.0
    np.testing.assert_array_equal(second.val_loss_path, before)
    assert not np.shares_memory(first.lambda_path, second.lambda_path)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_minmax_scaled_data_a_rounding_error_above_one_is_in_the_box(data, dtype):
    # MinMaxScaler writes 1.0000000000000002 (float32: 1.0000001) now and then;
    # the box check refused it, telling the user to scale data they had scaled.
    X, y, X_val, y_val = (np.asarray(part, dtype=dtype) if i % 2 == 0 else part
                          for i, part in enumerate(data))
    X[0, 0] = np.nextafter(dtype(1.0), dtype(2.0))
    X_val[0, 0] = np.nextafter(dtype(0.0), dtype(-1.0))
    run(optimal(), X, y, X_val, y_val)
    X[0, 0] = 1.0 + 1e-3
    with pytest.raises(ValueError, match=r"1 values of X lie outside .* by up to 0.001"):
        run(optimal(), X, y, X_val, y_val)


def test_an_unbounded_side_of_the_box_leaves_the_other_one_strict(data):
    X, y, X_val, y_val = data
    X = X.copy()
    X[0, 0] = -1e-3
    with pytest.raises(ValueError, match="values of X lie outside"):
        run(optimal(feature_range=(0.0, np.inf)), X, y, X_val, y_val)


@pytest.mark.parametrize("make", [optimal, LabelFlipPoisoner])
@pytest.mark.parametrize("ratios", [("0.1",), (True,), (0.1, "0.2")])
def test_ratios_written_as_strings_or_bools_are_refused(data, make, ratios):
    # (NumPy read "0.1" as 0.1 and True as 1.0, a typo then ran an attack)
    with pytest.raises(ValueError, match="ratios must be numbers"):
        run(make(ratios=ratios), *data)


@pytest.mark.parametrize("param", ["batch_size", "outer_steps", "poison_lr", "lambda_lr"])
def test_the_attacks_counts_and_rates_refuse_bools(data, param):
    # (scikit-learn's Interval took True for 1)
    with pytest.raises(ValueError, match=f"The '{param}' parameter .* Got True instead"):
        run(optimal(**{param: True}), *data)


@pytest.mark.parametrize("feature_range", [("0", "1"), (0.0, True)])
def test_a_feature_range_of_strings_or_bools_is_refused(data, feature_range):
    with pytest.raises(ValueError, match="must hold numbers"):
        run(optimal(feature_range=feature_range), *data)


def test_a_feature_range_given_as_an_array_is_the_same_box(data):
    X_tuple, _ = run(optimal(feature_range=(0.0, 1.0)), *data)
    X_array, _ = run(optimal(feature_range=np.array([0.0, 1.0])), *data)
    np.testing.assert_array_equal(X_array, X_tuple)


def test_feature_box(data):
    X, y, X_val, y_val = data
    with pytest.raises(ValueError, match="values of X lie outside feature_range"):
        run(optimal(), X * 2, y, X_val, y_val)
    with pytest.raises(ValueError, match="values of X_val lie outside feature_range"):
        run(optimal(), X, y, X_val - 0.5, y_val)
    with pytest.raises(ValueError, match=r"low <= high .* feature 0: \(1.0, 0.0\), "
                                         r"1: .* and 59 more"):
        run(optimal(feature_range=(1.0, 0.0)), *data)
    with pytest.raises(ValueError, match="pair"):
        run(optimal(feature_range=(0.0, 0.5, 1.0)), *data)


def test_feature_box_from_the_data_range(data):
    # The usual data-range box pins the always-zero pixels (low == high).
    X, y, X_val, y_val = data
    low, high = np.minimum(X.min(0), X_val.min(0)), np.maximum(X.max(0), X_val.max(0))
    assert (low == high).any()
    poisoner = optimal(feature_range=(low, high))
    X_p, _ = run(poisoner, *data)
    mask = poisoner.results_[-1].poison_mask
    assert mask.sum() == 6
    assert np.all((X_p[mask] >= low) & (X_p[mask] <= high))
    np.testing.assert_array_equal(X_p[mask][:, low == high],
                                  np.broadcast_to(low[low == high], (6, (low == high).sum())))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data(data, bad):
    X, y, X_val, y_val = data
    X_bad = X.copy()
    X_bad[3, 3] = bad
    with pytest.raises(ValueError, match="Input X contains"):
        run(optimal(), X_bad, y, X_val, y_val)
    X_val[0, 0] = bad
    with pytest.raises(ValueError, match="Input X_val contains"):
        run(optimal(), X, y, X_val, y_val)


def test_shapes_and_classes(data):
    X, y, X_val, y_val = data
    with pytest.raises(ValueError, match="X_val has 10 features, but the training set X "
                                         "has 64"):
        run(optimal(), X, y, X_val[:, :10], y_val)
    with pytest.raises(ValueError, match="one label per row"):
        run(optimal(), X, y, X_val, y_val[:-1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        run(optimal(), X, np.zeros_like(y), X_val, np.zeros_like(y_val))


def test_fixed_lambda(data):
    with pytest.raises(ValueError, match="fixed_lambda has shape"):
        run(optimal(hyperparams="fixed", fixed_lambda=[0.0, 1.0]), *data)
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        run(optimal(hyperparams="fixed", fixed_lambda=np.inf), *data)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        run(optimal(hyperparams="fixed", fixed_lambda=[]), *data)
    with pytest.raises(ValueError, match="array of floats"):
        run(optimal(hyperparams="fixed", fixed_lambda=["a"]), *data)
    for typo in (True, "1", [-4.0, False]):   # NumPy would read each as numbers
        with pytest.raises(ValueError, match="fixed_lambda"):
            run(optimal(hyperparams="fixed", fixed_lambda=typo), *data)
    with pytest.raises(ValueError, match="up to 709.8 are finite in float64; got max 800"):
        run(optimal(hyperparams="fixed", fixed_lambda=800.0), *data)
    with pytest.raises(ValueError, match="up to 88.7 are finite in float32"):
        run(optimal(hyperparams="fixed", fixed_lambda=100.0, dtype="float32"), *data)


def test_fixed_lambda_without_fixed_hyperparams_warns(data):
    with pytest.warns(UserWarning,
                      match="fixed_lambda is ignored with hyperparams='learn'") as caught:
        run(optimal(fixed_lambda=-1.0), *data)
    assert caught[0].filename == __file__          # the caller's line, not skpoison's


@pytest.mark.parametrize("settings, named", [
    (dict(lambda_lr=0.3), "lambda_lr is ignored"),
    (dict(lambda_lr=0.3, lambda_step="gd"), "lambda_lr and lambda_step are ignored"),
])
def test_lambda_step_settings_with_a_fixed_lambda_warn(data, settings, named):
    with pytest.warns(UserWarning, match=f"{named} with hyperparams='fixed'") as caught:
        run(optimal(hyperparams="fixed", fixed_lambda=-1.0, **settings), *data)
    assert caught[0].filename == __file__          # the caller's line, not skpoison's


def test_ratio_without_points_warns(data):
    X, y, X_val, y_val = data  # 60 training points: 0.005 * 60 rounds to 0
    with pytest.warns(UserWarning, match=r"ratios \[0.005\] give no poisoning point") as caught:
        poisoner = LabelFlipPoisoner(ratios=(0.005, 0.1), random_state=0)
        run(poisoner, *data)
    assert caught[0].filename == __file__
    assert [r.n_poison for r in poisoner.results_] == [0, 6]


def test_ratios_with_as_many_points_as_the_one_before_warn(data):
    # 0.1 and 0.105 of 60 training points are both 6 points: the same attack twice.
    with pytest.warns(UserWarning, match=r"0.105 as 0.1 \(6\); their results are the same"):
        poisoner = LabelFlipPoisoner(ratios=(0, 0.1, 0.105, 0.2), random_state=0)
        run(poisoner, *data)
    assert [r.n_poison for r in poisoner.results_] == [0, 6, 6, 12]


@pytest.mark.parametrize("params", [
    dict(hyperparams="both"), dict(mode="append"), dict(batch_size=0),
    dict(poison_lr=0.0), dict(outer_steps=-1), dict(normalize="none"),
    dict(estimator=LogisticRegression()), dict(label_strategy="worst"),
])
def test_parameter_validation(data, params):
    with pytest.raises(InvalidParameterError):
        run(optimal(**params), *data)


def test_estimator_parameters_are_validated(data):
    bad = OptimalPoisoner(HypergradRegularizedLR(inner_steps=0), ratios=(0.1,),
                          batch_size=5)
    with pytest.raises(InvalidParameterError, match="inner_steps"):
        run(bad, *data)


def test_failed_fit_does_not_leave_a_fitted_looking_poisoner(data):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    X, y, X_val, y_val = data
    poisoner = LabelFlipPoisoner(ratios=(0.05,), random_state=0)
    poisoner.fit(X, y, X_val=X_val, y_val=y_val)
    with pytest.raises(ValueError, match="absent from the training set"):
        poisoner.fit(X, y, X_val=X_val, y_val=np.full(len(y_val), 99))
    with pytest.raises(NotFittedError):
        check_is_fitted(poisoner)


@pytest.mark.parametrize("value", [np.nan, [np.nan]], ids=["scalar", "array"])
def test_fixed_lambda_nan_is_refused(data, value):
    # (else it reaches the attack and fails as a misleading InnerDivergenceError)
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        run(optimal(hyperparams="fixed", fixed_lambda=value), *data)


def test_the_victim_as_attacked_refits_to_the_reported_loss(data):
    # A network whose estimator leaves its seed to chance: the attack drew one,
    # and victim_ holds it, so a result can be checked by refitting.
    from sklearn.base import clone
    from sklearn.metrics import log_loss

    X, y, X_val, y_val = data
    victim = HypergradMLP((5,), inner_steps=30, inner_lr=0.3)
    poisoner = optimal(estimator=victim, outer_steps=3).fit(X, y, X_val=X_val, y_val=y_val)
    assert victim.random_state is None and isinstance(poisoner.victim_.random_state, int)
    result = poisoner.results_[-1]
    refit = clone(poisoner.victim_).set_params(
        lambda_init=result.log_lambda, outer_steps=0, inner_lr=poisoner.inner_lr_)
    refit.fit(result.X, result.y, X_val=X_val, y_val=y_val)
    assert log_loss(y_val, refit.predict_proba(X_val)) == pytest.approx(result.val_loss,
                                                                       rel=1e-12)


@pytest.mark.parametrize("fixed", [-np.inf, 2.0], ids=["no_reg", "above_bounds"])
def test_victim_for_holds_for_a_fixed_lambda_outside_the_bounds(data, fixed):
    # A fixed λ outside lambda_bounds needs wider bounds, or fit clips it (-inf
    # to -12, 2 to 0) and scores another model (victim_'s first recipe did).
    from sklearn.metrics import log_loss

    X, y, X_val, y_val = data
    poisoner = optimal(hyperparams="fixed", fixed_lambda=fixed, outer_steps=3)
    poisoner.fit(X, y, X_val=X_val, y_val=y_val)
    result = poisoner.results_[-1]
    refit = poisoner.victim_for(result)
    refit.fit(result.X, result.y, X_val=X_val, y_val=y_val)
    assert np.array_equal(refit.lambda_, result.log_lambda)
    assert log_loss(y_val, refit.predict_proba(X_val)) == pytest.approx(result.val_loss,
                                                                       rel=1e-12)


def test_victim_for_trains_the_attack_s_steps_whatever_the_final_steps(data):
    # The attack trains its victim inner_steps steps; an estimator's final_steps
    # (victim_ keeps it) made victim_for's fit another model.
    from sklearn.metrics import log_loss

    X, y, X_val, y_val = data
    poisoner = optimal(estimator=HypergradRegularizedLR(inner_steps=5, final_steps=2),
                       outer_steps=3).fit(X, y, X_val=X_val, y_val=y_val)
    assert poisoner.victim_.final_steps == 2
    result = poisoner.results_[-1]
    refit = poisoner.victim_for(result).fit(result.X, result.y, X_val=X_val, y_val=y_val)
    assert log_loss(y_val, refit.predict_proba(X_val)) == pytest.approx(result.val_loss,
                                                                       rel=1e-12)


def test_a_per_feature_box_is_summarized_in_the_out_of_box_error(data):
    # (the whole box was printed: thousands of characters for 784 pixels)
    X, y, X_val, y_val = data
    box = (np.zeros(X.shape[1]), np.full(X.shape[1], 0.5))
    with pytest.raises(ValueError, match="values of X lie outside") as info:
        run(optimal(feature_range=box), X, y, X_val, y_val)
    assert "..." in str(info.value) and len(str(info.value)) < 400


def test_victim_for_takes_a_result_or_its_index(data):
    from sklearn.exceptions import NotFittedError
    X, y, X_val, y_val = data
    poisoner = optimal(ratios=(0.05, 0.1), outer_steps=1)
    with pytest.raises(NotFittedError):
        poisoner.victim_for()
    poisoner.fit(X, y, X_val, y_val)
    first = poisoner.victim_for(0)
    assert np.array_equal(first.lambda_init, poisoner.results_[0].log_lambda)
    last = poisoner.victim_for(poisoner.results_[-1])
    assert np.array_equal(poisoner.victim_for().lambda_init, last.lambda_init)
    assert last.lambda_init is not poisoner.results_[-1].log_lambda   # (a copy)
    with pytest.raises(IndexError, match="out of range for the 2 results_"):
        poisoner.victim_for(2)
    other = optimal(ratios=(0.05,), outer_steps=1).fit(X, y, X_val, y_val)
    with pytest.raises(ValueError, match="not one of this attack's results_"):
        poisoner.victim_for(other.results_[0])
    with pytest.raises(TypeError, match="one of results_ or its index"):
        poisoner.victim_for(True)


def test_a_per_feature_box_of_the_wrong_kind_is_summarized_in_the_error(data):
    X, y, X_val, y_val = data
    with pytest.raises(ValueError, match="must hold numbers") as info:
        run(optimal(feature_range=(np.zeros(X.shape[1]), "1")), X, y, X_val, y_val)
    assert "..." in str(info.value) and len(str(info.value)) < 300


def test_victim_for_rebuilds_a_network_seeded_by_a_random_state_instance(data):
    # The victim's clone kept the RandomState its attack had drawn from, so
    # victim_for() drew other initial weights (trusted loss 0.27 against 0.35).
    from sklearn.metrics import log_loss

    X, y, X_val, y_val = data
    network = HypergradMLP((4,), inner_steps=20, inner_lr=0.5, outer_steps=2,
                           random_state=np.random.RandomState(0))
    poisoner = OptimalPoisoner(network, ratios=(0.1,), batch_size=6, outer_steps=2,
                               random_state=0).fit(X, y, X_val=X_val, y_val=y_val)
    result = poisoner.results_[-1]
    refit = poisoner.victim_for(result).fit(result.X, result.y, X_val=X_val, y_val=y_val)
    assert log_loss(y_val, refit.predict_proba(X_val)) == pytest.approx(result.val_loss,
                                                                       rel=1e-12)
