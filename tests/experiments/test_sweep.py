"""The resumable sweep runner: atomic cells, resume after an interruption."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from skpoison.experiments import evaluate, read_csv, run_sweep, write_csv
from skpoison.experiments._sweep import read_json, write_json_atomic

# The namespace evaluate() runs in. Not ``skpoison.experiments._runner`` from
# sys.modules: collecting that file's doctests under --import-mode=importlib
# imports it a second time, and a patch of that copy would not reach evaluate().
RUNNER = evaluate.__globals__

CALLS = []

try:
    import fcntl
except ImportError:     # Windows: the runner takes no cell locks
    fcntl = None
needs_locks = pytest.mark.skipif(fcntl is None, reason="cell locks need fcntl (POSIX only)")


def _square(x, fail_at=None, interrupt_at=None):
    if x == fail_at:
        raise RuntimeError(f"injected failure at cell {x}")
    if x == interrupt_at:
        raise KeyboardInterrupt
    CALLS.append(x)
    return [{"x": x, "y": x * x}]


def _cells(n, fail_at=None, **more):
    return [(f"c{i}", {"x": i, "fail_at": fail_at, **more}) for i in range(n)]


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    CALLS.clear()
    with pytest.raises(KeyboardInterrupt):
        run_sweep(_cells(6, interrupt_at=3), _square, tmp_path, verbose=False)
    assert CALLS == [0, 1, 2]
    cell_dir = tmp_path / "cells"
    done = sorted(p.name for p in cell_dir.iterdir())
    assert done == ["c0.json", "c1.json", "c2.json"]  # no temporary file left behind
    mtimes = {p.name: p.stat().st_mtime_ns for p in cell_dir.iterdir()}

    CALLS.clear()
    rows = run_sweep(_cells(6), _square, tmp_path, verbose=False)
    assert CALLS == [3, 4, 5]  # the finished cells were not redone
    assert [r["y"] for r in rows] == [0, 1, 4, 9, 16, 25]
    assert all((cell_dir / n).stat().st_mtime_ns == t for n, t in mtimes.items())

    CALLS.clear()
    assert run_sweep(_cells(6), _square, tmp_path, verbose=False) == rows
    assert CALLS == []


def test_duplicate_cell_names_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="unique"):
        run_sweep([("a", {"x": 1}), ("a", {"x": 2})], _square, tmp_path, verbose=False)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "cells" / "bad.json"
    with pytest.raises(TypeError):
        write_json_atomic(target, {"rows": [object()]})
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
    write_json_atomic(target, {"rows": [{"v": float("-inf")}]})
    assert read_json(target)["rows"][0]["v"] == float("-inf")


def test_interrupted_csv_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    write_csv([{"a": 1}], target)

    class Interrupting:
        def __str__(self):
            raise KeyboardInterrupt   # as if Ctrl-C arrived during the write

    with pytest.raises(KeyboardInterrupt):
        write_csv([{"a": 2}, {"a": Interrupting()}], target)
    assert read_csv(target) == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def _without_timing(rows):
    return [{k: v for k, v in r.items() if k != "cell_seconds"} for r in rows]


def test_interrupted_attack_sweep_resumes_and_matches_a_fresh_run(tmp_path, monkeypatch):
    real = RUNNER["attack_cell_rows"]
    calls = []

    def flaky(**kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of the sweep
        calls.append((kwargs["strategy"], kwargs["repetition"]))
        return real(**kwargs)

    common = dict(size="tiny", repetitions=2, n_jobs=1, verbose=False, plot=False)
    monkeypatch.setitem(RUNNER, "attack_cell_rows", flaky)
    with pytest.raises(KeyboardInterrupt):
        evaluate(out=tmp_path / "run", **common)
    assert len(list((tmp_path / "run" / "cells").glob("*.json"))) == 3
    first = list(calls)

    calls.clear()
    monkeypatch.setitem(RUNNER, "attack_cell_rows", lambda **kw: calls.append(
        (kw["strategy"], kw["repetition"])) or real(**kw))
    resumed = evaluate(out=tmp_path / "run", **common)
    assert len(calls) == 8 - 3 and not set(first) & set(calls)  # nothing redone
    assert len(set(first) | set(calls)) == 8
    rows = read_csv(resumed.csv)
    assert len(rows) == 4 * 2 * 3  # strategies x repetitions x ratios: nothing lost

    monkeypatch.setitem(RUNNER, "attack_cell_rows", real)
    fresh = evaluate(out=tmp_path / "fresh", **common)
    assert _without_timing(resumed.rows) == _without_timing(fresh.rows)


def test_a_cell_interrupted_mid_attack_resumes_after_its_last_batch(tmp_path, monkeypatch):
    from skpoison.poisoning._cumulative import run_cumulative_attack

    loop = run_cumulative_attack.__globals__       # (the attack loop's namespace)
    real, calls = loop["optimize_batch"], []

    def counted(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt                # Ctrl-C in the cell's third batch
        calls.append(1)
        return real(*args, **kwargs)

    common = dict(size="tiny", repetitions=1, strategies=("learned",), n_jobs=1,
                  verbose=False, plot=False)
    from skpoison.poisoning._resume import ResumeFile

    monkeypatch.setitem(ResumeFile.due.__globals__, "SAVE_INTERVAL", 0.0)   # every batch
    monkeypatch.setitem(loop, "optimize_batch", counted)
    with pytest.raises(KeyboardInterrupt):
        evaluate(out=tmp_path / "run", **common)
    cells = tmp_path / "run" / "cells"
    (partial,) = cells.glob("*.resume.pt")         # the two finished batches
    assert not list(cells.glob("*.json"))

    calls.clear()
    monkeypatch.setitem(loop, "optimize_batch", lambda *a, **k: calls.append(1) or real(*a, **k))
    resumed = evaluate(out=tmp_path / "run", **common)
    n_resumed = len(calls)
    assert not partial.exists() and [p.suffix for p in cells.iterdir()] == [".json"]

    calls.clear()
    fresh = evaluate(out=tmp_path / "fresh", **common)
    assert n_resumed == len(calls) - 2             # the finished batches were not redone
    assert _without_timing(resumed.rows) == _without_timing(fresh.rows)


def _interrupted_in_third_batch(tmp_path, monkeypatch, common):
    """Ctrl-C in a one-cell sweep's third batch: the cell's resume file, saved twice."""
    from skpoison.poisoning._cumulative import run_cumulative_attack
    from skpoison.poisoning._resume import ResumeFile

    loop = run_cumulative_attack.__globals__
    real, calls = loop["optimize_batch"], []

    def counted(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setitem(ResumeFile.due.__globals__, "SAVE_INTERVAL", 0.0)   # every batch
    with monkeypatch.context() as patch:
        patch.setitem(loop, "optimize_batch", counted)
        with pytest.raises(KeyboardInterrupt):
            evaluate(out=tmp_path / "run", **common)
    (partial,) = (tmp_path / "run" / "cells").glob("*.resume.pt")
    return partial


def test_a_damaged_resume_file_of_a_sweep_restarts_its_cell(tmp_path, monkeypatch):
    # (the attack refused it, as it refuses a user's file: the sweep stopped, and
    # the advice, "name a new file", had no command-line counterpart)
    common = dict(size="tiny", repetitions=1, strategies=("learned",), n_jobs=1,
                  verbose=False, plot=False)
    partial = _interrupted_in_third_batch(tmp_path, monkeypatch, common)
    partial.write_bytes(partial.read_bytes()[:100])            # truncated
    with pytest.warns(UserWarning, match="resume file .* is damaged .* starts from the"):
        resumed = evaluate(out=tmp_path / "run", **common)
    assert not partial.exists()
    fresh = evaluate(out=tmp_path / "fresh", **common)
    assert _without_timing(resumed.rows) == _without_timing(fresh.rows)


def test_a_cells_resume_file_stays_until_its_rows_are_stored(tmp_path, monkeypatch):
    # (the attack removed it when it ended: a failure or a kill between then and
    # the cell's file, while the victims trained, lost the whole attack)
    common = dict(size="tiny", repetitions=1, strategies=("learned",), n_jobs=1,
                  verbose=False, plot=False)
    partial = _interrupted_in_third_batch(tmp_path, monkeypatch, common)
    sweep = run_sweep.__globals__

    def disk_full(path, payload):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setitem(sweep, "write_json_atomic", disk_full)
        with pytest.raises(OSError, match="No space left"), \
                pytest.warns(RuntimeWarning, match="1 of 1 cells failed"):
            evaluate(out=tmp_path / "run", **common)
    assert partial.exists()                  # the finished attack's last state
    evaluate(out=tmp_path / "run", **common)
    assert not partial.exists()


def test_run_attack_cell_refuses_a_file_that_is_no_resume_file(tmp_path):
    # (only a sweep, which names its cells' resume files, removes a damaged one)
    from skpoison.experiments import make_config, run_attack_cell
    notes = tmp_path / "my_notes.txt"
    notes.write_text("mine")
    with pytest.raises(ValueError, match="is not an attack's resume file"):
        run_attack_cell(make_config(size="tiny"), "learned", 0, resume_file=notes)
    assert notes.read_text() == "mine"


def test_a_resume_file_missing_its_tail_is_removed(tmp_path):
    # (torch.load raises OSError for a torn archive: that is the file's fault)
    import torch

    from skpoison.poisoning import _resume
    path = tmp_path / "cell.resume.pt"
    torch.save({"fingerprint": "f", "state": {"batch": 1}}, path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.warns(UserWarning, match="is damaged"):
        assert _resume.discard_if_not_resume_file(path)
    assert not path.exists()


def test_a_resume_file_that_cannot_be_read_now_is_not_removed(tmp_path, monkeypatch):
    # An I/O error says nothing of the file: the cell fails, its saved work stays.
    from skpoison.poisoning import _resume
    path = tmp_path / "cell.resume.pt"
    path.write_bytes(b"saved work")

    def io_error(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setitem(_resume._read.__globals__, "open", io_error)
    with pytest.raises(OSError, match="Input/output error"):
        _resume.discard_if_not_resume_file(path)
    assert path.exists()


@needs_locks
def test_the_progress_bar_counts_cells_another_run_finished(tmp_path, monkeypatch):
    # (cells left to another run and finished by it meanwhile were dropped from
    # the work without a count: the bar ended at 1/2)
    cell_dir = tmp_path / "cells"
    cell_dir.mkdir()
    ends = []

    from tqdm import tqdm

    class Bar(tqdm):
        def close(self):
            ends.append((self.n, self.total))
            super().close()

    def other_run_finishes_c0(x, fail_at=None):
        write_json_atomic(cell_dir / "c0.json", {"cell": "c0", "rows": [{"x": 0, "y": 0}]})
        return _square(x)

    monkeypatch.setitem(run_sweep.__globals__, "progress_bar", Bar)
    with open(cell_dir / ".c0.json.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)        # another run is computing c0
        run_sweep([("c0", {"x": 0}), ("c1", {"x": 1})], other_run_finishes_c0, tmp_path,
                  verbose=True)
    assert ends[0] == (2, 2)               # (closed once more when collected)


def test_a_failing_cell_lets_the_others_finish_then_raises_its_error(tmp_path):
    # One cell that fails (a repetition that diverges) neither stops the sweep nor
    # loses the cells beside it: they are stored, and a rerun computes only it.
    CALLS.clear()
    with pytest.raises(RuntimeError, match="injected failure at cell 3"), \
            pytest.warns(RuntimeWarning, match=r"1 of 6 cells failed \(c3\)") as caught:
        run_sweep(_cells(6, fail_at=3), _square, tmp_path, verbose=False)
    assert caught[0].filename == __file__
    assert CALLS == [0, 1, 2, 4, 5]     # each computed once (not again while waiting)
    done = sorted(p.name for p in (tmp_path / "cells").iterdir())
    assert done == ["c0.json", "c1.json", "c2.json", "c4.json", "c5.json"]

    CALLS.clear()
    rows = run_sweep(_cells(6), _square, tmp_path, verbose=False)
    assert CALLS == [3]
    assert [r["y"] for r in rows] == [0, 1, 4, 9, 16, 25]


def test_process_backend_runs_cells_in_workers(tmp_path):
    result = evaluate(out=tmp_path, size="tiny", repetitions=1, strategies=("no_reg",),
                      n_jobs=2, backend="loky", verbose=False, plot=False)
    assert len(result.rows) == 3
    assert os.path.exists(result.csv)


def _squares_together(cells):
    if any(cell["x"] == cell["fail_at"] for cell in cells):
        raise RuntimeError("injected failure of the whole group")
    CALLS.append(tuple(cell["x"] for cell in cells))
    return [[{"x": cell["x"], "y": cell["x"] ** 2}] for cell in cells]


def _grouped(cells, tmp_path, size):
    return run_sweep(cells, _square, tmp_path, verbose=False, group_func=_squares_together,
                     group_by=lambda args: args["x"] % 2, group_size=size)


def test_grouped_sweep_stores_one_file_per_cell(tmp_path):
    CALLS.clear()
    rows = _grouped(_cells(5), tmp_path, size=2)
    assert sorted(CALLS) == [(0, 2), (1, 3), (4,)]  # groups by parity, two at a time
    assert [r["y"] for r in rows] == [0, 1, 4, 9, 16]
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == [
        f"c{i}.json" for i in range(5)]


def _where(args):
    return {"machine": "here", "x": args["x"]}


def test_cells_record_what_computed_them(tmp_path):
    import json

    _grouped(_cells(3), tmp_path, size=2)   # (0, 2) together, 1 alone: no record
    assert "computed" not in json.loads((tmp_path / "cells" / "c0.json").read_text())
    run_sweep(_cells(5), _square, tmp_path, verbose=False, group_func=_squares_together,
              group_by=lambda args: args["x"] % 2, group_size=2, record=_where)
    computed = {i: json.loads((tmp_path / "cells" / f"c{i}.json").read_text()).get("computed")
                for i in range(5)}
    # Only the cells computed now have a record: 3 and 4 (different parities: alone).
    assert computed == {0: None, 1: None, 2: None, 3: {"machine": "here", "x": 3, "together": 1},
                        4: {"machine": "here", "x": 4, "together": 1}}
    run_sweep(_cells(8)[5:], _square, tmp_path, verbose=False, group_func=_squares_together,
              group_by=lambda args: args["x"] % 2, group_size=2, record=_where)
    assert json.loads((tmp_path / "cells" / "c5.json").read_text())["computed"] == {
        "machine": "here", "x": 5, "together": 2}     # 5 and 7 in one call


def test_failed_group_keeps_its_good_cells_and_raises_the_cells_own_error(tmp_path):
    CALLS.clear()
    with pytest.raises(RuntimeError, match="injected failure at cell 3"), \
            pytest.warns(RuntimeWarning, match="c1, c3, c5 failed together|1 of 6 cells "
                         r"failed \(c3\)") as caught:
        _grouped(_cells(6, fail_at=3), tmp_path, size=3)
    assert caught[0].filename == __file__
    assert "c1, c3, c5 failed together" in str(caught[0].message)
    # The even cells ran as one group; the odd group (1, 3, 5) failed, and 1
    # and 5 were then computed alone and kept.
    assert CALLS == [(0, 2, 4), 1, 5]
    done = sorted(p.name for p in (tmp_path / "cells").iterdir())
    assert done == ["c0.json", "c1.json", "c2.json", "c4.json", "c5.json"]

    CALLS.clear()
    rows = _grouped(_cells(6), tmp_path, size=3)
    assert CALLS == [(3,)]  # the rerun computes the missing cell only
    assert [r["y"] for r in rows] == [0, 1, 4, 9, 16, 25]


def test_cell_names_do_not_change_by_accident():
    # A finished cell is found by its name: a change to what the name hashes
    # (a new poisoner parameter that enters attack_defaults, say) orphans every
    # cell users have computed. Change these values only on purpose.
    from skpoison.experiments import make_config

    keys = {}
    for size in ("tiny", "full"):
        config = make_config("digits", size=size)
        pool = RUNNER["load_pool"](config.dataset, config.classes, None)
        keys[size] = config.key(strategies=None, repetitions=None,
                                data=RUNNER["data_fingerprint"](pool),
                                defaults=RUNNER["attack_defaults"](config))
    assert keys == {"tiny": "262bf3ff7c", "full": "27439cd721"}


def test_other_data_or_defaults_start_new_cells(tmp_path, monkeypatch):
    # Cells are named after the data's fingerprint and the library defaults, so
    # a changed data copy (or default) is never mixed with finished cells.
    common = dict(size="tiny", repetitions=1, strategies=("no_reg",), n_jobs=1,
                  verbose=False, plot=False, out=tmp_path / "run")
    evaluate(**common)
    names = {p.name for p in (tmp_path / "run" / "cells").glob("*.json")}
    evaluate(**common)  # same data, same defaults: resumed, nothing new
    assert {p.name for p in (tmp_path / "run" / "cells").glob("*.json")} == names

    real_load = RUNNER["load_pool"]

    def other_copy(*args, **kwargs):
        pool = real_load(*args, **kwargs)
        return type(pool)(**{**pool, "data": pool.data * 0.999})

    monkeypatch.setitem(RUNNER, "load_pool", other_copy)
    with pytest.warns(UserWarning, match=r"other settings \(data.fingerprint '[0-9a-f]+' →"):
        evaluate(**common)
    after_data = {p.name for p in (tmp_path / "run" / "cells").glob("*.json")}
    assert len(after_data) == 2 * len(names)
    monkeypatch.setitem(RUNNER, "load_pool", real_load)

    real_defaults = RUNNER["attack_defaults"]
    monkeypatch.setitem(RUNNER, "attack_defaults", lambda config: {
        **real_defaults(config), "poisoner": {"poison_lr": 0.25}})
    with pytest.warns(UserWarning, match=r"\(data.fingerprint .*, defaults.poisoner.ratios .*, "
                                         r"defaults.poisoner.batch_size 20 → None, "
                                         r"defaults.poisoner.hyperparams .* and 8 more\); it"):
        evaluate(**common)
    assert len(list((tmp_path / "run" / "cells").glob("*.json"))) == 3 * len(names)


@pytest.mark.parametrize("content", ["", '{"rows": [', '{"cell": "other", "rows": []}',
                                     '{"cell": "c1", "rows": 5}', "[1, 2]"])
def test_damaged_cell_file_is_recomputed_with_a_warning(tmp_path, content):
    CALLS.clear()
    run_sweep(_cells(3), _square, tmp_path, verbose=False)
    (tmp_path / "cells" / "c1.json").write_text(content)
    CALLS.clear()
    with pytest.warns(RuntimeWarning, match=r"c1.json is damaged") as caught:
        rows = run_sweep(_cells(3), _square, tmp_path, verbose=False)
    assert CALLS == [1] and [r["y"] for r in rows] == [0, 1, 4]
    assert caught[0].filename == __file__     # the caller's line, not the sweep's insides


def test_a_backend_that_cannot_stream_results_still_runs_the_sweep(tmp_path):
    # joblib's multiprocessing backend, and Ray's, which derives from it, give
    # results only all together (no return_as="generator_unordered").
    rows = run_sweep(_cells(3), _square, tmp_path, n_jobs=2, backend="multiprocessing",
                     verbose=False)
    assert [r["y"] for r in rows] == [0, 1, 4]
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == [
        "c0.json", "c1.json", "c2.json"]


@pytest.mark.parametrize("edit, problem", [
    (lambda rows: rows.clear(), "ratios"),
    (lambda rows: rows[1].update(ratio=0.5), "ratios"),
    (lambda rows: rows[0].update(strategy="large"), "strategy"),
    (lambda rows: rows[2].update(test_error="oops"), "test_error"),
    (lambda rows: rows[2].update(test_error=True), "test_error"),
    (lambda rows: rows[1].update(n_val=10_000), "trusted set"),
    (lambda rows: rows[0].update(test_error=float("nan")), "test_error nan is not an error"),
    (lambda rows: rows[1].update(test_error=5.0), "test_error 5.0 is not an error rate"),
    (lambda rows: rows[1].update(log_lambda=None), "log_lambda None is not a log-strength"),
], ids=["rows dropped", "ratio moved", "other strategy", "text", "bool", "larger trusted set",
        "NaN error", "error above 1", "no log_lambda"])
def test_an_attack_cell_edited_by_hand_is_recomputed(tmp_path, edit, problem):
    common = dict(size="tiny", repetitions=1, strategies=("no_reg",), n_jobs=1,
                  verbose=False, plot=False, out=tmp_path)
    clean = evaluate(**common).rows
    (path,) = (tmp_path / "cells").glob("*.json")
    content = json.loads(path.read_text())
    edit(content["rows"])
    path.write_text(json.dumps(content))
    with pytest.warns(RuntimeWarning, match=f"{path.name} is damaged .*{problem}"):
        again = evaluate(**common).rows
    assert _without_timing(again) == _without_timing(clean)


def test_atomic_writes_sync_before_the_rename(tmp_path, monkeypatch):
    events, fsync, replace = [], os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), replace(a, b))[1])
    write_csv([{"a": 1}], tmp_path / "rows.csv")
    write_json_atomic(tmp_path / "cell.json", {"a": 1})
    # (the file, its rename, then the folder that holds the rename)
    assert events == ["fsync", "replace", "fsync"] * 2


def _stored_cell(config, n_val):
    return [{"strategy": "no_reg", "repetition": 0, "ratio": float(r), "n_poison": 0,
             "n_val": n_val, "test_error": 0.1, "val_error": 0.1, "weight_norm": 1.0,
             "attack_val_loss": 0.5, "log_lambda": float("-inf")} for r in config.ratios]


def test_the_stored_rows_check_of_an_attack_cell():
    from skpoison.experiments import make_config
    from skpoison.experiments._attack_cell import cell_rows_problem

    config = make_config(size="tiny")
    args = dict(config=config, strategy="no_reg", repetition=0)
    assert cell_rows_problem(args, _stored_cell(config, config.n_val)) is None
    # the cell's own trusted-set size (fig4/9) bounds its rows, not the config's
    big = 4 * config.n_val
    assert cell_rows_problem({**args, "n_val": big}, _stored_cell(config, big)) is None
    assert "trusted set" in cell_rows_problem({**args, "n_val": big},
                                              _stored_cell(config, big + 1))
    other_repetition = _stored_cell(config, config.n_val)
    other_repetition[1]["repetition"] = 1
    assert "repetition" in cell_rows_problem(args, other_repetition)
    assert "ratios" in cell_rows_problem(args, _stored_cell(config, config.n_val)[::-1])
    for column in ("repetition", "n_poison", "n_val", "test_error", "val_error",
                   "weight_norm", "attack_val_loss"):
        rows = _stored_cell(config, config.n_val)
        rows[0][column] = "oops"
        assert column in cell_rows_problem(args, rows), column
    for column, value in (("test_error", -0.1), ("val_error", 1.5), ("val_error", float("nan")),
                          ("weight_norm", float("inf")), ("attack_val_loss", float("nan")),
                          ("attack_val_loss", -5.0),
                          ("log_lambda", float("inf")), ("log_lambda", float("nan")),
                          ("log_lambda", "-4"), ("log_lambda", None),
                          ("kuncheva_k3", float("inf")), ("kuncheva_k5", 7.0),
                          ("log_lambda_0", float("nan")), ("weight_norm_1", -1.0)):
        rows = _stored_cell(config, config.n_val)
        rows[1][column] = value
        assert column in cell_rows_problem(args, rows), (column, value)



def _slow_square(x, fail_at=None):
    time.sleep(0.05)
    return _square(x, fail_at)


@needs_locks
@pytest.mark.parametrize("group_sizes", [(1, 1), (2, 3)])
def test_concurrent_sweeps_into_one_folder_share_the_cells(tmp_path, group_sizes):
    # Two runs that share cells (figures over one sweep, say), started together:
    # grouped differently too, which waits on locks in another order.
    computed = []          # (run, cell) of every computation
    cells = _cells(12)
    results = [None, None]

    def run(i):
        def one(x, fail_at=None):
            time.sleep(0.05)
            computed.append((i, x))
            return [{"x": x, "y": x * x}]

        def together(group):
            return [one(cell["x"]) for cell in group]

        results[i] = run_sweep(cells, one, tmp_path, verbose=False, backend="threading",
                               n_jobs=1, group_func=together, group_by=lambda args: 0,
                               group_size=group_sizes[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)   # no deadlock
    assert sorted(x for _, x in computed) == list(range(12))  # every cell once, in all
    assert {i for i, _ in computed} == {0, 1}                 # both runs did some
    assert results[0] == results[1] == [{"x": i, "y": i * i} for i in range(12)]
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == sorted(
        f"c{i}.json" for i in range(12))                      # no lock file left


@needs_locks
def test_a_cell_locked_by_another_run_is_left_for_last_then_read(tmp_path):
    CALLS.clear()
    cell_dir = tmp_path / "cells"
    cell_dir.mkdir()
    rows = []
    with open(cell_dir / ".c0.json.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)        # another run is computing c0
        thread = threading.Thread(
            target=lambda: rows.extend(run_sweep(_cells(3), _square, tmp_path,
                                                 verbose=False)))
        thread.start()
        time.sleep(0.3)
        assert CALLS == [1, 2] and thread.is_alive()    # the others first, then c0's lock
        write_json_atomic(cell_dir / "c0.json", {"cell": "c0", "rows": [{"x": 0, "y": -1}]})
    thread.join(timeout=30)
    assert CALLS == [1, 2]                      # c0 was read, not computed again
    assert rows == [{"x": 0, "y": -1}, {"x": 1, "y": 1}, {"x": 2, "y": 4}]


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("locks", [True, False])
def test_a_killed_writers_temporary_files_are_removed_with_its_cell(tmp_path, monkeypatch,
                                                                     locks):
    # Without locks (no fcntl: Windows), whose release removed them, they stayed for good.
    from skpoison._files import _HOST

    if locks and fcntl is None:
        pytest.skip("cell locks need fcntl (POSIX only)")
    if not locks:
        monkeypatch.setitem(run_sweep.__globals__["tidy_cells"].__globals__, "fcntl", None)

    cell_dir = tmp_path / "cells"
    cell_dir.mkdir()
    dead, alive = _dead_pid(), os.getpid()
    stale = [cell_dir / f".c1.json.{_HOST}.{dead}.deadbeef.tmp",        # killed here
             cell_dir / f".c1.resume.pt.{_HOST}.{dead}.ab.tmp",
             cell_dir / ".c1.json.other-host.123.cd.tmp"]                # ... an hour ago
    kept = [cell_dir / f".c10.json.{_HOST}.{dead}.cafe.tmp",            # another cell's
            cell_dir / ".c1.json.other-host.124.ef.tmp",                # maybe writing now
            cell_dir / f".c1.json.{_HOST}.{alive}.fresh.tmp"]           # a live writer's
    for path in stale + kept:
        path.write_text('{"cell": "c')
    old = time.time() - 3600
    os.utime(stale[2], (old, old))
    run_sweep(_cells(2), _square, tmp_path, verbose=False)
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in kept)


@needs_locks
def test_a_rerun_removes_a_killed_writers_temporaries_of_the_tables(tmp_path):
    from skpoison._files import _HOST
    from skpoison.experiments._outputs import write_tables

    dead, alive = _dead_pid(), os.getpid()
    stale = [tmp_path / f".s.csv.{_HOST}.{dead}.ab.tmp",
             tmp_path / f".s_settings.json.{_HOST}.{dead}.cd.tmp"]
    kept = tmp_path / f".s.csv.{_HOST}.{alive}.ef.tmp"       # a live writer's
    for path in (*stale, kept):
        path.write_text("x")
    write_tables([{"a": 1}], {"config": {}}, tmp_path, "s", cells=False)
    assert not any(path.exists() for path in stale) and kept.exists()


@pytest.mark.parametrize("record", ["[]", "0", '"settings"'])
def test_a_settings_file_that_holds_no_record_is_replaced(tmp_path, record):
    # (every rerun failed, AttributeError: 'list' object has no attribute 'items')
    from skpoison.experiments._outputs import write_tables

    (tmp_path / "s_settings.json").write_text(record)
    write_tables([{"a": 1}], {"config": {}}, tmp_path, "s", cells=False)
    assert json.loads((tmp_path / "s_settings.json").read_text()) == {"config": {}}
    assert read_csv(tmp_path / "s.csv") == [{"a": 1}]


@needs_locks
def test_a_rerun_tidies_what_a_killed_run_left_of_finished_cells(tmp_path):
    from skpoison._files import _HOST

    run_sweep(_cells(2), _square, tmp_path, verbose=False)
    cell_dir = tmp_path / "cells"
    left = [cell_dir / ".c0.json.lock",                   # a group killed after its c0
            cell_dir / f".c1.json.{_HOST}.{_dead_pid()}.ab.tmp"]
    for path in left:
        path.write_text("")
    CALLS.clear()
    run_sweep(_cells(2), _square, tmp_path, verbose=False)
    assert CALLS == [] and not any(path.exists() for path in left)


@needs_locks
def test_a_rerun_with_a_failing_cell_tidies_too(tmp_path):
    from skpoison._files import _HOST

    run_sweep(_cells(2), _square, tmp_path, verbose=False)
    cell_dir = tmp_path / "cells"
    left = [cell_dir / ".c0.json.lock", cell_dir / f".c1.json.{_HOST}.{_dead_pid()}.ab.tmp"]
    for path in left:
        path.write_text("")
    with pytest.warns(RuntimeWarning, match="1 of 3 cells failed"), \
            pytest.raises(RuntimeError, match="injected failure at cell 2"):
        run_sweep(_cells(3, fail_at=2), _square, tmp_path, verbose=False)
    assert not any(path.exists() for path in left)


def test_a_rerun_removes_the_resume_file_of_a_finished_cell(tmp_path):
    # (a run killed between writing a cell and removing its resume file left it
    # there for good: the finished cell is never computed again)
    def square(x, fail_at=None, resume_file=None):
        return _square(x)

    run_sweep(_cells(2), square, tmp_path, verbose=False, resume_arg="resume_file")
    left = tmp_path / "cells" / "c1.resume.pt"
    left.write_bytes(b"the finished attack's last state")
    unfinished = tmp_path / "cells" / "c9.resume.pt"      # (another cell's: kept)
    unfinished.write_bytes(b"an interrupted attack's state")
    CALLS.clear()
    run_sweep(_cells(2), square, tmp_path, verbose=False, resume_arg="resume_file")
    assert CALLS == [] and not left.exists() and unfinished.exists()


@needs_locks
def test_a_lock_file_removed_while_a_run_waited_on_it_is_not_held_twice(tmp_path):
    # A holder that fails removes its lock file; a run that waited on it must
    # then lock the new file, which a later run may hold (one holder per cell).
    from skpoison.experiments._cell_locks import _lock

    lock = tmp_path / ".c0.json.lock"
    first = _lock(lock, blocking=True)
    got = []
    waiter = threading.Thread(target=lambda: got.append(_lock(lock, blocking=True)))
    waiter.start()
    time.sleep(0.2)
    os.unlink(lock)                           # the holder's exit: file removed ...
    later = _lock(lock, blocking=True)        # ... a new run locks the new file
    first.close()                             # ... and the old lock goes
    time.sleep(0.2)
    assert waiter.is_alive() and not got      # the waiter waits for the new file's holder
    later.close()
    waiter.join(timeout=10)
    assert got and os.fstat(got[0].fileno()).st_ino == os.stat(lock).st_ino
    got[0].close()


@needs_locks
def test_a_folder_that_cannot_be_locked_still_runs_the_sweep(tmp_path, monkeypatch):
    def no_locks(handle, operation):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    CALLS.clear()
    with pytest.warns(RuntimeWarning, match="cannot be locked .*No locks available"):
        rows = run_sweep(_cells(2), _square, tmp_path, verbose=False)
    assert CALLS == [0, 1] and [r["y"] for r in rows] == [0, 1]
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == ["c0.json", "c1.json"]


def test_a_grouped_run_removes_a_resume_file_left_by_a_cell_alone(tmp_path):
    cell_dir = tmp_path / "cells"
    cell_dir.mkdir()
    partial = cell_dir / "c1.resume.pt"
    partial.write_bytes(b"an interrupted run's state")
    run_sweep(_cells(2), _square, tmp_path, verbose=False, group_func=_squares_together,
              group_by=lambda args: 0, group_size=2, resume_arg="resume_file")
    assert not partial.exists()


def test_sizes_the_pool_cannot_hold_fail_before_any_cell(tmp_path, monkeypatch):
    started = []
    monkeypatch.setitem(RUNNER, "attack_cell_rows", lambda **kw: started.append(kw))
    with pytest.raises(ValueError, match="exceeds the 352 samples available"):
        evaluate(out=tmp_path, size="tiny", n_train=5000, n_jobs=1, verbose=False,
                 plot=False)
    assert started == []


@needs_locks
def test_one_run_at_a_time_writes_a_stems_outputs(tmp_path):
    # Two runs of one stem with other settings, writing at the same time, left
    # one run's CSV beside the other's settings JSON and PNG (a review).
    from skpoison.experiments._cell_locks import outputs_locked

    entered = threading.Event()

    def second_run():
        with outputs_locked(tmp_path, "stem"):
            entered.set()

    with outputs_locked(tmp_path, "stem"):
        waiting = threading.Thread(target=second_run)
        waiting.start()
        assert not entered.wait(0.3)               # (blocked while the first one writes)
        with outputs_locked(tmp_path, "other"):    # (another stem's outputs are free)
            pass
    waiting.join(10)
    assert entered.is_set()
    assert not list(tmp_path.glob(".*.lock"))      # (the lock files go with their holders)


def test_a_png_is_written_whole_or_not_at_all(tmp_path):
    pytest.importorskip("matplotlib")
    from skpoison.experiments._plots import _figure, save

    path = tmp_path / "fig.png"
    fig, _ = _figure(1)
    save(fig, path)
    before = path.read_bytes()

    class Killed(BaseException):
        pass

    fig, axes = _figure(1)
    axes[0].plot([0, 1])
    original = fig.savefig

    def killed_midway(handle, **kwargs):
        original(handle, **kwargs)
        handle.truncate(100)
        raise Killed

    fig.savefig = killed_midway
    with pytest.raises(Killed):
        save(fig, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["fig.png"]


def test_a_stem_with_glob_characters_has_its_earlier_pngs_removed(tmp_path):
    # (the stem went to Path.glob unescaped: a file of your own named d[1].npz
    # kept its earlier run's PNGs beside the new CSV)
    from skpoison.experiments._outputs import write_tables

    stem = "d[1]-abc123_lr_l2_tiny_evaluate"
    write_tables([{"a": 1}], {"config": {"seed": 0}}, tmp_path, stem, cells=False)
    for name in (f"{stem}.png", f"{stem}_lambda.png"):
        (tmp_path / name).write_bytes(b"png")
    with pytest.warns(UserWarning, match="removed"):
        write_tables([{"a": 2}], {"config": {"seed": 3}}, tmp_path, stem, cells=False)
    assert not list(tmp_path.glob("*.png"))


def test_evaluate_and_reproduce_write_their_outputs_under_the_lock(tmp_path, monkeypatch):
    from contextlib import contextmanager

    from skpoison.experiments import _figures, _runner, reproduce

    held = []

    @contextmanager
    def recording(out, stem):
        held.append(stem)
        before = set(os.listdir(out)) if os.path.isdir(out) else set()
        yield
        held.append(sorted(set(os.listdir(out)) - before))

    monkeypatch.setattr(_runner, "outputs_locked", recording)
    monkeypatch.setattr(_figures, "outputs_locked", recording)
    evaluate(size="tiny", repetitions=1, strategies=("no_reg",), n_jobs=1, verbose=False,
             plot=False, out=tmp_path / "e")
    reproduce("fig1", size="tiny", verbose=False, plot=False, out=tmp_path / "f")
    stem = "digits_lr_l2_tiny_evaluate"
    assert held == [stem, [f"{stem}.csv", f"{stem}_settings.json"],
                    "synthetic_tiny_fig1", ["synthetic_tiny_fig1.csv",
                                            "synthetic_tiny_fig1_settings.json"]]


def _shown(x, progress=False, fail_at=None):
    CALLS.append((x, progress))
    return [{"x": x}]


def _shown_together(cells, progress=False):
    CALLS.append((tuple(c["x"] for c in cells), progress))
    return [[{"x": c["x"]}] for c in cells]


@pytest.mark.parametrize("settings, shown", [
    (dict(), True),
    (dict(verbose=False), False),
    (dict(n_jobs=2, backend="threading"), False),    # (two cells' bars at once)
    (dict(backend="threading"), False),
])
@pytest.mark.parametrize("group_size", [1, 2])
def test_cells_show_their_own_progress_only_one_at_a_time_here(tmp_path, settings, shown,
                                                               group_size):
    CALLS.clear()
    run_sweep(_cells(2), _shown, tmp_path, progress_arg="progress",
              **{"verbose": True, **settings}, group_func=_shown_together,
              group_by=lambda args: 0, group_size=group_size)
    assert CALLS and {progress for _, progress in CALLS} == {shown}


def test_an_attack_sweeps_cells_draw_their_attacks_bars(tmp_path, capsys):
    # A long cell (an MLP at full size: tens of minutes on a CPU) showed 0 cells
    # done all along; its attack's bars now move under the sweep's.
    evaluate(size="tiny", repetitions=1, strategies=("learned",), n_jobs=1, verbose=True,
             plot=False, out=tmp_path)
    err = capsys.readouterr().err
    assert "batches" in err and "outer steps" in err


def test_a_sweep_gives_the_defenders_step_settings_to_learned_strategies_only(tmp_path):
    # (a fixed λ's attack ignores them, and warns that it does)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate(size="tiny", repetitions=1, strategies=("large", "learned"), n_jobs=1,
                 verbose=False, plot=False, out=tmp_path, lambda_lr=0.3, lambda_step="gd")
    assert not [w for w in caught if "hyperparams='fixed'" in str(w.message)]
