"""Figures computed from the JPEG-recompressed CIFAR-10 copy say so."""

import warnings

import numpy as np

from skpoison.datasets._cifar import JPEG_CAVEAT
from skpoison.experiments import read_csv, reproduce


def _jpeg_copy(home, n_per_class=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 6], n_per_class)
    # two separable classes: bright airplanes, dark frogs
    imgs = rng.integers(0, 128, size=(labels.size, 32, 32, 3), dtype=np.uint8)
    imgs[labels == 0] += 100
    path = home / "cifar10-airplane-frog" / "cifar10_airplane_frog_jpegq75.npz"
    path.parent.mkdir(parents=True)
    half = labels.size // 2
    order = rng.permutation(labels.size)
    imgs, labels = imgs[order], labels[order]
    np.savez(path, x_train=imgs[:half], y_train=labels[:half].astype(np.uint8),
             x_test=imgs[half:], y_test=labels[half:].astype(np.uint8))


def test_caveat_reaches_table_csv_and_titles(tmp_path):
    from skpoison.experiments._titles import short_title as _short_title

    _jpeg_copy(tmp_path / "data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # the loader's own warning
        res = reproduce("fig4", dataset="cifar10", size="tiny", data_home=tmp_path / "data",
                        out=tmp_path / "out", plot=False, verbose=False,
                        strategies=("no_reg", "learned"), repetitions=1)
    assert f"data: {JPEG_CAVEAT}" in res.table
    assert {row["data_caveat"] for row in read_csv(res.csv)} == {JPEG_CAVEAT}
    assert {row["data_caveat"] for row in read_csv(res.extra_csv)} == {JPEG_CAVEAT}
    assert _short_title(res.config, res.rows).endswith(f"\ndata: {JPEG_CAVEAT}")


def test_exact_data_has_no_caveat(tmp_path):
    res = reproduce("fig2", size="tiny", out=tmp_path, plot=False, verbose=False,
                    strategies=("no_reg",), repetitions=1)
    assert "data:" not in res.table and "data_caveat" not in res.rows[0]
