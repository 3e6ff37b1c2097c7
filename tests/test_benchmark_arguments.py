"""The benchmark scripts refuse bad arguments before any work (benchmarks/_args.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script, *args, tmp_path):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args,
                           "--out", str(tmp_path / "out.json")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("script, args, message", [
    # (ran as full-tape rmd, labelled "foo")
    ("bench_memory.py", ["--configs", "plain", "foo", "--steps", "1"],
     "argument --configs: 'foo' is not a configuration"),
    # (failed in its probe subprocess, after the configurations before it had run)
    ("bench_memory.py", ["--configs", "plain", "rmd:0", "--steps", "1"],
     "argument --configs: 'rmd:0' is not a configuration"),
    # (ran as one problem)
    ("bench_memory.py", ["--batch", "0", "--configs", "plain", "--steps", "1"],
     "argument --batch: must be an integer >= 1, got 0"),
    # (any name but "lr" ran the MLP, labelled with that name)
    ("bench_batched.py", ["--models", "foo", "--threads", "1", "--repeats", "1"],
     "argument --models: invalid choice: 'foo'"),
    # (timed nothing and wrote NaN medians into the JSON)
    ("bench_hypergrad.py", ["--repeats", "0", "--models", "lr", "--no-memory"],
     "argument --repeats: must be an integer >= 1, got 0"),
])
def test_a_bad_argument_is_a_usage_error(script, args, message, tmp_path):
    out = _run(script, *args, tmp_path=tmp_path)
    assert out.returncode == 2 and message in out.stderr, out.stderr[-2000:]
    assert not (tmp_path / "out.json").exists()
