"""Sweeps run unchanged on a Dask cluster through joblib's backend."""

import pytest

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install -e '.[test]')"
)

from skpoison.experiments import evaluate  # noqa: E402


def test_sweep_on_local_dask_cluster_matches_default_backend(tmp_path, assert_same_row):
    settings = dict(size="tiny", repetitions=2, strategies=("no_reg", "learned"),
                    verbose=False, plot=False)
    reference = evaluate(out=tmp_path / "default", **settings)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        on_dask = evaluate(out=tmp_path / "dask", backend="dask", n_jobs=2, **settings)
    assert len(on_dask.rows) == len(reference.rows) > 0
    key = lambda row: (row["strategy"], row["ratio"], row["repetition"])  # noqa: E731
    untimed = lambda row: {k: v for k, v in row.items() if not k.endswith("seconds")}  # noqa: E731
    for ours, theirs in zip(sorted(on_dask.rows, key=key), sorted(reference.rows, key=key)):
        assert_same_row(untimed(ours), untimed(theirs), rel=1e-6, abs=1e-12)
    assert len(list((tmp_path / "dask" / "cells").glob("*.json"))) == len(
        list((tmp_path / "default" / "cells").glob("*.json")))
