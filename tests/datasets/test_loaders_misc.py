from pathlib import Path

import numpy as np
import pytest

from skpoison.datasets import (DATASET_NAMES, default_sizes, get_data_home,
                               load_dataset, load_digits_pair,
                               make_poisoning_splits, make_synthetic_2d)


# ---------------------------------------------------------- get_data_home ---
def test_get_data_home_precedence(tmp_path, monkeypatch):
    assert get_data_home() == Path("~/skpoison_data").expanduser()
    monkeypatch.setenv("SKPOISON_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert isinstance(get_data_home(str(tmp_path)), Path)
    monkeypatch.setenv("SKPOISON_DATA", "")
    assert get_data_home() == Path("~/skpoison_data").expanduser()
    assert not (tmp_path / "env").exists()  # never created by get_data_home
    with pytest.raises(TypeError, match="data_home must be a folder .* got 5"):
        get_data_home(5)                       # (os.fspath's message named no argument)


# ----------------------------------------------------------------- digits ---
def test_load_digits_pair():
    b = load_digits_pair()
    assert b.data.shape == (352, 64) and b.data.dtype == np.float64
    assert np.bincount(b.target)[[0, 8]].tolist() == [178, 174]
    assert b.data.min() == 0.0 and b.data.max() == 1.0
    assert b.feature_range == (0.0, 1.0) and b.classes == (0, 8)
    three = load_digits_pair(classes=(1, 7, 9))
    assert set(three.target.tolist()) == {1, 7, 9}
    assert len(load_digits_pair(classes=None).target) == 1797


def test_digits_default_sizes_fit_with_balance():
    b = load_dataset("digits")
    sizes = default_sizes("digits")
    s = make_poisoning_splits(b.data, b.target, **sizes, random_state=0)
    assert len(s.y_train) == sizes["n_train"] and len(s.y_test) == sizes["n_test"]
    assert np.bincount(s.y_val)[[0, 8]].tolist() == [20, 20]


# -------------------------------------------------------------- synthetic ---
def test_make_synthetic_2d():
    X, y = make_synthetic_2d(101, random_state=0)
    assert X.shape == (101, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 51]
    np.testing.assert_allclose(X[y == 0].mean(0), [-1, -1], atol=0.4)
    np.testing.assert_allclose(X[y == 1].mean(0), [1, 1], atol=0.4)
    X2, y2 = make_synthetic_2d(101, random_state=0)
    np.testing.assert_array_equal(X, X2)
    Xs, ys = make_synthetic_2d(6, shuffle=False, cov=[[0.5, 0.1], [0.1, 0.5]],
                               mean0=(0, 0), mean1=(3, 3), random_state=1)
    assert ys.tolist() == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_samples=1), "n_samples"), (dict(n_samples=2.0), "n_samples"),
    (dict(cov=0.0), "cov"), (dict(cov=[[1, 2], [0, 1]]), "cov"),
    (dict(cov=[[1, 0], [0, -1]]), "cov"), (dict(mean0=(0, 0, 0)), "mean0"),
    # Non-finite parameters used to pass and draw NaN / inf points silently.
    (dict(mean0=(np.nan, 0)), "mean0"), (dict(mean1=(np.inf, 0)), "mean0 and mean1"),
    (dict(cov=[[np.inf, 0], [0, 1]]), "cov"), (dict(cov=np.inf), "cov"),
    # Strings and bools were read as numbers.
    (dict(mean0=("0", "0")), "mean0 must hold numbers"),
    (dict(mean1=(True, 1.0)), "mean1 must hold numbers"), (dict(cov="1"), "cov must hold"),
])
def test_make_synthetic_2d_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic_2d(**{"n_samples": 10, **kwargs})


def test_make_synthetic_2d_takes_singular_covariances():
    # Points on a line: cov = v v^T, semi-definite; eigvalsh gave -1e-17 for some v
    # (rounding), and the covariance was refused as not positive semi-definite.
    for v in np.random.RandomState(0).randn(50, 2):
        X, _ = make_synthetic_2d(6, mean0=(0, 0), mean1=(0, 0), cov=np.outer(v, v),
                                 random_state=0)
        np.testing.assert_allclose(X[:, 0] * v[1], X[:, 1] * v[0], atol=1e-6)


def test_load_dataset_synthetic():
    b = load_dataset("synthetic")
    assert b.data.shape == (2000, 2) and b.classes == (0, 1)
    lo, hi = b.feature_range
    assert lo <= b.data.min() and b.data.max() <= hi
    np.testing.assert_array_equal(b.data, load_dataset("Synthetic").data)  # fixed pool
    s = make_poisoning_splits(b.data, b.target, **default_sizes("synthetic"), random_state=0)
    assert len(s.y_val) == 64
    with pytest.raises(ValueError, match=r"valid class ids are \(0, 1\)"):
        load_dataset("synthetic", classes=(0, 2))


# ------------------------------------------------------ dispatch, defaults ---
def test_default_sizes():
    assert default_sizes("mnist") == dict(n_train=1000, n_val=100, n_test=1000)
    assert default_sizes("fashion-mnist") == default_sizes("mnist")
    assert default_sizes("FMNIST") == default_sizes("mnist")
    assert default_sizes("cifar10") == dict(n_train=1000, n_val=200, n_test=1000)
    d = default_sizes("digits")
    d["n_train"] = 0  # a fresh copy each time
    assert default_sizes("digits")["n_train"] == 200
    assert set(DATASET_NAMES) == {"digits", "mnist", "fashion-mnist", "cifar10", "synthetic"}


def test_unknown_names_and_classes():
    with pytest.raises(ValueError, match="valid names are.*digits.*mnist.*cifar10"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="valid names"):
        default_sizes("svhn")
    with pytest.raises(ValueError, match="Unknown class id 12"):
        load_dataset("digits", classes=(0, 12))


def test_load_dataset_dispatch_offline(tmp_path):
    for name, folder in (("mnist", "mnist"), ("fashion_mnist", "fashion-mnist")):
        with pytest.raises(FileNotFoundError, match=str(tmp_path / folder)):
            load_dataset(name, data_home=tmp_path, download=False)
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        load_dataset("cifar-10", data_home=tmp_path, download=False)


def test_classes_as_array_keep_order_and_bad_container():
    b = load_digits_pair(classes=np.array([8, 0]))
    assert b.classes == (8, 0) and b.target_names == ["8", "0"]
    with pytest.raises(ValueError, match="sequence of at least two"):
        load_digits_pair(classes=np.array(3))


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_load_dataset_passes_download_false_to_the_fetcher(name, tmp_path, monkeypatch):
    # download=False reaches the fetcher: a missing file is an error, not a download.
    from skpoison.datasets import _home

    urls = []
    monkeypatch.setattr(_home, "_urlretrieve", lambda url, dest: urls.append(url))
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_dataset(name, data_home=tmp_path, download=False)
    assert urls == []


def test_a_file_where_the_data_folder_goes_is_named(tmp_path):
    # (it was reported as a failed download: "File exists")
    from skpoison.datasets import fetch_mnist
    (tmp_path / "mnist").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="mnist is a file, not a folder"):
        fetch_mnist(data_home=tmp_path, download=True)
