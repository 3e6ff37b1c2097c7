"""Sweeps with repetitions batched into one attack give the unbatched numbers."""

import pytest

from skpoison.experiments import evaluate, reproduce

STRATEGIES = ("no_reg", "large", "cv", "learned")


def _by_cell(rows):
    key = lambda row: (row["strategy"], row["ratio"], row["repetition"])  # noqa: E731
    untimed = lambda row: {k: v for k, v in row.items() if k != "cell_seconds"}  # noqa: E731
    return {key(row): untimed(row) for row in rows}


def assert_same_cells(ours, theirs, same_row):
    assert ours.keys() == theirs.keys() and len(ours) > 0
    for key in theirs:
        same_row(ours[key], theirs[key], rel=1e-6, abs=1e-9)


def test_batched_repetitions_match_separate_cells_and_resume_each_other(tmp_path,
                                                                      assert_same_row):
    settings = dict(size="tiny", repetitions=3, strategies=STRATEGIES, verbose=False,
                    plot=False)
    separate = evaluate(out=tmp_path / "separate", **settings)
    batched = evaluate(out=tmp_path / "batched", batch_repetitions=2, **settings)
    ours, theirs = _by_cell(batched.rows), _by_cell(separate.rows)
    assert_same_cells(ours, theirs, assert_same_row)
    # Cells are stored per repetition either way, so each mode resumes the other.
    cell_dir = tmp_path / "batched" / "cells"
    cells = sorted(p.name for p in (tmp_path / "separate" / "cells").glob("*.json"))
    assert cells == sorted(p.name for p in cell_dir.glob("*.json"))
    lost = cell_dir / cells[0]
    lost.unlink()
    before = {p.name: p.stat().st_mtime_ns for p in cell_dir.glob("*.json")}
    resumed = evaluate(out=tmp_path / "batched", batch_repetitions=1, **settings)
    assert {p.name: p.stat().st_mtime_ns for p in cell_dir.glob("*.json")
            if p.name != lost.name} == before
    assert lost.exists()
    assert_same_cells(_by_cell(resumed.rows), theirs, assert_same_row)


def test_batched_mlp_sweep_matches_separate_cells(tmp_path, assert_same_row):
    settings = dict(size="tiny", repetitions=2, strategies=("no_reg", "learned"),
                    verbose=False, plot=False)
    separate = reproduce("fig6", out=tmp_path / "separate", **settings)
    batched = reproduce("fig6", out=tmp_path / "batched", batch_repetitions=2, **settings)
    ours, theirs = _by_cell(batched.rows), _by_cell(separate.rows)
    assert_same_cells(ours, theirs, assert_same_row)


def test_bad_batch_repetitions(tmp_path):
    with pytest.raises(ValueError, match="batch_repetitions=0 must be a positive int"):
        evaluate(out=tmp_path, size="tiny", repetitions=1, verbose=False, plot=False,
                 batch_repetitions=0)


def test_bad_batch_repetitions_for_the_synthetic_figure(tmp_path):
    with pytest.raises(ValueError, match="batch_repetitions=0 must be a positive int"):
        reproduce("fig1", size="tiny", out=tmp_path, verbose=False, plot=False,
                  batch_repetitions=0)


def test_a_batched_group_rates_its_repetitions_in_one_device_lanczos(device_lanczos_runs):
    # LR cells fix inner_lr="auto" per split before the attack: on a device, the
    # group's K training sets are rated by one batched Lanczos (as fit_batched rates
    # its data sets), not K; the rows equal the cells computed alone, to rounding.
    from skpoison.experiments import make_config
    from skpoison.experiments._attack_cell import run_attack_cell, run_attack_cells

    config = make_config(size="tiny", n_train=80)    # (80 x 65 designs: past the dense path)
    batched = run_attack_cells(config, "learned", [0, 1, 2])
    assert device_lanczos_runs == [3]
    for repetition, rows in enumerate(batched):
        alone = run_attack_cell(config, "learned", repetition)
        for ours, theirs in zip(rows, alone, strict=True):
            for key in ("test_error", "log_lambda", "weight_norm", "attack_val_loss"):
                assert ours[key] == pytest.approx(theirs[key], rel=1e-9, abs=1e-12)
    assert device_lanczos_runs[1:] == [1, 1, 1]
