"""Sweeps run unchanged on a Dask cluster through joblib's backend."""

import pytest

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install -e '.[test]')"
)

from skpoison.experiments import evaluate  # noqa: E402


def test_sweep_on_local_dask_cluster_matches_default_backend(tmp_path, assert_same_sweep):
    settings = dict(size="tiny", repetitions=2, strategies=("no_reg", "learned"),
                    verbose=False, plot=False)
    reference = evaluate(out=tmp_path / "default", **settings)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        on_dask = evaluate(out=tmp_path / "dask", backend="dask", n_jobs=2, **settings)
    assert_same_sweep(on_dask, reference, tmp_path / "dask", tmp_path / "default")
