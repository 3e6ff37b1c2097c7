"""Every figure command and ``evaluate`` run end to end at tiny size."""

import csv

import pytest

from skpoison.__main__ import main
from skpoison.experiments import FIGURES

TINY = ["--tiny", "--n-jobs", "1", "--no-progress"]
REQUIRED = {"strategy", "ratio", "repetition", "test_error"}


def _header(path):
    with open(path, newline="") as handle:
        return next(csv.reader(handle))


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _output(out, name, suffix=".csv"):
    """The one file of ``out`` named ``<dataset>_<model>_<penalty>_<size>_<name><suffix>``."""
    (path,) = out.glob(f"*_{name}{suffix}")
    return path


@pytest.mark.parametrize("figure", list(FIGURES))
def test_reproduce_each_figure_tiny(figure, shared_out, capsys):
    assert main(["reproduce", figure, *TINY, "--out", str(shared_out)]) == 0
    assert _output(shared_out, figure, ".png").stat().st_size > 1000
    rows = _rows(_output(shared_out, figure))
    assert rows
    if figure == "fig1":
        assert {"poison_x1", "poison_x2", "val_error_noreg", "best_log_lambda"} <= set(rows[0])
        return
    assert REQUIRED | {"log_lambda", "weight_norm"} <= set(rows[0])
    out = capsys.readouterr().out
    assert "test error" in out and "wrote" in out
    spec = FIGURES[figure]
    if spec.plot == "kuncheva":
        assert any(c.startswith("kuncheva_k") for c in rows[0])
    if spec.plot.startswith("per_layer"):
        assert "log_lambda_0" in rows[0] and "weight_norm_1" in rows[0]
    if spec.kind == "sensitivity":
        assert len({r["n_val"] for r in rows}) >= 2
        assert _output(shared_out, f"{figure}_relative_decrease").exists()


def test_evaluate_tiny_writes_tidy_csv_and_table(tmp_path, capsys):
    code = main(["evaluate", *TINY, "--repetitions", "2", "--out", str(tmp_path)])
    assert code == 0
    assert _output(tmp_path, "evaluate").name == "digits_lr_l2_tiny_evaluate.csv"
    header = _header(_output(tmp_path, "evaluate"))
    assert header[:6] == ["dataset", "model", "penalty", "strategy", "ratio", "repetition"]
    assert REQUIRED | {"log_lambda"} <= set(header)
    rows = _rows(_output(tmp_path, "evaluate"))
    strategies = {"no_reg", "large", "cv", "learned"}
    assert {r["strategy"] for r in rows} == strategies
    # One row per (strategy, ratio, repetition).
    assert len(rows) == len(strategies) * 3 * 2
    assert len({(r["strategy"], r["ratio"], r["repetition"]) for r in rows}) == len(rows)
    learned = [r for r in rows if r["strategy"] == "learned"]
    assert all(-12 <= float(r["log_lambda"]) <= 0 for r in learned)
    assert all(r["log_lambda"] == "-inf" for r in rows if r["strategy"] == "no_reg")
    table = capsys.readouterr().out
    assert "no_reg" in table and "±" in table and "20%" in table
    assert _output(tmp_path, "evaluate", ".png").exists()
    assert _output(tmp_path, "evaluate_lambda", ".png").exists()
    import json

    settings = json.loads(_output(tmp_path, "evaluate_settings", ".json").read_text())
    assert settings["config"]["repetitions"] == 2 and settings["config"]["inner_steps"] == 10
    assert settings["defaults"]["poisoner"]["poison_lr"] == 0.5
    assert settings["data"]["caveat"] is None and len(settings["data"]["fingerprint"]) == 10


def test_unwritable_out_fails_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["evaluate", *TINY, "--out", str(blocker / "results")])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot be written" in err and "--out" in err


@pytest.mark.parametrize("args, message", [
    (["--dataset", "imagenet"], "Unknown data set"),
    (["--classes", "0", "42"], "42"),
    (["--model", "lr", "--strategies", "learned_per_layer"], "mlp"),
])
def test_bad_inputs_give_clear_errors(args, message, tmp_path, capsys):
    assert main(["evaluate", *TINY, *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skpoison: error:") and message in err
    assert not list((tmp_path / "cells").glob("*.json")) if (tmp_path / "cells").exists() \
        else True


@pytest.mark.parametrize("args, message", [
    (["fig1", "--dataset", "mnist"], "does not take ['dataset']"),
    (["fig1", "--device", "cuda", "--dtype", "float32"], "does not take ['device', 'dtype']"),
    (["fig5", "--model", "mlp"], "needs --model lr"),
    (["fig10", "--model", "mlp"], "needs --model lr"),
    (["fig3", "--strategies", "no_reg", "large"], "include 'learned'"),
    (["fig7", "--strategies", "no_reg"], "include 'learned_per_layer'"),
    (["fig4", "--n-train", "200", "--n-test", "140"], "lower n_train or n_test"),
    (["fig4", "--val-fractions", "nan"], "in (0, 1]"),
    (["fig2", "--repetitions", "0"], "repetitions=0 must be an integer >= 1"),
])
def test_reproduce_refuses_settings_it_would_ignore_or_draw_empty(args, message, tmp_path,
                                                                  capsys):
    assert main(["reproduce", *args, *TINY, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skpoison: error:") and message in err


def test_fig1_takes_its_own_options(tmp_path):
    assert main(["reproduce", "fig1", *TINY, "--no-plot", "--out", str(tmp_path / "a")]) == 0
    assert main(["reproduce", "fig1", *TINY, "--no-plot", "--seed", "3", "--inner-steps", "30",
                 "--out", str(tmp_path / "b")]) == 0
    assert _rows(tmp_path / "a" / "synthetic_tiny_fig1.csv") != _rows(
        tmp_path / "b" / "synthetic_tiny_fig1.csv")


def test_sweeps_sharing_an_output_folder_keep_their_own_tables(tmp_path):
    for penalty in ("l2", "l1"):
        assert main(["evaluate", *TINY, "--repetitions", "1", "--strategies", "no_reg",
                     "--penalty", penalty, "--no-plot", "--out", str(tmp_path)]) == 0
    l2, l1 = (tmp_path / f"digits_lr_{p}_tiny_evaluate.csv" for p in ("l2", "l1"))
    assert {r["penalty"] for r in _rows(l2)} == {"l2"}
    assert {r["penalty"] for r in _rows(l1)} == {"l1"}


def test_reproduce_list(capsys):
    assert main(["reproduce", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in FIGURES)


def test_the_lambda_panel_says_when_no_strategy_learned_it():
    pytest.importorskip("matplotlib")
    from skpoison.experiments._plots import plot_lambda_and_norm
    rows = [dict(strategy=s, ratio=r, repetition=0, log_lambda=-4.0, weight_norm=0.1 + r)
            for s in ("no_reg", "large") for r in (0.0, 0.1)]
    fig = plot_lambda_and_norm(rows)
    ax_lam, ax_norm = fig.axes
    assert not ax_lam.axison and "no strategy learned" in ax_lam.texts[0].get_text()
    assert len(ax_norm.get_lines()) >= 2
    import matplotlib.pyplot as plt
    plt.close(fig)
