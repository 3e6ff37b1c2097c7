"""The sweeps' files as other tools read them: standard JSON, CSV columns kept as written."""

import json
import math
from pathlib import Path

import numpy as np

from skpoison.experiments import evaluate, run_sweep
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
