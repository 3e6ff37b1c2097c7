"""fit_batched: K attacks as one batched computation equal K separate attacks."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skpoison import HypergradMLP, HypergradRegularizedLR, OptimalPoisoner
from skpoison._torch_utils import to_tensor
from skpoison.poisoning import fit_batched

from .conftest import digits

SEEDS = [3, 7, 11]


def repetitions(classes, n_train, n_val):
    """Three splits of the same digits (different points, same shapes)."""
    return [digits(classes, n_train, n_val, seed=seed)[:4] for seed in range(3)]


def sequential(poisoner, datasets, seeds):
    return [clone(poisoner).set_params(random_state=seed).fit(X, y, X_val=Xv, y_val=yv)
            for (X, y, Xv, yv), seed in zip(datasets, seeds)]


def assert_same_attacks(batched, separate):
    for one, other in zip(batched, separate):
        assert one.inner_lr_ == pytest.approx(other.inner_lr_, rel=1e-9)
        assert len(one.results_) == len(other.results_)
        for a, b in zip(one.results_, other.results_):
            assert a.n_poison == b.n_poison
            np.testing.assert_array_equal(a.poison_mask, b.poison_mask)
            np.testing.assert_array_equal(a.y, b.y)
            np.testing.assert_allclose(a.X, b.X, rtol=1e-7, atol=1e-9)
            np.testing.assert_allclose(a.log_lambda, b.log_lambda, rtol=1e-7, atol=1e-9)
            np.testing.assert_allclose(a.val_loss, b.val_loss, rtol=1e-7)
            np.testing.assert_allclose(a.val_loss_path, b.val_loss_path, rtol=1e-7)
            np.testing.assert_allclose(a.lambda_path, b.lambda_path, rtol=1e-7, atol=1e-9)


def test_learned_lambda_replace_mode_equals_separate_attacks():
    # inner_lr="auto": every split has its own inner rate (per-problem rates).
    datasets = repetitions([0, 8], 60, 30)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=30),
                               ratios=(0, 0.1, 0.2), batch_size=6, outer_steps=3)
    batched = fit_batched(poisoner, datasets, random_states=SEEDS)
    separate = sequential(poisoner, datasets, SEEDS)
    assert len({a.inner_lr_ for a in batched}) == 3
    assert_same_attacks(batched, separate)
    # The K attacks really differ (different data, different draws).
    assert not np.allclose(batched[0].results_[-1].X, batched[1].results_[-1].X)
    assert not hasattr(poisoner, "results_")


def test_inner_rates_on_a_device_come_from_one_batched_lanczos(device_lanczos_runs):
    # The K rates of inner_lr="auto" come from one Lanczos run over the K designs,
    # and equal the separate fits' to rounding.
    runs = device_lanczos_runs
    datasets = repetitions([0, 8], 80, 30)     # (80 x 65 designs: past the dense path)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=20),
                               ratios=(0.1,), batch_size=8, outer_steps=2)
    batched = fit_batched(poisoner, datasets, random_states=SEEDS)
    assert runs == [3]
    separate = sequential(poisoner, datasets, SEEDS)
    assert runs[1:] == [1, 1, 1]
    for one, other in zip(batched, separate):
        assert one.inner_lr_ == pytest.approx(other.inner_lr_, rel=1e-13)
    assert_same_attacks(batched, separate)


def _planned_on(device, dtype, monkeypatch):
    """prepare_all's plans of three digit splits on ``device``, and the shapes of the
    arrays the plans moved there themselves."""
    from skpoison.poisoning import _optimal
    from skpoison.poisoning._batched import prepare_all

    moved, original = [], _optimal.to_tensor

    def recorded(array, **kwargs):
        moved.append(np.shape(array))
        return original(array, **kwargs)
    monkeypatch.setattr(_optimal, "to_tensor", recorded)
    datasets = repetitions([0, 8], 80, 30)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=20, dtype=dtype,
                                                      device=device),
                               ratios=(0.1,), batch_size=8, outer_steps=2)
    attacks = [clone(poisoner) for _ in datasets]
    for attack in attacks:
        attack._validate_params()
    return prepare_all(attacks, datasets), datasets, moved


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_on_a_device_each_training_set_crosses_once(device_lanczos_runs, monkeypatch, dtype):
    # The set-up's float64 copy of the K sets on the device, cast there, is the
    # plans' designs: bitwise what the plans' own transfer made (one rounding).
    prepared, datasets, moved = _planned_on("cpu", dtype, monkeypatch)
    assert (80, 64) not in moved and moved        # (the other tensors still move)
    for (plan, _), (X_given, *_) in zip(prepared, datasets):
        assert plan.X.dtype == getattr(torch, dtype)
        assert torch.equal(plan.X, to_tensor(X_given, device="cpu", dtype=plan.X.dtype))
    attack = OptimalPoisoner(HypergradRegularizedLR(inner_steps=20, dtype=dtype),
                             ratios=(0.1,), batch_size=8)
    attack._validate_params()
    X, _, y_enc, X_val, y_val_enc = attack._check_inputs(*datasets[0])
    moved.clear()
    attack._plan_attack(X, y_enc, X_val, y_val_enc)
    assert (80, 64) in moved                      # (what a single attack moves)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_on_a_gpu_each_training_set_crosses_once(monkeypatch, dtype):
    prepared, datasets, moved = _planned_on("cuda", dtype, monkeypatch)
    assert (80, 64) not in moved
    for (plan, _), (X_given, *_) in zip(prepared, datasets):
        assert plan.X.is_cuda and plan.X.dtype == getattr(torch, dtype)
        assert torch.equal(plan.X, to_tensor(X_given, device="cuda", dtype=plan.X.dtype))


def test_inner_rates_are_computed_on_the_attacks_device():
    # The poisoner's device overrides its estimator's, for the rates too: on the
    # CPU, ARPACK's (the separate fits' to the bit), and no CUDA is needed.
    datasets = repetitions([0, 8], 80, 30)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=20, device="cuda"),
                               device="cpu", ratios=(0.1,), batch_size=8, outer_steps=1)
    batched = fit_batched(poisoner, datasets, random_states=SEEDS)
    separate = sequential(poisoner, datasets, SEEDS)
    assert [a.inner_lr_ for a in batched] == [a.inner_lr_ for a in separate]


def test_on_a_device_the_scale_checks_warn_as_the_separate_attacks_do(monkeypatch):
    # The K data sets' scale checks run together on the device (CPU tensors here):
    # the same warnings as the separate attacks' host checks, data set by data set.
    import warnings

    from skpoison.estimators import _spectral

    monkeypatch.setattr(_spectral, "HOST_LANCZOS_DEVICES", frozenset())
    datasets = repetitions([0, 8], 80, 30)
    X, y, X_val, y_val = datasets[1]
    datasets[1] = (X * 1e-3, y, X_val, y_val)    # small features, a trusted set unlike them
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=5),
                               ratios=(0.1,), batch_size=8, outer_steps=1)

    def scale_warnings(run):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
        return [str(w.message) for w in caught
                if "scale" in str(w.message) or "features are small" in str(w.message)]
    batched = scale_warnings(lambda: fit_batched(poisoner, datasets, random_states=SEEDS))
    assert len(batched) == 2
    assert batched == scale_warnings(lambda: sequential(poisoner, datasets, SEEDS))


def test_on_the_cpu_each_plan_computes_its_own_rate(monkeypatch):
    # ARPACK takes one design at a time: the rates (and the scale checks) are made
    # where each attack is checked and planned (in the n_jobs threads), as a
    # separate fit makes its own.
    def refuse(*args, **kwargs):
        raise AssertionError("the device's batched set-up ran on the CPU")
    monkeypatch.setattr("skpoison.poisoning._batched.set_up_on_device", refuse)
    datasets = repetitions([0, 8], 80, 30)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=5),
                               ratios=(0.1,), batch_size=8, outer_steps=1)
    batched = fit_batched(poisoner, datasets, random_states=SEEDS, n_jobs=2)
    separate = sequential(poisoner, datasets, SEEDS)
    assert [a.inner_lr_ for a in batched] == [a.inner_lr_ for a in separate]


def test_attacks_prepared_in_threads_are_the_same_attacks():
    datasets = repetitions([0, 8], 60, 30)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=20),
                               ratios=(0.1,), batch_size=6, outer_steps=2)
    serial = fit_batched(poisoner, datasets, random_states=SEEDS)
    threaded = fit_batched(poisoner, datasets, random_states=SEEDS, n_jobs=2)
    for one, other in zip(threaded, serial):
        assert one.inner_lr_ == other.inner_lr_
        np.testing.assert_array_equal(one.results_[-1].X, other.results_[-1].X)
    with pytest.raises(ValueError, match=r"data set 1 must be a tuple"):
        fit_batched(poisoner, [datasets[0], datasets[1][:2]], n_jobs=2)


def test_fixed_lambda_inject_multiclass_equals_separate_attacks():
    datasets = repetitions([0, 1, 8], 60, 30)
    poisoner = OptimalPoisoner(
        HypergradRegularizedLR(inner_steps=20, inner_lr=0.5), ratios=(0.1,), batch_size=6,
        outer_steps=3, hyperparams="fixed", fixed_lambda=-3.0, mode="inject",
        normalize="batch")
    batched = fit_batched(poisoner, datasets, random_states=SEEDS)
    assert_same_attacks(batched, sequential(poisoner, datasets, SEEDS))
    assert batched[0].results_[0].X.shape == (66, 64)


def test_mlp_with_redrawn_initial_weights_equals_separate_attacks():
    datasets = repetitions([0, 8], 40, 20)
    poisoner = OptimalPoisoner(
        HypergradMLP(hidden_layer_sizes=(4,), inner_steps=10, random_state=0),
        ratios=(0.1,), batch_size=4, outer_steps=2, reinit_each_step=True)
    batched = fit_batched(poisoner, datasets, random_states=SEEDS)
    assert_same_attacks(batched, sequential(poisoner, datasets, SEEDS))


@pytest.mark.parametrize("estimator", [
    HypergradRegularizedLR(inner_steps=24, checkpoint_every="sqrt"),
    HypergradMLP(hidden_layer_sizes=(4,), inner_steps=12, random_state=0,
                 checkpoint_every=(6, 2)),
], ids=["lr-sqrt", "mlp-two-level"])
def test_checkpointed_batched_attacks_equal_separate_uncheckpointed_ones(estimator):
    datasets = repetitions([0, 8], 40, 20)
    poisoner = OptimalPoisoner(estimator, ratios=(0.1,), batch_size=4, outer_steps=2)
    batched = fit_batched(poisoner, datasets, random_states=SEEDS)
    plain = clone(poisoner).set_params(estimator__checkpoint_every=None)
    assert_same_attacks(batched, sequential(plain, datasets, SEEDS))


def test_default_random_states_are_the_templates():
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=10), ratios=(0.1,),
                               batch_size=4, outer_steps=1, random_state=5)
    batched = fit_batched(poisoner, datasets)
    assert [a.random_state for a in batched] == [5, 5]
    assert_same_attacks(batched, sequential(poisoner, datasets, [5, 5]))


def test_a_template_generator_is_copied_like_clone_copies_it():
    # Each attack is clone(poisoner).fit(...): every clone starts from the
    # template's RandomState, which is not advanced.
    datasets = repetitions([0, 8], 40, 20)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=10), ratios=(0.1,),
                               batch_size=4, outer_steps=1,
                               random_state=np.random.RandomState(0))
    separate = [clone(poisoner).fit(X, y, X_val=Xv, y_val=yv) for X, y, Xv, yv in datasets]
    for n_jobs in (None, 3):
        assert_same_attacks(fit_batched(poisoner, datasets, n_jobs=n_jobs), separate)
    assert poisoner.random_state.randint(10**6) == np.random.RandomState(0).randint(10**6)


def test_a_given_generator_is_drawn_from_in_order_whatever_the_threads():
    # One RandomState for all: attack k draws after attacks 0..k-1, as fits in a row do.
    datasets = repetitions([0, 8], 40, 20)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=10), ratios=(0.1,),
                               batch_size=4, outer_steps=1)
    shared = np.random.RandomState(0)
    separate = sequential(poisoner, datasets, [shared] * 3)
    for n_jobs in (None, 3, 3):
        shared = np.random.RandomState(0)
        batched = fit_batched(poisoner, datasets, random_states=[shared] * 3, n_jobs=n_jobs)
        assert_same_attacks(batched, separate)


def test_a_bad_random_state_is_named_by_its_index():
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=5), ratios=(0.1,),
                               batch_size=4, outer_steps=1)
    with pytest.raises(ValueError, match=r"random_states\[1\]: .*random_state"):
        fit_batched(poisoner, datasets, random_states=[0, "a"])
    with pytest.raises(TypeError):   # (scikit-learn's InvalidParameterError, as set_params)
        fit_batched(poisoner, datasets, random_states=[0, "a"])


@pytest.mark.parametrize("change, message", [
    (dict(datasets="shapes"), "agree on the training-set shape"),
    (dict(random_states=[0]), "random_states has 1 entries"),
    (dict(hypergrad="cg"), "hypergrad='rmd'"),
    (dict(datasets="empty"), "at least one data set"),
    (dict(datasets="pairs"), r"tuple \(X, y, X_val, y_val\)"),
])
def test_bad_input(change, message):
    datasets = repetitions([0, 8], 40, 20)[:2]
    if change.get("datasets") == "shapes":
        X, y, X_val, y_val = datasets[1]
        datasets[1] = (X[:-2], y[:-2], X_val, y_val)
    elif change.get("datasets") == "empty":
        datasets = []
    elif change.get("datasets") == "pairs":
        datasets = [d[:2] for d in datasets]
    estimator = HypergradRegularizedLR(inner_steps=5, hypergrad=change.get("hypergrad", "rmd"))
    poisoner = OptimalPoisoner(estimator, ratios=(0.1,), batch_size=4, outer_steps=1)
    with pytest.raises(ValueError, match=message):
        fit_batched(poisoner, datasets, random_states=change.get("random_states"))


@pytest.mark.parametrize("settings, message", [
    (dict(estimator=HypergradRegularizedLR(inner_steps=0)), r"^The 'inner_steps' parameter"),
    (dict(ratios=(2.0,)), r"^ratios must lie in \[0, 1\)"),
])
def test_a_template_at_fault_is_not_blamed_on_a_data_set(settings, message):
    # ("data set 0: ..." for settings that no data set could mend)
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=5), ratios=(0.1,),
                               batch_size=4, outer_steps=1).set_params(**settings)
    with pytest.raises(ValueError, match=message):
        fit_batched(poisoner, datasets)


@pytest.mark.parametrize("datasets", [None, 3, "data.npz"])
def test_datasets_that_are_no_sequence_are_refused(datasets):
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=5), ratios=(0.1,))
    with pytest.raises(TypeError, match="datasets must be a sequence of .X, y, X_val, y_val."):
        fit_batched(poisoner, datasets)


def test_not_an_optimal_poisoner():
    datasets = repetitions([0, 8], 40, 20)[:1]
    with pytest.raises(TypeError, match="OptimalPoisoner"):
        fit_batched(HypergradRegularizedLR(), datasets)


def test_templates_must_agree_on_shared_settings():
    datasets = repetitions([0, 8], 40, 20)[:2]
    estimator = HypergradRegularizedLR(inner_steps=5)
    poisoners = [OptimalPoisoner(estimator, ratios=(0.1,), batch_size=4, outer_steps=s)
                 for s in (1, 2)]
    with pytest.raises(ValueError, match="OptimalPoisoner parameter 'outer_steps'"):
        fit_batched(poisoners, datasets)
    with pytest.raises(ValueError, match="1 poisoners for 2 data sets"):
        fit_batched(poisoners[:1], datasets)


def test_templates_may_differ_in_fixed_lambda_and_inner_lr():
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoners = [OptimalPoisoner(HypergradRegularizedLR(inner_steps=10, inner_lr=lr),
                                 ratios=(0.1,), batch_size=4, outer_steps=2,
                                 hyperparams="fixed", fixed_lambda=lam, random_state=seed)
                 for lr, lam, seed in ((0.5, -2.0, 0), (0.8, -5.0, 1))]
    batched = fit_batched(poisoners, datasets)
    separate = [clone(p).fit(X, y, X_val=Xv, y_val=yv)
                for p, (X, y, Xv, yv) in zip(poisoners, datasets)]
    assert_same_attacks(batched, separate)


def test_templates_may_differ_in_what_only_their_own_fit_uses():
    # The estimator's outer_steps, final_steps and stopping rule play no part in
    # an attack (its defender takes the poisoner's outer_steps): each attack's
    # victim_ keeps its own.
    datasets = repetitions([0, 8], 40, 20)[:2]
    own = [dict(outer_steps=3), dict(outer_steps=7, final_steps=9, tol=1e-3,
                                     n_iter_no_change=2)]
    poisoners = [OptimalPoisoner(HypergradRegularizedLR(inner_steps=10, **params),
                                 ratios=(0.1,), batch_size=4, outer_steps=2, random_state=0)
                 for params in own]
    batched = fit_batched(poisoners, datasets)
    separate = [clone(p).fit(X, y, X_val=Xv, y_val=yv)
                for p, (X, y, Xv, yv) in zip(poisoners, datasets)]
    assert_same_attacks(batched, separate)
    for attack, params in zip(batched, own):
        assert {k: attack.victim_.get_params()[k] for k in params} == params


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batched_attack_matches_cpu():
    datasets = repetitions([0, 8], 60, 30)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=30),
                               ratios=(0, 0.1), batch_size=6, outer_steps=3)
    cpu = fit_batched(poisoner, datasets, random_states=SEEDS)
    cuda = fit_batched(clone(poisoner).set_params(device="cuda"), datasets,
                       random_states=SEEDS)
    assert_same_attacks(cuda, cpu)


@pytest.mark.parametrize("second, message", [
    (dict(penalty="l1"), "estimator parameter 'penalty'"),
    (dict(lambda_mode="per_feature"), "estimator parameter 'lambda_mode'"),
    (dict(dtype="float32"), "estimator parameter 'dtype'"),
])
def test_templates_must_share_the_model(second, message):
    # Settings that change no tensor shape would otherwise run attack 1 with
    # attack 0's model.
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoners = [OptimalPoisoner(HypergradRegularizedLR(inner_steps=5, **params),
                                 ratios=(0.1,), batch_size=4, outer_steps=1)
                 for params in ({}, second)]
    with pytest.raises(ValueError, match=message):
        fit_batched(poisoners, datasets)


def test_templates_must_share_the_dtype():
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoners = [OptimalPoisoner(HypergradRegularizedLR(inner_steps=5), ratios=(0.1,),
                                 batch_size=4, outer_steps=1, dtype=dtype)
                 for dtype in (None, "float32")]
    with pytest.raises(ValueError, match="OptimalPoisoner parameter 'dtype'"):
        fit_batched(poisoners, datasets)


def test_templates_must_share_the_estimator_class():
    # Without the class check an LR first and an MLP second passed (the MLP's
    # own parameters were never compared) and failed in torch.stack.
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoners = [OptimalPoisoner(estimator, ratios=(0.1,), batch_size=4, outer_steps=1)
                 for estimator in (HypergradRegularizedLR(inner_steps=5),
                                   HypergradMLP(hidden_layer_sizes=(3,), inner_steps=5))]
    with pytest.raises(ValueError, match="agree on the estimator class"):
        fit_batched(poisoners, datasets)


def test_a_list_and_a_tuple_of_the_same_values_agree():
    datasets = repetitions([0, 8], 40, 20)[:2]
    poisoners = [OptimalPoisoner(HypergradRegularizedLR(inner_steps=5, lambda_bounds=bounds),
                                 ratios=ratios, batch_size=4, outer_steps=1,
                                 feature_range=box, random_state=0)
                 for ratios, bounds, box in (((0.1,), (-8, 2), (0.0, np.ones(64))),
                                             ([0.1], [-8, 2], [0.0, np.ones(64)]))]
    fitted = fit_batched(poisoners, datasets)
    assert [a.results_[-1].n_poison for a in fitted] == [4, 4]
    # The box as the attack reads it: scalars and arrays of the same values agree.
    poisoners[1].set_params(feature_range=(np.zeros(64), 1.0))
    assert len(fit_batched(poisoners, datasets)) == 2
    poisoners[1].set_params(feature_range=[0.0, np.full(64, 2.0)])
    with pytest.raises(ValueError, match=r"agree on the feature box; attack 1 has "
                                         r"feature_range=\(0.0, array\(\[2., 2., \.\.\., "):
        fit_batched(poisoners, datasets)


def test_data_errors_name_their_data_set():
    datasets = repetitions([0, 8], 40, 20)[:2]
    X, y, X_val, y_val = datasets[1]
    datasets[1] = (X * 16, y, X_val, y_val)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=5), ratios=(0.1,),
                               batch_size=4, outer_steps=1)
    with pytest.raises(ValueError, match="data set 1: .* values of X lie outside"):
        fit_batched(poisoner, datasets)


def test_a_rate_error_names_its_data_set_when_some_rates_are_given():
    # Only the attacks with inner_lr="auto" have their norms computed: an error in
    # one of them still names its own data set, not its place among them.
    datasets = repetitions([0, 8], 80, 30)
    X, y, X_val, y_val = datasets[2]
    datasets[2] = (X * 1e200, y, X_val, y_val)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=5), ratios=(0.1,),
                               batch_size=4, outer_steps=1, feature_range=(0.0, 1e300))
    given = clone(poisoner).set_params(estimator__inner_lr=0.1)
    with pytest.raises(ValueError, match="data set 2: The squared spectral norm"):
        fit_batched([given, poisoner, poisoner], datasets)


def test_a_different_number_of_classes_is_named_as_such():
    binary = repetitions([0, 8], 40, 20)[0]
    three = repetitions([0, 1, 8], 40, 20)[0]
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=5), ratios=(0.1,),
                               batch_size=4, outer_steps=1)
    with pytest.raises(ValueError, match="number of classes; attack 1 has 3, attack 0 has 2"):
        fit_batched(poisoner, [binary, three])
