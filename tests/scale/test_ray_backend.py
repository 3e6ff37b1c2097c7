"""Sweeps run unchanged on Ray through joblib's backend (where Ray is installed).

Ray is not a test dependency (a large install that CI does without); this
test runs where it is installed, e.g. ``pip install ray``.
"""

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install ray)")

from ray.util.joblib import register_ray  # noqa: E402

from skpoison.experiments import evaluate  # noqa: E402


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    register_ray()
    yield
    ray.shutdown()


def test_sweep_on_ray_matches_default_backend(tmp_path, local_ray, assert_same_row):
    # Ray's backend derives from joblib's multiprocessing one: results come back
    # all together, not one by one, and the sweep must still run.
    settings = dict(size="tiny", repetitions=2, strategies=("no_reg", "learned"),
                    verbose=False, plot=False)
    reference = evaluate(out=tmp_path / "default", **settings)
    on_ray = evaluate(out=tmp_path / "ray", backend="ray", n_jobs=2, **settings)
    assert len(on_ray.rows) == len(reference.rows) > 0
    key = lambda row: (row["strategy"], row["ratio"], row["repetition"])  # noqa: E731
    untimed = lambda row: {k: v for k, v in row.items() if not k.endswith("seconds")}  # noqa: E731
    for ours, theirs in zip(sorted(on_ray.rows, key=key), sorted(reference.rows, key=key)):
        assert_same_row(untimed(ours), untimed(theirs), rel=1e-6, abs=1e-12)
    assert len(list((tmp_path / "ray" / "cells").glob("*.json"))) == len(
        list((tmp_path / "default" / "cells").glob("*.json")))
