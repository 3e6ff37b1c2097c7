"""A cell is named by the settings its strategy reads: a new large λ or CV grid
computes the cells that read it, not the whole sweep again."""

import dataclasses
import itertools

import pytest

from skpoison.experiments import evaluate, make_config, run_attack_cell, run_attack_sweep
from skpoison.experiments._cell_keys import cell_config
from skpoison.experiments._registry import SIZES, STRATEGIES


def _strategies(model):
    return [s for s in STRATEGIES if model == "mlp" or s != "learned_per_layer"]


@pytest.mark.parametrize("size, model, penalty",
                         list(itertools.product(SIZES, ("lr", "mlp"), ("l2", "l1"))))
def test_cells_of_the_default_settings_keep_their_names(size, model, penalty):
    # (cells computed before the rule were named by the whole config: they resume)
    config = make_config("digits", size=size, model=model, penalty=penalty)
    for strategy in _strategies(model):
        assert cell_config(config, strategy) == config
    custom = make_config("digits", size=size, model=model, penalty=penalty,
                         large_lambda=-7.0, cv_grid=(-9.0, -1.0))
    assert cell_config(custom, "large").large_lambda == -7.0
    assert cell_config(custom, "cv").cv_grid == (-9.0, -1.0)
    assert cell_config(custom, "large").cv_grid == config.cv_grid
    assert cell_config(custom, "cv").large_lambda == config.large_lambda


def test_a_fixed_lambda_that_sets_the_lr_step_size_keeps_naming_every_cell():
    # LR's inner rate is made stable for the config's largest λ: above the box's top
    # (0), the large λ or the grid changes every strategy's numbers.
    for setting in (dict(large_lambda=1.0), dict(cv_grid=(-4.0, 2.0))):
        config = make_config("digits", size="tiny", **setting)
        for strategy in _strategies("lr"):
            assert cell_config(config, strategy) == config, (setting, strategy)
    # ... and one under the other's top does not
    config = make_config("digits", size="tiny", large_lambda=2.0, cv_grid=(-4.0, 1.0))
    assert cell_config(config, "learned").cv_grid == make_config(size="tiny").cv_grid
    unknown = dataclasses.replace(config, preset=None)    # (not made by make_config)
    assert cell_config(unknown, "learned").cv_grid == make_config(size="full").cv_grid
    assert cell_config(config, "learned").large_lambda == 2.0


@pytest.mark.parametrize("model", ["lr", "mlp"])
def test_the_cells_that_do_not_read_a_fixed_lambda_have_the_same_numbers(model):
    base = make_config("digits", size="tiny", model=model)
    other = make_config("digits", size="tiny", model=model, large_lambda=-5.0,
                        cv_grid=(-9.0, -3.0))
    for strategy in ("no_reg", "learned"):
        assert cell_config(other, strategy) == base
        rows = [[{k: v for k, v in row.items() if k != "cell_seconds"}
                 for row in run_attack_cell(config, strategy, repetition=0)]
                for config in (base, other)]
        assert rows[0] == rows[1]


def test_a_new_large_lambda_computes_the_large_cells_only(tmp_path):
    common = dict(size="tiny", model="mlp", strategies=("no_reg", "large", "learned"),
                  repetitions=1, out=tmp_path, plot=False, verbose=False)
    first = evaluate(**common).rows
    cells = {p.name for p in (tmp_path / "cells").glob("*.json")}
    with pytest.warns(UserWarning, match="large_lambda -2.0 → -3.0"):
        again = evaluate(**common, large_lambda=-3.0, cv_grid=(-8.0, -2.0)).rows
    new = {p.name for p in (tmp_path / "cells").glob("*.json")} - cells
    assert len(cells) == 3 and len(new) == 1 and "-large-" in new.pop()
    unchanged = [(a, b) for a, b in zip(first, again) if a["strategy"] != "large"]
    assert len(unchanged) == 6 and all(a == b for a, b in unchanged)


def test_float32_network_cells_are_not_those_of_the_earlier_initialization():
    # (MLPProblem.init_params draws float32 networks in float64 since 029c8d1: another
    # network from the same seed, so earlier float32 MLP cells must not be resumed)
    for model in ("lr", "mlp"):
        for dtype in ("float64", "float32"):
            identity = make_config("digits", size="tiny", model=model, dtype=dtype).identity()
            assert ("init_draw" in identity) == (model == "mlp" and dtype == "float32")


def test_a_new_cv_grid_computes_the_cv_cells_only_in_run_attack_sweep_too(tmp_path):
    # (run_attack_sweep does not know the preset: it named the other strategies' cells
    # with the "full" grid, so at "quick" or "tiny" a new grid computed them all again,
    # where evaluate and reproduce, given the size, reused them)
    common = dict(size="tiny", strategies=("no_reg", "cv"), repetitions=1)
    first = run_attack_sweep(make_config("digits", **common), tmp_path, verbose=False)
    cells = {p.name for p in (tmp_path / "cells").glob("*.json")}
    again = run_attack_sweep(make_config("digits", **common, cv_grid=(-9.0, -3.0)),
                             tmp_path, verbose=False)
    new = {p.name for p in (tmp_path / "cells").glob("*.json")} - cells
    assert len(cells) == 2 and len(new) == 1 and "-cv-" in new.pop()
    assert [a for a in first if a["strategy"] == "no_reg"] == \
        [b for b in again if b["strategy"] == "no_reg"]


def test_the_preset_is_make_configs_size():
    assert make_config("digits", size="quick").preset == "quick"
    assert make_config("digits", size="quick", preset="quick").preset == "quick"
    with pytest.raises(ValueError, match="preset='full' is the size the config is made from"):
        make_config("digits", size="quick", preset="full")
    # no part of the config's identity: the same cells, the same settings file
    config = make_config("digits", size="tiny")
    assert "preset" not in config.identity()
    assert config == dataclasses.replace(config, preset=None)
