"""The sweeps' files as other tools read them: standard JSON, CSV columns kept as written."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from skpoison.experiments import evaluate, read_csv, run_sweep, write_csv
from skpoison.experiments._sweep import read_json, write_json_atomic


def _strict(text):
    """``json.loads`` as a standard JSON reader (JavaScript's, jq's) would parse ``text``."""
    def refuse(word):
        raise ValueError(f"{word} is not JSON")
    return json.loads(text, parse_constant=refuse)


def _non_finite_rows(x):
    return [{"x": x, "low": -math.inf, "high": math.inf, "none": math.nan,
             "nested": [{"v": -math.inf}], "text": "inf"}]


def _same(a, b):
    """Equal, NaN equal to NaN (at any depth)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return a == b


def test_cell_files_are_standard_json_and_read_back_their_infinities(tmp_path):
    rows = run_sweep([("c0", {"x": 0})], _non_finite_rows, tmp_path, verbose=False)
    assert _same(rows, _non_finite_rows(0))
    stored = _strict((tmp_path / "cells" / "c0.json").read_text())
    assert stored["rows"][0]["low"] == {"__float__": "-inf"}
    assert stored["rows"][0]["text"] == "inf"       # (a string stays a string)
    again = run_sweep([("c0", {"x": 0})], _non_finite_rows, tmp_path, verbose=False)
    assert _same(again, rows)


def test_cell_files_of_earlier_runs_with_bare_infinities_still_resume(tmp_path):
    # (json.dump's own output: the cell files written before the tagged floats)
    (tmp_path / "cells").mkdir()
    old = {"cell": "c0", "rows": [{"x": 0, "low": -math.inf, "none": math.nan}]}
    (tmp_path / "cells" / "c0.json").write_text(json.dumps(old))

    def never(x):
        raise AssertionError("a finished cell was recomputed")

    rows = run_sweep([("c0", {"x": 0})], never, tmp_path, verbose=False)
    assert rows[0]["low"] == -math.inf and math.isnan(rows[0]["none"])


def test_json_writer_keeps_finite_numbers_and_other_values_as_json_writes_them(tmp_path):
    payload = {"a": [1, 2.5, -0.0, 1e308, None, True, "NaN", {"__float__": "x"}]}
    write_json_atomic(tmp_path / "f.json", payload)
    assert (tmp_path / "f.json").read_text() == json.dumps(payload)
    assert read_json(tmp_path / "f.json") == payload


def test_an_evaluate_run_writes_only_standard_json(tmp_path, recwarn):
    # no_reg rows hold λ = -inf; the settings hold large_lambda = -inf
    common = dict(size="tiny", strategies=("no_reg",), repetitions=1, large_lambda=-np.inf,
                  out=tmp_path, plot=False, verbose=False)
    evaluate(**common)
    files = sorted(Path(tmp_path).rglob("*.json"))
    assert len(files) == 2
    for path in files:
        _strict(path.read_text())
    settings = read_json(tmp_path / "digits_lr_l2_tiny_evaluate_settings.json")
    assert settings["config"]["large_lambda"] == -math.inf
    recwarn.clear()
    evaluate(**common)     # the same settings, read back: no "earlier run" warning
    assert not [w for w in recwarn if "earlier run" in str(w.message)]


def test_read_csv_keeps_names_that_look_like_numbers_as_text(tmp_path):
    rows = [{"dataset": name, "model": "lr", "penalty": "l2", "strategy": "no_reg",
             "ratio": 0.1, "repetition": 0, "log_lambda": -math.inf, "kuncheva_k5": math.nan}
            for name in ("123", "007", "nan", "1e3", "-inf", "digits")]
    back = read_csv(write_csv(rows, tmp_path / "rows.csv"))
    assert [r["dataset"] for r in back] == ["123", "007", "nan", "1e3", "-inf", "digits"]
    assert all(r["ratio"] == 0.1 and r["repetition"] == 0 and r["log_lambda"] == -math.inf
               and math.isnan(r["kuncheva_k5"]) for r in back)
    # other columns (and other names of text columns) are parsed as before
    assert read_csv(tmp_path / "rows.csv", text_columns=())[0]["dataset"] == 123
    assert read_csv(tmp_path / "rows.csv", text_columns=["ratio"])[0]["ratio"] == "0.1"
    with pytest.raises(ValueError, match="text_columns='dataset' must be a collection"):
        read_csv(tmp_path / "rows.csv", text_columns="dataset")


def test_an_evaluate_csv_of_a_data_file_named_by_a_number_reads_back_its_name(tmp_path):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, (0, 8))
    np.savez(tmp_path / "007.npz", X=X[keep] / 16.0, y=y[keep])
    result = evaluate(str(tmp_path / "007.npz"), size="tiny", strategies=("no_reg",),
                      repetitions=1, out=tmp_path / "out", plot=False, verbose=False)
    assert {row["dataset"] for row in read_csv(result.csv)} == {"007"}
    assert {row["dataset"] for row in result.rows} == {"007"}


def test_an_object_that_only_looks_tagged_is_read_as_it_is(tmp_path):
    # ({"__float__": [1]} raised "unhashable type: 'list'" while the file was read)
    payload = {"a": {"__float__": [1]}, "b": {"__float__": "1.5"}, "c": {"__float__": "inf"}}
    path = tmp_path / "cell.json"
    path.write_text(json.dumps(payload))
    assert read_json(path) == {**payload, "c": math.inf}
