"""fit_batched's parameter comparison, feature-range shapes, the clean phase's reuse and
the divergence advice at ratio 0."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from skpoison import HypergradRegularizedLR, OptimalPoisoner
from skpoison.hypergrad import InnerDivergenceError
from skpoison.poisoning import fit_batched


def attack(estimator=None, **params):
    estimator = HypergradRegularizedLR(inner_steps=5) if estimator is None else estimator
    return OptimalPoisoner(**{"estimator": estimator, "ratios": (0.1,), "batch_size": 5,
                              "outer_steps": 1, "random_state": 0, **params})


@pytest.mark.parametrize("feature_range", [(np.zeros(3), 1.0), (0.0, np.ones((2, 64)))],
                         ids=["too-few-bounds", "two-dimensional"])
def test_feature_range_bounds_of_the_wrong_shape_are_refused(binary_small, feature_range):
    X, y, X_val, y_val = binary_small[:4]
    with pytest.raises(ValueError, match=r"^feature_range bounds must be scalars or arrays "
                                         r"of shape \(64,\) \(one per feature\); got shapes"):
        attack(feature_range=feature_range).fit(X, y, X_val=X_val, y_val=y_val)


def test_a_victim_that_diverges_on_clean_data_gets_the_engines_advice_alone(binary_small):
    # At ratio 0, or at the first step of the first batch, no poisoning point has
    # moved: the advice about moving points (a bounded box, a lower poison_lr)
    # would be wrong there; it is added once they have moved
    # (test_divergence_during_an_attack_names_the_moving_points).
    X, y, X_val, y_val = binary_small[:4]
    victim = HypergradRegularizedLR(inner_lr=50.0, inner_steps=20)
    for ratios in ((0.0, 0.1), (0.1,)):
        with pytest.raises(InnerDivergenceError, match="training objective rose") as clean:
            attack(victim, ratios=ratios, hyperparams="learn").fit(X, y, X_val=X_val,
                                                                   y_val=y_val)
        assert "poisoning points move" not in str(clean.value)


def _datasets(binary_small):
    X, y, X_val, y_val = binary_small[:4]
    return [(X[:30], y[:30], X_val[:15], y_val[:15]), (X[30:], y[30:], X_val[15:], y_val[15:])]


@pytest.mark.parametrize("kind", ["series", "tensor", "tensor-per-feature"])
def test_fit_batched_compares_array_like_parameters_by_value(binary_small, kind):
    # A pandas Series had no truth value, so the attacks "disagreed" on it even
    # when they shared one estimator; a tensor of several values raised
    # torch's RuntimeError from the comparison.
    if kind == "series":
        lambda_init = pytest.importorskip("pandas").Series([-4.0])
    else:
        lambda_init = torch.full((64 if kind == "tensor-per-feature" else 1,), -4.0,
                                 dtype=torch.float64)
    mode = "per_feature" if len(lambda_init) == 64 else "single"
    template = attack(HypergradRegularizedLR(inner_steps=5, lambda_mode=mode,
                                             lambda_init=lambda_init))
    data = _datasets(binary_small)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # (torch's non-writable-array warning)
        batched = fit_batched(template, data, random_states=[0, 1])
        plain = attack(HypergradRegularizedLR(inner_steps=5, lambda_mode=mode,
                                              lambda_init=np.full(len(lambda_init), -4.0)))
        expected = fit_batched(plain, data, random_states=[0, 1])
    for got, want in zip(batched, expected):
        np.testing.assert_allclose(got.results_[-1].X, want.results_[-1].X, rtol=0, atol=0)
    other = attack(HypergradRegularizedLR(inner_steps=5, lambda_mode=mode,
                                          lambda_init=lambda_init * 0 - 3.0))
    with pytest.raises(ValueError, match="agree on the estimator parameter 'lambda_init'"):
        fit_batched([template, other], data)


def test_fit_batched_tells_a_ragged_bound_from_an_array(binary_small):
    # A ragged bound cannot become an array: refused as fit refuses it (no NumPy error).
    ragged = attack(feature_range=([[0.0], [0.0, 0.0]], 1.0))
    boxed = attack(feature_range=(np.zeros(64), 1.0))
    with pytest.raises(ValueError, match=r"^data set 1: feature_range=.* must hold numbers"):
        fit_batched([boxed, ragged], _datasets(binary_small))


def test_a_ratio_of_zero_points_beside_ratio_zero_reuses_the_clean_phase(binary_small,
                                                                           monkeypatch):
    # 0.5 % of 60 rows rounds to no point: its result is the clean model's,
    # computed once for both, and the later ratios are those of the attack without it.
    import skpoison.poisoning._cumulative as cumulative

    calls = []
    original = cumulative.optimize_batch

    def counted(config, X_fixed, Y_fixed, X_poison, *args, **kwargs):
        calls.append(X_poison.shape[-2])
        return original(config, X_fixed, Y_fixed, X_poison, *args, **kwargs)

    monkeypatch.setattr(cumulative, "optimize_batch", counted)
    X, y, X_val, y_val = binary_small[:4]
    results = {}
    for ratios in ((0.0, 0.005, 0.1), (0.0, 0.1)):
        calls.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # (no point for 0.005: warned)
            fitted = attack(ratios=ratios, hyperparams="learn", outer_steps=2).fit(
                X, y, X_val=X_val, y_val=y_val)
        results[ratios] = fitted.results_
        assert calls == [0, 3, 3]           # the clean phase once, then two batches of 3
    clean, none, last = results[(0.0, 0.005, 0.1)]
    assert (none.ratio, none.n_poison) == (0.005, 0)
    assert len(none.val_loss_path) == len(none.lambda_path) == 2 + 1   # outer_steps + 1
    for got, want in ((clean, results[(0.0, 0.1)][0]), (none, results[(0.0, 0.1)][0]),
                      (last, results[(0.0, 0.1)][1])):
        np.testing.assert_array_equal(got.X, want.X)
        np.testing.assert_array_equal(got.log_lambda, want.log_lambda)
        np.testing.assert_array_equal(got.val_loss_path, want.val_loss_path)
        np.testing.assert_array_equal(got.lambda_path, want.lambda_path)
        assert got.val_loss == want.val_loss


@pytest.mark.parametrize("stop", [0, 2, 4])
def test_each_attack_keeps_the_clean_rows_it_did_not_replace(stop):
    from skpoison.poisoning._cumulative import _kept_points

    rng = np.random.default_rng(0)
    X, Y = torch.randn(3, 10, 2), torch.randn(3, 10, 1)
    replace_index = np.stack([rng.permutation(10)[:4] for _ in range(3)])
    X_kept, Y_kept = _kept_points(X, Y, replace_index, stop)
    for k in range(3):
        rows = np.setdiff1d(np.arange(10), replace_index[k, :stop])   # (sorted: in order)
        assert torch.equal(X_kept[k], X[k][rows]) and torch.equal(Y_kept[k], Y[k][rows])
        alone = _kept_points(X[k], Y[k], replace_index[k], stop)
        assert torch.equal(alone[0], X[k][rows]) and torch.equal(alone[1], Y[k][rows])


@pytest.mark.parametrize("estimator", [None, "lr"], ids=["none", "string"])
def test_fit_batched_names_an_invalid_estimator_as_fit_does(binary_small, estimator):
    # (was an AttributeError from comparing the templates' estimators' parameters)
    from sklearn.utils._param_validation import InvalidParameterError

    bad = OptimalPoisoner(estimator, ratios=(0.1,))
    with pytest.raises(InvalidParameterError, match="'estimator' parameter .* must be a "
                                                    "HypergradRegularizedLR or a HypergradMLP"):
        fit_batched(bad, _datasets(binary_small))


@pytest.mark.parametrize("random_states", [0, "seed"])
def test_fit_batched_says_random_states_is_one_per_data_set(binary_small, random_states):
    with pytest.raises(TypeError, match="one random_state per data set"):
        fit_batched(attack(), _datasets(binary_small), random_states=random_states)


def test_fit_batched_names_the_data_set_of_a_type_error(binary_small):
    sparse = pytest.importorskip("scipy.sparse")
    (X, y, X_val, y_val), first = _datasets(binary_small)[1], _datasets(binary_small)[0]
    with pytest.raises(TypeError, match="^data set 1: .*[Ss]parse"):
        fit_batched(attack(), [first, (sparse.csr_matrix(X), y, X_val, y_val)])


def test_fit_batched_lets_the_attacks_differ_in_verbosity(binary_small):
    # verbose changes no number; attack 0's shows the progress.
    quiet = attack(HypergradRegularizedLR(inner_steps=5))
    loud = attack(HypergradRegularizedLR(inner_steps=5, verbose=1), verbose=1)
    data = _datasets(binary_small)
    mixed = fit_batched([quiet, loud], data, random_states=[0, 1])
    same = fit_batched(quiet, data, random_states=[0, 1])
    for got, want in zip(mixed, same):
        np.testing.assert_array_equal(got.results_[-1].X, want.results_[-1].X)
