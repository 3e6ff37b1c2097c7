"""OptimalPoisoner: the result contract, the box, determinism, the ascent."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skpoison import (
    HypergradMLP,
    HypergradRegularizedLR,
    LabelFlipPoisoner,
    OptimalPoisoner,
    PoisoningResult,
)


def small_lr(**params):
    return HypergradRegularizedLR(**{"inner_steps": 30, **params})


def attack(estimator=None, **params):
    defaults = dict(ratios=(0.1, 0.2), batch_size=6, outer_steps=4, random_state=0)
    return OptimalPoisoner(small_lr() if estimator is None else estimator,
                           **{**defaults, **params})


def fit(poisoner, data):
    X, y, X_val, y_val = data[:4]
    return poisoner.fit(X, y, X_val=X_val, y_val=y_val)


def test_result_contract(binary_small):
    X, y = binary_small[:2]
    poisoner = fit(attack(ratios=(0.2, 0.0, 0.1)), binary_small)
    assert [r.ratio for r in poisoner.results_] == [0.0, 0.1, 0.2]
    assert PoisoningResult._fields == (
        "ratio", "n_poison", "X", "y", "poison_mask", "log_lambda", "val_loss",
        "val_loss_path", "lambda_path")
    assert poisoner.n_features_in_ == 64
    np.testing.assert_array_equal(poisoner.classes_, [0, 8])
    lengths = []
    for result in poisoner.results_:
        assert isinstance(result, PoisoningResult)
        assert result.n_poison == round(result.ratio * len(X))
        assert result.X.shape == X.shape and result.y.shape == y.shape  # replace mode
        assert result.poison_mask.dtype == bool
        assert result.poison_mask.sum() == result.n_poison
        # clean rows untouched, poison rows carry labels of the training classes
        np.testing.assert_array_equal(result.X[~result.poison_mask], X[~result.poison_mask])
        np.testing.assert_array_equal(result.y[~result.poison_mask], y[~result.poison_mask])
        assert result.log_lambda.shape == (1,)
        assert isinstance(result.val_loss, float)
        assert result.val_loss == pytest.approx(result.val_loss_path[-1])
        assert result.lambda_path.shape == (result.val_loss_path.shape[0], 1)
        np.testing.assert_array_equal(result.lambda_path[-1], result.log_lambda)
        lengths.append(result.val_loss_path.shape[0])
    # 0 %: learn λ on clean data; 10 % and 20 %: one batch of 6 each (+ final evaluation)
    assert lengths == [5, 10, 15]
    # cumulative: the 10 % poison is frozen inside the 20 % set
    first, second = poisoner.results_[1:]
    assert (first.poison_mask <= second.poison_mask).all()
    np.testing.assert_array_equal(first.X[first.poison_mask], second.X[first.poison_mask])
    np.testing.assert_array_equal(second.val_loss_path[:10], first.val_loss_path)


def test_fit_resample_returns_largest_ratio_inject(binary_small):
    X, y, X_val, y_val = binary_small[:4]
    poisoner = attack(mode="inject")
    X_p, y_p = poisoner.fit_resample(X, y, X_val=X_val, y_val=y_val)
    last = poisoner.results_[-1]
    assert X_p.shape == (len(X) + 12, 64) and y_p.shape == (len(X) + 12,)
    np.testing.assert_array_equal(X_p, last.X)
    np.testing.assert_array_equal(X_p[:len(X)], X)
    np.testing.assert_array_equal(last.poison_mask, np.arange(len(X_p)) >= len(X))


def test_poison_stays_in_box_and_inputs_unmodified(binary_small):
    X, y, X_val, y_val = binary_small[:4]
    copies = [a.copy() for a in (X, y, X_val, y_val)]
    low = np.full(64, 0.0)
    low[:8] = -0.5
    poisoner = attack(feature_range=(low, 1.0), poison_lr=5.0)  # huge steps hit the walls
    X_p, _ = poisoner.fit_resample(X, y, X_val=X_val, y_val=y_val)
    for before, after in zip(copies, (X, y, X_val, y_val)):
        np.testing.assert_array_equal(before, after)
    poison = X_p[poisoner.results_[-1].poison_mask]
    assert (poison >= low).all() and (poison <= 1.0).all()
    assert (poison == 1.0).any() and (poison[:, :8] < 0).any()  # the box was reached
    assert not np.shares_memory(X_p, X)


def test_same_random_state_same_poison(binary_small):
    first = fit(attack(random_state=3), binary_small).results_[-1]
    second = fit(attack(random_state=3), binary_small).results_[-1]
    other = fit(attack(random_state=4), binary_small).results_[-1]
    np.testing.assert_array_equal(first.X, second.X)
    np.testing.assert_array_equal(first.val_loss_path, second.val_loss_path)
    assert not np.array_equal(first.poison_mask, other.poison_mask)


def test_no_optimization_is_the_label_flip_baseline(binary_small):
    optimal = fit(attack(outer_steps=0, mode="inject"), binary_small).results_[-1]
    flip = fit(LabelFlipPoisoner(ratios=(0.1, 0.2), batch_size=6, mode="inject",
                                 random_state=0), binary_small).results_[-1]
    np.testing.assert_array_equal(optimal.X, flip.X)
    np.testing.assert_array_equal(optimal.y, flip.y)


@pytest.mark.parametrize("hyperparams", ["fixed", "learn"])
def test_validation_loss_rises_during_each_batch(binary_small, hyperparams):
    poisoner = fit(attack(small_lr(inner_steps=60), hyperparams=hyperparams,
                          outer_steps=8, ratios=(0.1, 0.2)), binary_small)
    path = poisoner.results_[-1].val_loss_path
    for start in range(0, len(path), 9):  # 8 steps + the final evaluation per batch
        assert path[start + 8] > path[start]
    assert poisoner.results_[1].val_loss > poisoner.results_[0].val_loss


def test_fixed_lambda_is_kept(binary_small):
    for value, expected in ((-np.inf, -np.inf), (-3.0, -3.0), (None, -4.0)):
        result = fit(attack(hyperparams="fixed", fixed_lambda=value), binary_small).results_[-1]
        assert (result.lambda_path == expected).all()
        assert result.log_lambda.tolist() == [expected]


def test_learned_lambda_grows_with_poisoning(binary_large):
    # Near-converged inner problem (T = 300): regularization then matters.
    victim = HypergradRegularizedLR(inner_steps=300, lambda_init=-4.0,
                                    lambda_bounds=(-12.0, -1.0))
    poisoner = OptimalPoisoner(victim, ratios=(0.0, 0.2), batch_size=40, outer_steps=16,
                               poison_lr=0.5, lambda_lr=0.25, random_state=0)
    clean, poisoned = fit(poisoner, binary_large).results_
    assert clean.log_lambda[0] < -6.0
    assert poisoned.log_lambda[0] > clean.log_lambda[0] + 2.0


def test_multiclass_labels_and_strategies(three_classes):
    X, y, X_val, y_val = three_classes[:4]
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                      "eight"])
    poisoner = attack(small_lr(lambda_mode="per_feature"))
    X_p, y_p = poisoner.fit_resample(X, names[y], X_val=X_val, y_val=names[y_val])
    result = poisoner.results_[-1]
    assert result.n_poison == 18 and result.log_lambda.shape == (64,)
    assert set(y_p) <= {"zero", "one", "eight"} and y_p.dtype == names.dtype
    assert ((X_p >= 0) & (X_p <= 1)).all()
    np.testing.assert_array_equal(poisoner.classes_, ["eight", "one", "zero"])


@pytest.mark.parametrize("strategy", ["random", "next"])
def test_multiclass_flipped_labels(three_classes, strategy):
    X, y, X_val, y_val = three_classes[:4]
    flip = LabelFlipPoisoner(ratios=(0.4,), batch_size=36, label_strategy=strategy,
                             random_state=0)
    X_f, y_f = flip.fit_resample(X, y, X_val=X_val, y_val=y_val)
    poison = flip.results_[0].poison_mask
    source = np.array([np.flatnonzero((X_val == row).all(1))[0] for row in X_f[poison]])
    assert len(set(source)) == 36  # distinct clones
    if strategy == "next":  # 0 -> 1 -> 8 -> 0 among the sorted classes
        mapping = {0: 1, 1: 8, 8: 0}
        assert [mapping[v] for v in y_val[source]] == y_f[poison].tolist()
    else:
        assert (y_val[source] != y_f[poison]).all()
        assert len(set(zip(y_val[source], y_f[poison]))) == 6  # all other classes drawn


def test_mlp_with_reinitialization(binary_small):
    # random_state=None: the poisoner seeds the victim's initial weights too
    mlp = HypergradMLP(hidden_layer_sizes=(4,), lambda_mode="per_layer", inner_steps=15,
                       inner_lr=0.5)
    runs = [fit(attack(mlp, reinit_each_step=True, outer_steps=3, random_state=1),
                binary_small).results_[-1] for _ in range(2)]
    result = runs[0]
    assert result.log_lambda.shape == (2,) and result.lambda_path.shape == (8, 2)
    assert np.isfinite(result.val_loss_path).all()
    poison = result.X[result.poison_mask]
    assert ((poison >= 0) & (poison <= 1)).all()
    np.testing.assert_array_equal(runs[0].X, runs[1].X)  # re-draws are seeded
    np.testing.assert_array_equal(runs[0].val_loss_path, runs[1].val_loss_path)


def test_float32_and_verbose(binary_small, capsys):
    X, y, X_val, y_val = binary_small[:4]
    poisoner = attack(dtype="float32", verbose=1)
    X_p, _ = poisoner.fit_resample(X.astype(np.float32), y, X_val=X_val, y_val=y_val)
    assert X_p.dtype == np.float32 and ((X_p >= 0) & (X_p <= 1)).all()
    assert "batches" in capsys.readouterr().err


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(binary_small):
    cpu = fit(attack(), binary_small).results_[-1]
    cuda = fit(attack(device="cuda"), binary_small).results_[-1]
    np.testing.assert_array_equal(cpu.poison_mask, cuda.poison_mask)
    np.testing.assert_allclose(cpu.X, cuda.X, atol=1e-6)
    np.testing.assert_allclose(cpu.val_loss_path, cuda.val_loss_path, rtol=1e-6)


@pytest.mark.parametrize("mode", ["replace", "inject"])
def test_each_reported_val_loss_is_that_of_the_returned_set(binary_small, mode):
    # Steps of 5 hit the box's walls: the attack must train on the projected
    # points, and on the rows it returns (n rows when replacing, not n + 1).
    from skpoison.hypergrad import train
    from skpoison.models import LinearProblem

    X, y, X_val, y_val = binary_small[:4]
    poisoner = fit(attack(hyperparams="fixed", fixed_lambda=-3.0, mode=mode, poison_lr=5.0),
                   binary_small)
    problem, dt = LinearProblem(X.shape[1], 1), torch.float64
    for result in poisoner.results_:
        assert result.X.min() >= 0.0 and result.X.max() <= 1.0
        w = train(problem, problem.init_params(), torch.full((1,), -3.0, dtype=dt),
                  torch.as_tensor(result.X), torch.as_tensor(result.y == 8, dtype=dt)[:, None],
                  steps=30, lr=poisoner.inner_lr_)
        val_loss = problem.data_loss(w, torch.as_tensor(X_val),
                                     torch.as_tensor(y_val == 8, dtype=dt)[:, None])
        assert float(val_loss) == pytest.approx(result.val_loss, rel=1e-9)


def test_a_float64_trusted_set_is_not_rounded_to_float32_features(binary_small):
    # (the poisoner read X_val in X's dtype: a float64 attack then ran on a
    # float32-rounded trusted set, 1e-9 off, unlike the estimators; a review)
    X, y, X_val, y_val = binary_small[:4]
    X32 = X.astype(np.float32)
    X_val = X_val + 1e-3 * np.random.RandomState(0).rand(*X_val.shape)   # (not float32)
    X_val = np.clip(X_val, 0.0, 1.0)

    def attack(X_train):
        return OptimalPoisoner(HypergradRegularizedLR(inner_steps=10), ratios=(0.1,),
                               batch_size=3, outer_steps=2, random_state=0).fit(
            X_train, y, X_val=X_val, y_val=y_val)

    mixed, wide = attack(X32), attack(X32.astype(np.float64))
    np.testing.assert_array_equal(mixed.results_[-1].val_loss_path,
                                  wide.results_[-1].val_loss_path)
    assert mixed.results_[-1].X.dtype == np.float32        # (the caller's dtype out)


def test_a_defender_whose_lambda_never_moves_is_said_plainly(binary_small):
    # One inner step from zero weights ignores the penalty: every hypergradient in
    # λ is 0, and the attack on the "learned" λ ran against λ fixed at its start.
    from sklearn.exceptions import ConvergenceWarning

    X, y, X_val, y_val = binary_small[:4]
    attack = OptimalPoisoner(HypergradRegularizedLR(inner_steps=1), ratios=(0.1,),
                             batch_size=3, outer_steps=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="the attack ran against λ fixed at its start"):
        attack.fit(X, y, X_val=X_val, y_val=y_val)
    assert (attack.results_[-1].lambda_path == attack.results_[-1].lambda_path[0]).all()
    fixed = clone(attack).set_params(hyperparams="fixed", fixed_lambda=-4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)   # (a fixed λ is meant to stay)
        fixed.fit(X, y, X_val=X_val, y_val=y_val)


def test_a_clean_lambda_that_never_moved_is_not_called_an_attack(binary_small):
    # ratios=(0,) learns λ on the clean data alone: no attack ran, so the warning
    # says the reported λ is its start, not that an attack ran against a fixed λ.
    from sklearn.exceptions import ConvergenceWarning

    X, y, X_val, y_val = binary_small[:4]
    clean = OptimalPoisoner(HypergradRegularizedLR(inner_steps=1), ratios=(0.0,),
                            outer_steps=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="λ never moved") as caught:
        clean.fit(X, y, X_val=X_val, y_val=y_val)
    message = next(str(w.message) for w in caught if "never moved" in str(w.message))
    assert "the attack ran" not in message and "per batch" not in message
    assert "on the clean data" in message
