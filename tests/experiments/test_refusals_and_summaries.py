"""reproduce's refusals of unknown figures and strategies; summaries of missing groups."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skpoison.experiments import relative_decrease_rows, reproduce, summarize
from skpoison.experiments._attack_cell import balanced_head


def test_reproduce_names_the_figures_when_given_an_unknown_one(tmp_path):
    with pytest.raises(ValueError, match=r"^Unknown figure 'fig99'; choose one of \['fig1', "
                                         r"'fig2', .*'fig14'\].$"):
        reproduce("fig99", size="tiny", out=tmp_path, plot=False, verbose=False)


@pytest.mark.parametrize("strategies, message", [
    (("learned", "bogus"), r"^Unknown strategies \['bogus'\]; valid: \['cv', 'large', "
                           r"'learned', 'learned_per_layer', 'no_reg'\].$"),
    ((), r"^Give at least one strategy.$"),
], ids=["unknown", "none"])
def test_reproduce_refuses_bad_strategy_lists_before_computing(tmp_path, strategies, message):
    with pytest.raises(ValueError, match=message):
        reproduce("fig2", size="tiny", out=tmp_path, plot=False, verbose=False,
                  strategies=strategies)
    assert not list(tmp_path.rglob("*.json"))          # no cell was computed


def test_summarize_leaves_out_a_group_without_any_value():
    rows = [{"strategy": "a", "ratio": 0.0, "e": math.nan},
            {"strategy": "a", "ratio": 0.0, "e": None},
            {"strategy": "b", "ratio": 0.0, "e": 0.2},
            {"strategy": "b", "ratio": 0.0, "e": 0.4}]
    (only,) = summarize(rows, "e")
    assert only["strategy"] == "b" and only["n"] == 2
    assert only["mean"] == pytest.approx(0.3) and only["std"] == pytest.approx(0.1)


def test_relative_decrease_rows_pair_only_groups_that_both_strategies_have():
    rows = [{"strategy": "no_reg", "n_val": 20, "ratio": 0.1, "test_error": 0.2},
            {"strategy": "learned", "n_val": 20, "ratio": 0.1, "test_error": 0.1},
            {"strategy": "no_reg", "n_val": 40, "ratio": 0.1, "test_error": 0.2}]
    (pair,) = relative_decrease_rows(rows)
    assert (pair["n_val"], pair["ratio"]) == (20, 0.1)
    assert pair["relative_decrease"] == pytest.approx(0.5)


def test_balanced_head_refuses_a_class_too_small_for_its_share():
    with pytest.raises(ValueError, match=r"^4 rows cannot be drawn class-balanced from "
                                         r"class counts \[3, 1\].$"):
        balanced_head(np.array([0, 0, 0, 8]), 4)
    # 3 rows: the extra one goes to the class whose next row comes first
    assert balanced_head(np.array([0, 0, 0, 8]), 3).tolist() == [0, 1, 3]


def test_the_figure_functions_call_reproduce_with_their_figure(monkeypatch):
    import skpoison.experiments as experiments
    import skpoison.experiments._figures as figures

    seen = []
    monkeypatch.setattr(figures, "reproduce", lambda figure, **kw: seen.append((figure, kw)))
    experiments.fig2(size="tiny", plot=False)
    experiments.fig14(dataset="digits")
    assert seen == [("fig2", {"size": "tiny", "plot": False}),
                    ("fig14", {"dataset": "digits"})]
    assert experiments.fig7.__name__ == "fig7" and "Fig. 7" in experiments.fig7.__doc__


def test_synthetic_maps_refuses_a_flag_for_a_count():
    # scikit-learn's check_scalar took True for 1: inner_steps=True ran one step
    from skpoison.experiments import synthetic_maps

    with pytest.raises(ValueError, match="inner_steps must be an integer >= 1, got True"):
        synthetic_maps(size="tiny", inner_steps=True)


@pytest.mark.parametrize("val_fractions", [0.1, "0.1", (0.1, "x"), (0.1, None)])
def test_reproduce_refuses_val_fractions_that_are_no_shares(val_fractions, tmp_path):
    # (a lone number was "not iterable", a string "'<' not supported")
    with pytest.raises(ValueError, match=r"val_fractions=.* must be shares of the training "
                                         r"set in \(0, 1\]"):
        reproduce("fig4", size="tiny", val_fractions=val_fractions, out=tmp_path, plot=False,
                  verbose=False)


def test_reproduce_records_numpy_val_fractions_as_numbers(tmp_path):
    # (np.float32 shares were taken, then the settings JSON failed once every cell
    # had run: "Object of type float32 is not JSON serializable")
    import json

    result = reproduce("fig4", size="tiny", val_fractions=np.array([0.1, 0.5], np.float32),
                       out=tmp_path, plot=False, verbose=False, repetitions=1)
    settings = json.loads(result.settings.read_text())
    assert settings["val_fractions"] == pytest.approx([0.1, 0.5])
