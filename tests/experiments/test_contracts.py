"""Contracts of the experiment cells, strategies and figures (from a mutation round)."""

import numpy as np
import pytest
from sklearn.utils import Bunch

from skpoison import HypergradRegularizedLR


def test_cv_ties_go_to_the_larger_lambda(digits08_pool):
    # X1: λ = -750 and -700 are both no regularization in float64: a tie.
    from skpoison.experiments._strategies import cross_validate_lambda
    X, y = digits08_pool
    estimator = HypergradRegularizedLR(inner_steps=10, inner_lr=0.5)
    best = cross_validate_lambda(estimator, X[:60], y[:60], (-750.0, -700.0), n_folds=2)
    assert best == -700.0


@pytest.mark.parametrize("grid, match", [
    ([], "grid must be a number or a non-empty 1-D array; got shape \\(0,\\)"),
    (-3.0, "grid=-3.0 must be a non-empty 1-D sequence of log λ values"),
    (["-3"], "grid=\\['-3'\\] must be a float or an array of floats"),
    ([-6.0, 800.0], "grid is log λ: values up to 709.8 are finite in float64; got max 800"),
    ([np.inf, -3.0], "grid must not be NaN or \\+inf"),
    ([np.nan], "grid must not be NaN or \\+inf"),
    ([[-3.0, -2.0]], "grid=\\[\\[-3.0, -2.0\\]\\] must be a non-empty 1-D sequence"),
])
def test_cv_refuses_a_grid_it_cannot_search(grid, match, digits08_pool):
    # ([] and -3.0 failed inside NumPy; 800 and +inf failed every candidate, with a
    # message that blamed the folds)
    from skpoison.experiments._strategies import cross_validate_lambda
    X, y = digits08_pool
    with pytest.raises(ValueError, match=match):
        cross_validate_lambda(HypergradRegularizedLR(inner_steps=5), X[:60], y[:60], grid,
                              n_folds=2)


def test_cv_evaluates_grid_values_above_the_estimators_box():
    # Values above lambda_bounds[1] were trained at the bound, tied there, and the
    # tie-break chose the largest: a λ never evaluated (1.0 here, -3.0 evaluated).
    from sklearn.datasets import load_digits

    from skpoison.experiments._strategies import cross_validate_lambda
    X, y = load_digits(n_class=2, return_X_y=True)
    flip = np.random.RandomState(3).rand(len(y)) < 0.45
    y = np.where(flip, 1 - y, y)
    chosen = [cross_validate_lambda(HypergradRegularizedLR(inner_steps=30, random_state=0,
                                                           lambda_bounds=(-12.0, high)),
                                    X[:120] / 16, y[:120], [-8.0, -3.0, 1.0], n_folds=3)
              for high in (-3.0, 2.0)]
    assert chosen == [-3.0, -3.0]


@pytest.mark.parametrize("setting, strategy", [(dict(large_lambda=3.0), "large"),
                                               (dict(cv_grid=(1.0, 2.0)), "cv")])
def test_the_inner_rate_is_stable_for_a_large_or_cv_lambda_above_zero(setting, strategy):
    # (it was computed for the learnable box's top, 0: InnerDivergenceError)
    from skpoison.experiments import make_config
    from skpoison.experiments._attack_cell import run_attack_cell
    rows = run_attack_cell(make_config(size="tiny", **setting), strategy, 0)
    assert len(rows) == 3


def test_victim_steps_train_only_the_scored_victim():
    # The attack (its λ and loss) is unchanged; only the victim trains longer.
    from skpoison.experiments import make_config
    from skpoison.experiments._attack_cell import run_attack_cell
    config = make_config(size="tiny")
    plain = run_attack_cell(config, "learned", 0)
    same = run_attack_cell(make_config(size="tiny", victim_steps=config.inner_steps),
                           "learned", 0)
    longer = run_attack_cell(make_config(size="tiny", victim_steps=200), "learned", 0)
    drop = ("cell_seconds",)
    assert ([{k: v for k, v in r.items() if k not in drop} for r in same]
            == [{k: v for k, v in r.items() if k not in drop} for r in plain])
    for a, b in zip(plain, longer):
        assert (b["log_lambda"], b["attack_val_loss"]) == (a["log_lambda"],
                                                           a["attack_val_loss"])
        assert b["weight_norm"] > a["weight_norm"]   # 200 steps from zeros: larger weights


@pytest.mark.parametrize("name, value", [("lambda_step", "sign"), ("normalize", "batch"),
                                         ("poison_lr", 0.3), ("lambda_lr", 0.05)])
def test_the_attack_step_settings_reach_the_poisoner(name, value):
    from skpoison.experiments import make_config
    from skpoison.experiments._attack_cell import _prepare_cell
    cell = _prepare_cell(make_config(size="tiny", **{name: value}), "learned", 0, None, None)
    assert cell.attack.get_params()[name] == value


def test_a_fixed_lambda_above_the_box_is_not_clipped(digits08_pool):
    # X2: fixed_lambda_estimator trains with the given λ even above lambda_bounds[1].
    from skpoison.experiments._strategies import fixed_lambda_estimator
    X, y = digits08_pool
    victim = fixed_lambda_estimator(HypergradRegularizedLR(inner_steps=5), 2.0)
    victim.fit(X[:100], y[:100], X[100:120], y[100:120])
    np.testing.assert_array_equal(victim.lambda_, [2.0])


def test_test_error_is_measured_on_the_test_set(monkeypatch):
    # X4: with the test labels flipped, every test error becomes 1 - itself.
    from skpoison.experiments import make_config
    from skpoison.experiments._attack_cell import run_attack_cell
    namespace = run_attack_cell.__globals__
    config = make_config(size="tiny")
    plain = run_attack_cell(config, "large", 0)
    real = namespace["draw_split"]

    def flipped(*args, **kwargs):
        pool, split = real(*args, **kwargs)
        low, high = np.unique(split.y_test)
        split.y_test = np.where(split.y_test == low, high, low)
        return pool, split

    monkeypatch.setitem(namespace, "draw_split", flipped)
    flipped_rows = run_attack_cell(config, "large", 0)
    for a, b in zip(plain, flipped_rows):
        assert b["test_error"] == pytest.approx(1.0 - a["test_error"])
        assert b["val_error"] == a["val_error"]


def test_trusted_sizes_stop_at_what_a_balanced_pool_leaves():
    # X8: digits 0 vs 8 (178 and 174 samples): 2 * 174 - 200 - 100 = 48, not 52.
    from skpoison.experiments import make_config
    from skpoison.experiments._figures import _val_sizes
    config = make_config("digits", size="quick")
    with pytest.warns(UserWarning, match="moved within"):
        assert _val_sizes(config, (0.5,), None) == [48]


@pytest.fixture(scope="module")
def synthetic_tiny():
    from skpoison.experiments._synthetic import synthetic_maps
    return synthetic_maps(size="tiny", lambda_grid=(-1.0, -np.inf))


def test_synthetic_best_lambda_has_the_lowest_validation_loss(synthetic_tiny):
    # X10: with the grid (fixed λ, -inf) the best λ is where the loss is lower.
    maps = synthetic_tiny
    expected = np.where(maps["val_loss_reg"] <= maps["val_loss_noreg"], -1.0, -np.inf)
    assert (maps["val_loss_reg"] != maps["val_loss_noreg"]).any()
    np.testing.assert_array_equal(maps["best_lambda"], expected)


def test_synthetic_maps_are_indexed_x1_then_x2(synthetic_tiny):
    # X9: val_loss_noreg[i, j] is the point (grid[i], grid[j]) injected.
    from skpoison.datasets import default_sizes, load_dataset, make_poisoning_splits
    maps = synthetic_tiny
    pool = load_dataset("synthetic")
    split = make_poisoning_splits(pool.data, pool.target, **default_sizes("synthetic"),
                                  random_state=0)
    np.testing.assert_array_equal(split.X_train, maps["X_train"])
    steps = maps["inner_steps"]
    options = dict(inner_steps=steps, outer_steps=0, lambda_init=-np.inf,
                   lambda_bounds=(-np.inf, 0.0))
    lr = HypergradRegularizedLR(**options).fit(split.X_train, split.y_train, split.X_val,
                                               split.y_val).inner_lr_
    grid, last = maps["grid"], len(maps["grid"]) - 1
    i, j = 0, last
    X = np.vstack([split.X_train, [[grid[i], grid[j]]]])
    y = np.r_[split.y_train, maps["poison_label"]]
    victim = HypergradRegularizedLR(inner_lr=lr, **options).fit(X, y, split.X_val, split.y_val)
    scores = victim.decision_function(split.X_val)
    loss = np.mean(np.logaddexp(0.0, scores) - split.y_val * scores)
    assert maps["val_loss_noreg"][i, j] == pytest.approx(loss, rel=1e-9)
    assert maps["val_loss_noreg"][j, i] != pytest.approx(loss, rel=1e-9)


def test_no_regularization_is_not_clipped_to_the_box(digits08_pool):
    # The no_reg victim trains with λ = -inf, not with the box's lower end (-12).
    from skpoison.experiments._strategies import fixed_lambda_estimator
    X, y = digits08_pool
    victim = fixed_lambda_estimator(HypergradRegularizedLR(inner_steps=5), -np.inf)
    victim.fit(X[:100], y[:100], X[100:120], y[100:120])
    assert np.isneginf(victim.lambda_).all() and (victim.alpha_ == 0).all()


def test_log_lambda_of_a_per_layer_cell_is_the_mean_of_its_layers():
    # docs/experiments.md: a per-layer cell's log_lambda is the mean of its layers'.
    from skpoison.experiments import make_config
    from skpoison.experiments._attack_cell import run_attack_cell
    rows = run_attack_cell(make_config(size="tiny", model="mlp"), "learned_per_layer", 0)
    for row in rows:
        layers = [row["log_lambda_0"], row["log_lambda_1"]]
        assert layers[0] != layers[1]
        assert row["log_lambda"] == pytest.approx(np.mean(layers), rel=0, abs=1e-12)


def test_the_environment_records_the_resolved_device():
    # The record names the device the cells ran on, not "auto".
    import torch

    from skpoison.experiments._environment import environment
    if torch.cuda.is_available():
        expected = str(torch.device("cuda", torch.cuda.current_device()))
    else:
        expected = "cpu"
    assert environment("auto")["device"] == expected


def test_synthetic_grid_spans_the_feature_box(synthetic_tiny):
    from skpoison.datasets import load_dataset
    low, high = load_dataset("synthetic").feature_range
    grid = synthetic_tiny["grid"]
    assert len(grid) == 6 and grid[0] == low and grid[-1] == high


def test_synthetic_maps_use_the_fixed_lambda_given():
    # With fixed_lambda=-2 (not the default -1): the regularized map is trained at
    # λ = -2, and the regularized attack's victim is the λ = -2 model on its point.
    from skpoison.datasets import default_sizes, load_dataset, make_poisoning_splits
    from skpoison.experiments._synthetic import synthetic_maps
    maps = synthetic_maps(size="tiny", fixed_lambda=-2.0, lambda_grid=(-2.0,))
    pool = load_dataset("synthetic")
    split = make_poisoning_splits(pool.data, pool.target, **default_sizes("synthetic"),
                                  random_state=0)
    options = dict(inner_steps=maps["inner_steps"], outer_steps=0,
                   lambda_bounds=(-np.inf, 0.0))
    lr = HypergradRegularizedLR(lambda_init=-np.inf, **options).fit(
        split.X_train, split.y_train, split.X_val, split.y_val).inner_lr_

    def victim(point, label):
        X = np.vstack([split.X_train, [point]])
        y = np.r_[split.y_train, label]
        return HypergradRegularizedLR(inner_lr=lr, lambda_init=-2.0, **options).fit(
            X, y, split.X_val, split.y_val)

    grid = maps["grid"]
    model = victim([grid[1], grid[2]], maps["poison_label"])
    scores = model.decision_function(split.X_val)
    loss = np.mean(np.logaddexp(0.0, scores) - split.y_val * scores)
    assert maps["val_loss_reg"][1, 2] == pytest.approx(loss, rel=1e-9)
    error = np.mean((scores > 0) != split.y_val)
    assert maps["val_error_reg"][1, 2] == pytest.approx(error)
    model = victim(maps["poison_reg"], maps["poison_label"])
    np.testing.assert_allclose(maps["w_poisoned_reg"],
                               np.r_[model.coef_.ravel(), model.intercept_], rtol=1e-9)
    assert not np.allclose(maps["w_poisoned_reg"], maps["w_poisoned_noreg"])


def test_synthetic_maps_take_a_lambda_above_the_estimators_box():
    # fixed_lambda=1 diverged (the shared rate was stable up to λ = 0 only), and
    # the regularized attack's victim was clipped to λ = 0.
    import warnings

    from skpoison.datasets import default_sizes, load_dataset, make_poisoning_splits
    from skpoison.experiments._synthetic import synthetic_maps
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = synthetic_maps(size="tiny", fixed_lambda=1.0, lambda_grid=(-2.0, 1.0))
    pool = load_dataset("synthetic")
    split = make_poisoning_splits(pool.data, pool.target, **default_sizes("synthetic"),
                                  random_state=0)
    X = np.vstack([split.X_train, [maps["poison_reg"]]])
    y = np.r_[split.y_train, maps["poison_label"]]
    lr = HypergradRegularizedLR(inner_steps=maps["inner_steps"], outer_steps=0,
                                lambda_bounds=(-np.inf, 1.0), lambda_init=-np.inf).fit(
        split.X_train, split.y_train, split.X_val, split.y_val).inner_lr_
    model = HypergradRegularizedLR(inner_steps=maps["inner_steps"], outer_steps=0,
                                   inner_lr=lr, lambda_init=1.0,
                                   lambda_bounds=(-np.inf, 1.0)).fit(X, y, split.X_val,
                                                                     split.y_val)
    np.testing.assert_allclose(maps["w_poisoned_reg"],
                               np.r_[model.coef_.ravel(), model.intercept_], rtol=1e-9)


def test_synthetic_validation_error_is_the_poisoned_models_error(synthetic_tiny):
    from skpoison.datasets import default_sizes, load_dataset, make_poisoning_splits
    maps = synthetic_tiny
    pool = load_dataset("synthetic")
    split = make_poisoning_splits(pool.data, pool.target, **default_sizes("synthetic"),
                                  random_state=0)
    options = dict(inner_steps=maps["inner_steps"], outer_steps=0, lambda_init=-np.inf,
                   lambda_bounds=(-np.inf, 0.0))
    lr = HypergradRegularizedLR(**options).fit(split.X_train, split.y_train, split.X_val,
                                               split.y_val).inner_lr_
    grid = maps["grid"]
    X = np.vstack([split.X_train, [[grid[1], grid[2]]]])
    y = np.r_[split.y_train, maps["poison_label"]]
    victim = HypergradRegularizedLR(inner_lr=lr, **options).fit(X, y, split.X_val, split.y_val)
    error = np.mean((victim.decision_function(split.X_val) > 0) != split.y_val)
    assert error != 0.5     # (so that a flipped decision rule cannot give it too)
    assert maps["val_error_noreg"][1, 2] == pytest.approx(error)


def test_the_pool_cache_follows_the_data_home_the_environment_names(monkeypatch):
    # (keyed by data_home=None alone, a changed SKPOISON_DATA reused the old pool)
    from skpoison.experiments import _pools

    loaded = []
    monkeypatch.setattr(_pools, "_POOLS", {})
    monkeypatch.setattr(_pools, "load_dataset",
                        lambda *args, **kwargs: loaded.append(args) or Bunch())
    for home in ("/data/a", "/data/a", "/data/b"):
        monkeypatch.setenv("SKPOISON_DATA", home)
        _pools.load_pool("mnist")
    assert len(loaded) == 2


def test_a_sweep_without_cv_takes_an_empty_cv_grid():
    from skpoison.experiments import make_config
    from skpoison.experiments._attack_cell import run_attack_cell
    rows = run_attack_cell(make_config(size="tiny", strategies=("learned",), cv_grid=()),
                           "learned", 0)
    assert len(rows) == 3


def test_cells_of_a_config_with_a_lambda_above_the_box_are_named_apart():
    # (they run at a lower inner rate than such cells computed before that rule);
    # the other configs' cells keep their names
    from skpoison.experiments import make_config
    from skpoison.experiments._runner import attack_defaults
    assert "inner_rate_log_lambda" not in attack_defaults(make_config(size="tiny"))
    assert attack_defaults(make_config(size="tiny", large_lambda=3.0))[
        "inner_rate_log_lambda"] == 3.0


@pytest.mark.parametrize("frame", [False, True], ids=["numpy", "pandas"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_cv_scores_are_grid_search_cvs_neg_log_loss_to_the_bit(n_classes, frame, monkeypatch):
    # The hand-written k-fold loop (no GridSearchCV: its workers reset the
    # process-wide warning filters) must choose as GridSearchCV did.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from skpoison.experiments import _strategies
    X, y = load_digits(n_class=n_classes, return_X_y=True)
    X, y, grid = X[:90] / 16, y[:90], [-8.0, -4.0, -1.0, 0.0]
    if frame:     # (rows taken as GridSearchCV takes them: the layout moves the bits)
        pd = pytest.importorskip("pandas")
        X, y = pd.DataFrame(X), pd.Series(y)
    estimator = HypergradRegularizedLR(inner_steps=15, random_state=0)
    scores = {}
    real = _strategies._fold_score
    monkeypatch.setattr(_strategies, "_fold_score", lambda model, *args: scores.setdefault(
        model.lambda_init, []).append(real(model, *args)) or scores[model.lambda_init][-1])
    _strategies.cross_validate_lambda(estimator, X, y, grid, n_folds=3)
    search = GridSearchCV(_strategies.fixed_lambda_estimator(estimator, 0.0),
                          {"lambda_init": grid}, scoring="neg_log_loss", refit=False,
                          cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(X, y)
    ours = [np.average(scores[value]) for value in grid]
    np.testing.assert_array_equal(ours, search.cv_results_["mean_test_score"])


def test_a_cv_grid_value_whose_fits_fail_is_named_and_not_chosen():
    from sklearn.datasets import load_digits
    from sklearn.exceptions import FitFailedWarning

    from skpoison.experiments import cross_validate_lambda
    X, y = load_digits(n_class=2, return_X_y=True)
    estimator = HypergradRegularizedLR(inner_steps=10, inner_lr=1.0)   # 1.0 * e^1 >= 2
    with pytest.warns(FitFailedWarning, match=r"1 of 2 grid values.*λ = 1 \(Inner"):
        chosen = cross_validate_lambda(estimator, X[:90] / 16, y[:90], [-4.0, 1.0],
                                       n_folds=3)
    assert chosen == -4.0


def test_a_cv_fold_missing_a_class_fails_the_value_as_in_grid_search_cv():
    from sklearn.datasets import load_digits

    from skpoison.experiments import cross_validate_lambda
    X, y = load_digits(n_class=2, return_X_y=True)
    X, y = np.vstack([X[y == 0][:40], X[y == 1][:2]]) / 16, np.r_[np.zeros(40), np.ones(2)]
    with pytest.raises(ValueError, match="failed for every grid value"):
        with pytest.warns(UserWarning):        # (scikit-learn: fewer members than folds)
            cross_validate_lambda(HypergradRegularizedLR(inner_steps=5), X, y,
                                  [-4.0, 0.0], n_folds=3)


def test_fig1s_result_has_the_fields_reproduce_documents(tmp_path):
    # reproduce's Returns: extra_csv is None for figures other than 4 / 9
    # (fig1's result had no such field: AttributeError), and fig1 adds its maps.
    from skpoison.experiments import reproduce
    res = reproduce("fig1", size="tiny", out=tmp_path, plot=False, verbose=False)
    assert {"rows", "csv", "png", "table", "config", "extra_csv", "settings",
            "maps"} <= set(res)
    assert res.extra_csv is None and res.png is None and res.config is None
    assert res.maps["best_lambda"].shape == (6, 6)
