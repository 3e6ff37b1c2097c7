"""Configuration presets, the λ strategies and the summaries of results."""

import math

import numpy as np
import pytest

from skpoison.datasets import load_dataset, make_poisoning_splits
from skpoison.experiments import (LARGE_LAMBDA, STRATEGIES, cross_validate_lambda,
                                  format_table, make_config, relative_decrease_rows,
                                  summarize)
from skpoison.experiments._strategies import make_estimator


def test_presets_follow_the_design_defaults():
    full = make_config("mnist", size="full")
    assert (full.n_train, full.n_val, full.n_test) == (1000, 100, 1000)
    assert full.repetitions == 10 and full.batch_size == 20
    assert full.ratios == (0.0, 0.04, 0.08, 0.12, 0.16, 0.2)
    assert full.strategies == ("no_reg", "large", "cv", "learned")
    assert make_config("cifar10").n_val == 200
    mlp = make_config("mnist", model="mlp")
    assert mlp.hidden_layer_sizes == (32, 8) and "cv" not in mlp.strategies
    assert make_config("cifar10", model="mlp").hidden_layer_sizes == (64, 32)


def test_overrides_and_clean_ratio_always_present():
    cfg = make_config("digits", size="quick", ratios=(0.2, 0.1), repetitions=7, n_val=None)
    assert cfg.ratios == (0.0, 0.1, 0.2) and cfg.repetitions == 7 and cfg.n_val == 40
    assert cfg.key() != make_config("digits", size="quick", ratios=(0.1,)).key()
    # The device does not change the numbers: cells are shared across devices.
    assert cfg.key() == make_config("digits", size="quick", ratios=(0.2, 0.1),
                                    repetitions=7, device="cuda").key()


@pytest.mark.parametrize("kwargs, match", [
    (dict(size="huge"), "size"), (dict(model="svm"), "model"),
    (dict(penalty="l0"), "penalty"), (dict(ratios=(1.5,)), "ratios"),
    (dict(repetitions=0), "repetitions=0 must be an integer >= 1"),
    (dict(repetitions=-1), "repetitions"), (dict(inner_steps=0), "inner_steps"),
    (dict(attack_steps=-1), "attack_steps"), (dict(cv_folds=1), "cv_folds"),
    (dict(batch_size=2.5), "batch_size"), (dict(repetitions=True), "repetitions"),
    (dict(n_val=0), "n_val=0 must be an integer >= 1"), (dict(n_test=0), "n_test=0"),
    (dict(n_train=10.5), "n_train=10.5 must be an integer"),
    (dict(seed=-1), "seed=-1 must be an integer >= 0"),
    (dict(victim_steps=0), "victim_steps=0 must be an integer >= 1"),
    (dict(lambda_step="newton"), r"lambda_step='newton' must be one of \('adam'"),
    (dict(normalize="none"), r"normalize='none' must be one of \('point', 'batch'\)"),
    (dict(poison_lr=0), "poison_lr=0 must be a finite number > 0"),
    (dict(lambda_lr=float("nan")), "lambda_lr=nan must be a finite number > 0"),
    (dict(poison_lr="0.5"), "poison_lr='0.5' must be a finite number > 0"),
    (dict(seed=2**32 - 2, repetitions=3), r"seed=4294967294 \+ repetitions - 1 = 4294967296"),
])
def test_invalid_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_config("digits", **kwargs)


@pytest.mark.parametrize("kwargs", [dict(strategies="learned"), dict(strategies="cv"),
                                    dict(ratios=0.1), dict(ratios="0.1"), dict(classes=3),
                                    dict(top_k=5), dict(model="mlp", hidden_layer_sizes=16)])
def test_a_lone_value_where_a_sequence_is_due_is_refused_saying_so(kwargs):
    # (strategies="learned" said "strategies ['e'] are listed more than once", "cv" made
    # the strategies ('c', 'v'), and a lone number failed with "object is not iterable")
    key = next(k for k in kwargs if k != "model")
    with pytest.raises(ValueError, match=rf"{key}=.* must be a tuple or a list"):
        make_config("digits", size="tiny", **kwargs)


def test_settings_added_later_keep_earlier_results_keys():
    # Cells are named by the key: a new field at its default must not rename
    # (and so recompute) the cells of sweeps run before it existed. The keys
    # are those of the commit before victim_steps, lambda_step and normalize.
    assert make_config("digits", size="quick").key() == "5859b2a281"
    assert make_config("mnist", model="mlp", penalty="l1").key() == "a134b4e028"
    assert make_config("digits", size="tiny", poison_lr=0.3).key() == "1e21ba69b6"
    # Numbers are floats, as the command line writes them: an int, a NumPy number
    # (which failed the settings JSON) name the float's cells.
    for poison_lr in (1.0, 1, np.int64(1)):
        assert make_config("digits", size="quick", poison_lr=poison_lr).key() == "e912b63ffd"
    assert type(make_config("digits", size="tiny", lambda_lr=np.float32(0.5)).lambda_lr) \
        is float
    for large_lambda in (-3.0, -3, np.int64(-3)):
        assert make_config(size="tiny", large_lambda=large_lambda).key() == "7c6178cdd7"
    for grid in ((-8.0, -5.0), [-8, -5], np.array([-8, -5])):
        assert make_config(size="tiny", cv_grid=grid).key() == "16d981ecb7"
    base = make_config("digits", size="quick")
    keys = {make_config("digits", size="quick", **{name: value}).key()
            for name, value in (("victim_steps", 50), ("lambda_step", "sign"),
                                ("normalize", "batch"))}
    assert len(keys) == 3 and base.key() not in keys


def test_integral_counts_become_ints():
    cfg = make_config("digits", size="tiny", repetitions=2.0, inner_steps=10.0)
    assert type(cfg.repetitions) is int and type(cfg.inner_steps) is int


def test_unknown_dataset_raises():
    with pytest.raises(ValueError, match="Unknown data set"):
        make_config("imagenet")


def test_large_lambda_is_inside_the_learnable_box():
    cfg = make_config("digits")
    low, high = make_estimator(cfg, random_state=0).lambda_bounds
    assert all(low <= v <= high for v in LARGE_LAMBDA.values())
    assert set(STRATEGIES) == {"no_reg", "large", "cv", "learned", "learned_per_layer"}


def test_cross_validation_picks_a_grid_value():
    pool = load_dataset("digits")
    split = make_poisoning_splits(pool.data, pool.target, n_train=60, n_val=10, n_test=10,
                                  random_state=0)
    cfg = make_config("digits", size="tiny")
    grid = (-8.0, -4.0, 0.0)
    value = cross_validate_lambda(make_estimator(cfg, random_state=0), split.X_train,
                                  split.y_train, grid, n_folds=3)
    assert value in grid


def test_cross_validation_with_failing_fits_says_why():
    import warnings

    pool = load_dataset("digits")
    split = make_poisoning_splits(pool.data, pool.target, n_train=60, n_val=10, n_test=10,
                                  random_state=0)
    cfg = make_config("digits", size="tiny")
    X, y = split.X_train[:3], split.y_train[:3]   # a fold without both classes fails
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="failed for every grid value"):
            cross_validate_lambda(make_estimator(cfg, random_state=0), X, y, (-8.0, 0.0),
                                  n_folds=2)


def test_summaries_handle_infinite_lambda_and_relative_decrease():
    rows = [dict(strategy=s, ratio=r, repetition=k, n_val=10, test_error=e,
                 log_lambda=-math.inf if s == "no_reg" else -3.0)
            for s, errs in (("no_reg", (0.1, 0.3)), ("learned", (0.1, 0.15)))
            for r, e in zip((0.0, 0.2), errs) for k in range(2)]
    stats = {(s["strategy"], s["ratio"]): s for s in summarize(rows, "log_lambda")}
    assert stats[("no_reg", 0.2)]["mean"] == -math.inf
    assert stats[("learned", 0.0)]["mean"] == -3.0
    decrease = relative_decrease_rows(rows)
    assert [round(d["relative_decrease"], 6) for d in decrease] == [0.0, 0.5]
    table = format_table(rows, "log_lambda", percent=False)
    assert "-inf" in table and "-3 ± 0" in table
    assert np.isfinite([d["error_learned"] for d in decrease]).all()


def test_rounding_noise_between_repetitions_shows_as_no_spread():
    # Three repetitions whose weight norms agree to the last bits printed
    # "0.392 ± 5.6e-17"; a real spread, however small, still shows.
    noise = [{"strategy": "large", "ratio": 0.0, "weight_norm": v}
             for v in (0.392, 0.392 * (1 + 2e-16), 0.392 * (1 - 2e-16))]
    assert "0.392 ± 0" in format_table(noise, "weight_norm", percent=False)
    spread = [dict(row, weight_norm=row["weight_norm"] * (1 + 1e-6 * k))
              for k, row in enumerate(noise)]
    assert "0.392 ± 3.2e-07" in format_table(spread, "weight_norm", percent=False)


def test_a_config_without_the_clean_ratio_is_refused():
    from skpoison.experiments import SweepConfig
    with pytest.raises(ValueError, match="must include 0"):
        SweepConfig(ratios=(0.1, 0.2))
    for ratios in ((0.0, 0.2, 0.1), (0.0, 0.1, 0.1)):   # (the rows assume sorted ratios)
        with pytest.raises(ValueError, match="increasing and distinct"):
            SweepConfig(ratios=ratios)


def test_smaller_trusted_sets_are_balanced_nested_and_share_train_and_test():
    from skpoison.experiments._attack_cell import draw_split
    cfg = make_config("digits", size="quick", n_val=48)
    for repetition in range(3):
        _, largest = draw_split(cfg, repetition)
        previous = set()
        for n_val in (10, 11, 20, 48):
            _, split = draw_split(cfg, repetition, n_val=n_val)
            counts = np.unique(split.y_val, return_counts=True)[1]
            assert counts.sum() == n_val and counts.max() - counts.min() <= n_val % 2
            rows = {row.tobytes() for row in split.X_val}
            assert previous <= rows     # nested: a larger set keeps the smaller one
            previous = rows
            np.testing.assert_array_equal(split.X_train, largest.X_train)
            np.testing.assert_array_equal(split.X_test, largest.X_test)


def test_a_trusted_set_sweep_needs_the_largest_size_in_the_config(tmp_path):
    from skpoison.experiments import run_attack_sweep
    cfg = make_config("digits", size="tiny")
    with pytest.raises(ValueError, match="must be the largest of n_vals"):
        run_attack_sweep(cfg, tmp_path, n_vals=[5, cfg.n_val + 2], verbose=False)
    with pytest.raises(ValueError, match="n_vals is empty"):
        run_attack_sweep(cfg, tmp_path, n_vals=[], verbose=False)


@pytest.mark.parametrize("n_vals", [[7.5, 10], ["5", 10], [True, 10], [-5, 10], [0, 10],
                                    [np.True_, 10], [np.float32(7.5), 10], [np.nan, 10]])
def test_trusted_set_sizes_that_are_no_counts_are_refused_before_any_cell(n_vals, tmp_path):
    # (7.5 and "5" failed in every cell with numpy's IndexError or a TypeError)
    from skpoison.experiments import run_attack_sweep
    cfg = make_config("digits", size="tiny", strategies=("no_reg",), repetitions=1)
    with pytest.raises(ValueError, match=r"n_vals=.* must hold trusted-set sizes, integers "
                                         r">= 1; got "):
        run_attack_sweep(cfg, tmp_path, n_vals=n_vals, verbose=False)
    assert not (tmp_path / "cells").exists() or not any((tmp_path / "cells").iterdir())


@pytest.mark.parametrize("n_vals", [10, "10", 10.0])
def test_a_lone_trusted_set_size_is_refused_saying_so(n_vals, tmp_path):
    # (10 failed with "object of type 'int' has no len()", "10" was read digit by digit)
    from skpoison.experiments import run_attack_sweep
    cfg = make_config("digits", size="tiny", strategies=("no_reg",), repetitions=1)
    with pytest.raises(ValueError, match=r"n_vals=.* must be a list of trusted-set sizes"):
        run_attack_sweep(cfg, tmp_path, n_vals=n_vals, verbose=False)


def test_trusted_set_sizes_given_twice_or_as_whole_floats_are_one_size(tmp_path):
    # (a repeated size said "Cell names must be unique."; 7.0 failed every cell)
    from skpoison.experiments import run_attack_sweep
    cfg = make_config("digits", size="tiny", strategies=("no_reg",), repetitions=1)
    rows = run_attack_sweep(cfg, tmp_path, n_vals=[cfg.n_val, 7.0, 7, np.int64(10),
                                                 np.float32(7)], verbose=False)
    assert [row["n_val"] for row in rows] == [10] * len(cfg.ratios) + [7] * len(cfg.ratios)
    assert len(list((tmp_path / "cells").glob("*.json"))) == 2


def test_the_default_class_pair_given_explicitly_is_the_default_sweep():
    assert make_config("digits", size="tiny", classes=(0, 8)).classes is None
    assert (make_config("mnist", classes=(0, 8)).key()
            == make_config("mnist").key())
    assert make_config("mnist", classes=(3, 5)).classes == (3, 5)
    assert make_config("mnist", classes=(5.0, np.int64(3))).classes == (3, 5)


@pytest.mark.parametrize("label", [3.5, "3", True, None])
def test_a_class_that_is_no_integer_label_is_refused(label):
    # (int() would have made 3.5 the class 3 and "3" the class 3, silently)
    with pytest.raises(ValueError, match="classes holds .*integer labels"):
        make_config("mnist", classes=(label, 8))


def test_the_spread_is_the_population_std_over_repetitions():
    # ddof = 0, as the docs and the figures' titles say (ddof = 1 would give 0.141).
    rows = [dict(strategy="learned", ratio=0.1, repetition=k, test_error=e)
            for k, e in enumerate((0.1, 0.3))]
    (stats,) = summarize(rows, "test_error")
    assert stats["mean"] == pytest.approx(0.2) and stats["std"] == pytest.approx(0.1)
    assert stats["n"] == 2


def test_the_row_helpers_take_any_iterable(tmp_path):
    from skpoison.experiments import (format_table, read_csv, relative_decrease_rows,
                                      summarize, write_csv)

    rows = [{"strategy": s, "n_val": 20, "ratio": r, "test_error": e + r}
            for s, e in (("no_reg", 0.2), ("learned", 0.1)) for r in (0.0, 0.1)]
    assert summarize(iter(rows), "test_error") == summarize(rows, "test_error")
    assert format_table(iter(rows)) == format_table(rows)
    assert relative_decrease_rows(iter(rows)) == relative_decrease_rows(rows)
    assert read_csv(write_csv(iter(rows), tmp_path / "rows.csv")) == rows


def test_read_csv_gives_integers_back_as_ints(tmp_path):
    from skpoison.experiments import read_csv, write_csv

    rows = [{"n_val": 20, "seed": 0, "ratio": 0.1, "x": 1.0}]
    back = read_csv(write_csv(rows, tmp_path / "rows.csv"))
    assert [type(v) for v in back[0].values()] == [int, int, float, float]


@pytest.mark.parametrize("model", ["lr", "mlp"])
def test_the_estimator_takes_the_configs_lambda_lr(model):
    # config.lambda_lr reaches the estimator's outer_lr, so the settings JSON
    # (defaults.estimator.outer_lr) records the rate the sweep used.
    from skpoison.experiments._runner import attack_defaults
    cfg = make_config("digits", size="tiny", model=model, lambda_lr=0.05)
    assert make_estimator(cfg, random_state=0).outer_lr == 0.05
    assert attack_defaults(cfg)["estimator"]["outer_lr"] == 0.05


def test_summaries_skip_missing_and_nan_values():
    rows = [dict(strategy="a", ratio=0.0, e=v) for v in (0.1, float("nan"), None, 0.3)]
    rows.append(dict(strategy="a", ratio=0.0))
    (stats,) = summarize(rows, "e")
    assert stats["n"] == 2 and stats["mean"] == pytest.approx(0.2)


def test_table_lines_in_first_seen_order_columns_sorted_cells_in_percent():
    rows = [dict(strategy=s, ratio=r, test_error=e) for s, r, e in
            (("zeta", 0.2, 0.25), ("zeta", 0.2, 0.35), ("alpha", 0.0, 0.1),
             ("zeta", 0.0, 0.05))]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["strategy", "0%", "20%"]
    # (std in %; cells with fewer values than the fullest show their count)
    assert lines[1].split() == ["zeta", "5.0", "±", "0.0", "(n=1)", "30.0", "±", "5.0"]
    assert lines[2].split() == ["alpha", "10.0", "±", "0.0", "(n=1)", "-"]


def test_table_cells_show_how_many_values_they_average_when_some_are_missing():
    # A consistency index is NaN for a repetition whose model has too few nonzero
    # weights: its mean over the others must not pass for a mean over all.
    rows = [dict(strategy="lasso", ratio=r, kuncheva=k) for r, k in
            ((0.0, 0.5), (0.0, 0.7), (0.0, 0.6), (0.1, 0.2), (0.1, float("nan")),
             (0.1, 0.4))]
    cells = format_table(rows, "kuncheva", percent=False).splitlines()[1].split()
    assert cells == ["lasso", "0.6", "±", "0.082", "0.3", "±", "0.1", "(n=2)"]
    full = [row for row in rows if row["kuncheva"] == row["kuncheva"]]
    assert "(n=" not in format_table(full[:3], "kuncheva", percent=False)


def test_table_columns_other_than_the_ratio_are_shown_as_they_are():
    rows = [dict(strategy="a", n_val=n, test_error=0.1) for n in (20, 10)]
    header = format_table(rows, by=("strategy", "n_val")).splitlines()[0]
    assert header.split() == ["strategy", "10", "20"]


def test_relative_decrease_rows_come_in_sorted_group_order():
    rows = [dict(strategy=s, n_val=n, ratio=r, test_error=e)
            for n, r in ((20, 0.2), (10, 0.2), (20, 0.0), (10, 0.0))
            for s, e in (("no_reg", 0.2), ("learned", 0.1))]
    decrease = relative_decrease_rows(rows)
    assert [(d["n_val"], d["ratio"]) for d in decrease] == [(10, 0.0), (10, 0.2), (20, 0.0),
                                                            (20, 0.2)]


def test_the_sweeps_attack_step_choices_are_the_poisoners():
    # (the registry, which the command line reads without torch, repeats them)
    from skpoison import OptimalPoisoner
    from skpoison.estimators._outer import OUTER_OPTIMIZERS
    from skpoison.experiments._registry import ATTACK_STEP_CHOICES
    constraints = OptimalPoisoner._parameter_constraints
    assert ATTACK_STEP_CHOICES["lambda_step"] == OUTER_OPTIMIZERS
    assert set(ATTACK_STEP_CHOICES["normalize"]) == constraints["normalize"][0].options


def test_the_l1_step_names_its_own_cells_and_outputs():
    from skpoison.experiments._outputs import output_stem
    from skpoison.experiments._runner import attack_defaults

    base = make_config("digits", size="quick", penalty="l1")
    # The default step (given or not) is the sweep run before l1_step existed.
    assert make_config("digits", size="quick", penalty="l1", l1_step="subgradient") == base
    assert "l1_step" not in base.identity()
    assert "l1_step" not in attack_defaults(base)["estimator"]
    proximal = make_config("digits", size="quick", penalty="l1", l1_step="proximal")
    assert proximal.identity()["l1_step"] == "proximal" and proximal.key() != base.key()
    assert make_estimator(proximal, random_state=0).l1_step == "proximal"
    assert output_stem(proximal, "quick", "fig8") == "digits_lr_l1-prox_quick_fig8"


def test_networks_take_the_l1_step_too_and_keep_their_subgradient_cells():
    from skpoison.experiments._outputs import output_stem
    from skpoison.experiments._runner import attack_defaults

    base = make_config("digits", size="quick", model="mlp", penalty="l1")
    assert make_config("digits", size="quick", model="mlp", penalty="l1",
                       l1_step="subgradient") == base
    assert "l1_step" not in base.identity()
    assert "l1_step" not in attack_defaults(base)["estimator"]
    assert make_estimator(base, random_state=0).l1_step == "subgradient"
    proximal = make_config("digits", size="quick", model="mlp", penalty="l1",
                           l1_step="proximal")
    assert proximal.identity()["l1_step"] == "proximal" and proximal.key() != base.key()
    assert attack_defaults(proximal)["estimator"]["l1_step"] == "proximal"
    assert make_estimator(proximal, random_state=0).l1_step == "proximal"
    assert output_stem(proximal, "quick", "fig8") == "digits_mlp_l1-prox_quick_fig8"


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(model="mlp", penalty="l2", l1_step="proximal"), "applies to the L1 penalty"),
    (dict(penalty="l2", l1_step="proximal"), "applies to the L1 penalty"),
    (dict(penalty="l1", l1_step="ista"), "l1_step='ista' is not supported"),
])
def test_a_proximal_step_that_cannot_apply_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_config("digits", size="tiny", **kwargs)
