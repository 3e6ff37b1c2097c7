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


def test_sweep_on_ray_matches_default_backend(tmp_path, local_ray, assert_same_sweep):
    # Ray's backend derives from joblib's multiprocessing one: results come back
    # all together, not one by one, and the sweep must still run.
    settings = dict(size="tiny", repetitions=2, strategies=("no_reg", "learned"),
                    verbose=False, plot=False)
    reference = evaluate(out=tmp_path / "default", **settings)
    on_ray = evaluate(out=tmp_path / "ray", backend="ray", n_jobs=2, **settings)
    assert_same_sweep(on_ray, reference, tmp_path / "ray", tmp_path / "default")
