"""Your own data set, an .npz file of X and y, as the experiments' pool."""

import numpy as np
import pytest

from skpoison.datasets import default_sizes, load_dataset, make_poisoning_splits


@pytest.fixture
def own_file(tmp_path):
    rng = np.random.RandomState(0)
    y = np.repeat([2, 5, 7], [40, 70, 50])
    X = rng.rand(len(y), 6) + 0.1 * y[:, None]
    path = tmp_path / "mine.npz"
    np.savez(path, X=X, y=y)
    return path, X, y


def test_a_file_of_your_own_is_a_pool(own_file):
    path, X, y = own_file
    pool = load_dataset(str(path))
    np.testing.assert_array_equal(pool.data, X)
    np.testing.assert_array_equal(pool.target, y)
    assert pool.classes == (2, 5, 7) and pool.caveat is None
    assert pool.feature_range == (X.min(), X.max()) and pool.name == str(path.resolve())
    pair = load_dataset(path, classes=(5, 7))
    assert set(pair.target) == {5, 7} and len(pair.target) == 120
    split = make_poisoning_splits(pair.data, pair.target, **default_sizes(path, (5, 7)),
                                  random_state=0)
    assert len(split.y_train) == 50 and len(split.y_val) == 10 and len(split.y_test) == 30


def test_a_file_under_the_home_folder_may_be_named_with_a_tilde(own_file, monkeypatch):
    # (as a data home may; --dataset=~/mine.npz reaches Python unexpanded: it was
    # looked for in a folder named ~ of the working folder)
    path, X, _ = own_file
    monkeypatch.setenv("HOME", str(path.parent))
    pool = load_dataset("~/mine.npz")
    assert pool.name == str(path.resolve())
    np.testing.assert_array_equal(pool.data, X)
    assert default_sizes("~/mine.npz") == default_sizes(path)


def test_a_file_may_set_the_poisoning_box(tmp_path):
    path = tmp_path / "boxed.npz"
    X = np.random.RandomState(0).rand(40, 2)
    X[0, 0] = 1.0000000000000002            # (MinMaxScaler's 1 may be one ulp above)
    np.savez(path, X=X, y=np.repeat([0, 1], 20), feature_range=[0.0, 1.0])
    pool = load_dataset(path)
    assert pool.feature_range == (0.0, 1.0) and pool.data.max() == 1.0     # clipped in
    np.savez(path, X=X, y=np.repeat([0, 1], 20), feature_range=[[0.0, -1.0], [1.5, 1.0]])
    low, high = load_dataset(path).feature_range               # one range per feature
    np.testing.assert_array_equal(low, [0.0, -1.0])
    np.testing.assert_array_equal(high, [1.5, 1.0])
    np.savez(path, X=X + 1, y=np.repeat([0, 1], 20), feature_range=[0.0, 1.0])
    with pytest.raises(ValueError, match="X lies outside its feature_range"):
        load_dataset(path)
    np.savez(path, X=X, y=np.repeat([0, 1], 20), feature_range=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="an array of shape \\(2, 2\\), row 0 the lows"):
        load_dataset(path)
    np.savez(path, X=X, y=np.repeat([0, 1], 20), feature_range=[0.0, np.inf])
    with pytest.raises(ValueError, match=r"got NaN or infinite values \(1 of 2\)"):
        load_dataset(path)                   # (the message said "got shape (2,)")
    X[:, 1] = 0.0                        # a constant feature, pinned by its box
    np.savez(path, X=X, y=np.repeat([0, 1], 20), feature_range=[[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(load_dataset(path).feature_range[1], [1.0, 0.0])
    np.savez(path, X=X, y=np.repeat([0, 1], 20), feature_range=[[0.0, 0.5], [1.0, 0.0]])
    with pytest.raises(ValueError, match="low <= high for every feature .* features \\[1\\]"):
        load_dataset(path)


def test_float32_data_one_ulp_above_its_box_is_read(tmp_path):
    # MinMaxScaler's float32 output exceeds 1 by one float32 ulp now and then; the
    # slack was a float64 one (the data, read as float64), so the file was refused.
    path = tmp_path / "boxed32.npz"
    X = np.random.RandomState(0).rand(40, 2).astype(np.float32)
    X[0, 0] = np.nextafter(np.float32(1), np.float32(2))
    X[1, 1] = -np.float32(1e-8)
    np.savez(path, X=X, y=np.repeat([0, 1], 20), feature_range=[0.0, 1.0])
    pool = load_dataset(path)
    assert pool.data.min() == 0.0 and pool.data.max() == 1.0     # clipped in
    np.savez(path, X=X + np.float32(0.01), y=np.repeat([0, 1], 20),
             feature_range=[0.0, 1.0])
    with pytest.raises(ValueError, match="X lies outside its feature_range"):
        load_dataset(path)


def test_labels_that_are_whole_numbers_are_read_as_integers(tmp_path):
    path = tmp_path / "labels.npz"
    X = np.random.RandomState(0).rand(4, 2)
    for y in ([0.0, 1.0, 0.0, 1.0], [[0], [1], [0], [1]], [False, True, False, True]):
        np.savez(path, X=X, y=y)
        np.testing.assert_array_equal(load_dataset(path).target, [0, 1, 0, 1])


def test_class_names_are_read_as_codes_in_sorted_order(tmp_path):
    # (strings were refused, though the estimators take them)
    path = tmp_path / "named.npz"
    X = np.random.RandomState(0).rand(40, 2)
    y = np.repeat(["malignant", "benign"], 20)
    np.savez(path, X=X, y=y)
    pool = load_dataset(path)
    np.testing.assert_array_equal(pool.target, np.repeat([1, 0], 20))
    assert pool.classes == (0, 1) and pool.target_names == ["benign", "malignant"]
    assert "classes 0 (benign), 1 (malignant)" in pool.description
    assert load_dataset(path, classes=(1, 0)).target_names == ["malignant", "benign"]
    np.savez(path, X=X, y=y.astype("S"))                      # bytes: the same names
    assert load_dataset(path).target_names == ["benign", "malignant"]
    np.savez(path, X=X, y=np.repeat(["10", "2"], 20))          # numbers as text: numbers
    assert load_dataset(path).classes == (2, 10)


@pytest.mark.parametrize("texts", [["1", "01", "2"], [" 1", "1", "2"],
                                   ["99999999999999999999", "1", "2"]])
def test_texts_that_read_as_one_number_stay_names(tmp_path, texts):
    # "1" and "01" were both read as 1: three classes became two (a review).
    path = tmp_path / "named.npz"
    np.savez(path, X=np.random.RandomState(0).rand(30, 2), y=np.repeat(texts, 10))
    pool = load_dataset(path)
    assert pool.classes == (0, 1, 2) and sorted(pool.target_names) == sorted(texts)
    np.testing.assert_array_equal(np.bincount(pool.target), [10, 10, 10])


@pytest.mark.parametrize("y", [np.array([0.0, 1.0, 1e19, 1.0]),
                               np.array([0, 1, 2 ** 63 + 5, 1], dtype=np.uint64)])
def test_labels_beyond_int64_are_refused(tmp_path, y):
    # (they wrapped to -2**63, or silently to a negative label)
    path = tmp_path / "huge.npz"
    np.savez(path, X=np.random.RandomState(0).rand(4, 2), y=y)
    with pytest.raises(ValueError, match="within int64's range; got labels from 0"):
        load_dataset(path)


def test_the_largest_int64_label_is_in_range(tmp_path):
    # (compared as floats, 2**63 - 1 rounded to 2**63 and was refused)
    path = tmp_path / "large.npz"
    y = np.array([0, 2 ** 63 - 1] * 10, dtype=np.uint64)
    np.savez(path, X=np.random.RandomState(0).rand(20, 2), y=y)
    assert load_dataset(path).classes == (0, 2 ** 63 - 1)


@pytest.mark.parametrize("arrays, match", [
    (dict(X=np.ones((4, 2))), "holds arrays \\['X'\\], not y"),
    (dict(X=np.array([[0.0, np.nan], [1.0, 0.0]]), y=[0, 1]), "NaN or infinite"),
    (dict(X=np.eye(2), y=[0.5, 1.0]), r"y must hold one integer class label \(or class name"),
    (dict(X=np.eye(2), y=[0, 1, 1]), r"y must hold one integer class label \(or class name"),
    (dict(X=np.ones(4), y=[0, 1, 0, 1]), "X must be a non-empty 2-D array"),
    (dict(X=np.ones((4, 2)), y=[0, 1, 0, 1]), "every value of X is 1"),
    (dict(X=np.eye(4), y=[3, 3, 3, 3]), "y holds one class \\(\\[3\\]\\)"),
])
def test_a_file_that_is_no_pool_is_refused_clearly(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=match):
        load_dataset(path)


def test_a_missing_or_foreign_file_is_refused_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="No data file .*nothere.npz"):
        load_dataset(tmp_path / "nothere.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="is not an .npz archive of arrays X and y"):
        load_dataset(tmp_path / "text.npz")


def test_a_sweep_runs_on_a_file_of_your_own(own_file, tmp_path):
    import hashlib
    import shutil

    from skpoison.experiments import evaluate, make_config
    path, X, y = own_file
    config = make_config(str(path), size="quick", classes=(5, 7))
    assert (config.n_train, config.n_val, config.n_test) == (50, 10, 30)
    assert config.top_k == (1, 3) and config.hidden_layer_sizes == (16, 8)   # 6 features
    common = dict(size="tiny", classes=(5, 7), strategies=("no_reg",), out=tmp_path / "out",
                  n_jobs=1, verbose=False, plot=False)
    result = evaluate(str(path), **common)
    tag = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:6]
    assert result.csv.name == f"mine-{tag}-5v7_lr_l2_tiny_evaluate.csv"
    assert len(result.rows) == 2 * 3 and {r["dataset"] for r in result.rows} == {"mine"}
    assert result.table.startswith("mine (5, 7) LR L2")
    # Moved, the same content keeps its cells; another box makes new ones.
    cells = sorted(p.name for p in (tmp_path / "out" / "cells").glob("*.json"))
    (tmp_path / "moved").mkdir()
    shutil.copy(path, tmp_path / "moved" / "mine.npz")
    moved = evaluate(str(tmp_path / "moved" / "mine.npz"), **common)
    assert moved.csv != result.csv                   # (its own tables: another folder)
    assert sorted(p.name for p in (tmp_path / "out" / "cells").glob("*.json")) == cells
    np.savez(path, X=X, y=y, feature_range=[X.min() - 1, X.max() + 1])
    with pytest.warns(UserWarning, match="other settings \\(data.fingerprint"):
        evaluate(str(path), **common)
    assert len(list((tmp_path / "out" / "cells").glob("*.json"))) == 2 * len(cells)


def test_a_file_with_too_few_samples_of_a_class_is_refused(tmp_path):
    from skpoison.experiments import make_config
    path = tmp_path / "rare.npz"
    np.savez(path, X=np.random.RandomState(0).rand(60, 3), y=np.repeat([0, 1], [55, 5]))
    with pytest.raises(ValueError, match="class 1 has 5 samples; .* need 10 per class"):
        make_config(str(path), size="quick")


@pytest.mark.parametrize("scale", [[1.0, 1.0, 1.0, 1e4], [1e-3] * 4], ids=["mixed", "small"])
def test_a_file_whose_features_need_scaling_is_refused_once(tmp_path, scale):
    # Every fit of the sweep warned (twenty times for --tiny, each with other
    # numbers), and every strategy came out at chance.
    from skpoison.experiments import make_config

    path = tmp_path / "raw.npz"
    X = np.random.RandomState(0).rand(60, 4) * scale
    np.savez(path, X=X, y=np.repeat([0, 1], 30))
    with pytest.raises(ValueError, match=r"raw.npz: The features.* scale X before saving"):
        make_config(str(path), size="tiny")


def test_kuncheva_figures_refuse_data_of_one_feature(tmp_path):
    # (the cells ran, then the plot failed: "Number of columns must be a positive integer")
    from skpoison.experiments import reproduce
    path = tmp_path / "one.npz"
    np.savez(path, X=np.random.RandomState(0).rand(100, 1), y=np.repeat([0, 1], 50))
    with pytest.raises(ValueError, match="fig5 shows the consistency of the top-k features"):
        reproduce("fig5", dataset=str(path), size="tiny", out=tmp_path / "out", n_jobs=1,
                  verbose=False)
    assert not (tmp_path / "out" / "cells").exists() or \
        not list((tmp_path / "out" / "cells").iterdir())


def test_the_settings_record_a_files_box(own_file, tmp_path):
    import json

    from skpoison.experiments import evaluate
    path, X, _ = own_file
    result = evaluate(str(path), size="tiny", classes=(5, 7), strategies=("no_reg",),
                      out=tmp_path, n_jobs=1, verbose=False, plot=False)
    data = json.loads(result.settings.read_text())["data"]
    assert data["feature_range"] == [X[40:].min(), X[40:].max()]    # (classes 5 and 7)
    assert data["path"] == str(path.resolve())


def test_sensitivity_sizes_keep_two_trusted_points_per_class(tmp_path):
    # (a 10-class file drew trusted sets of 5 points at --tiny: 5 classes had none)
    from skpoison.experiments import make_config
    from skpoison.experiments._figures import _val_sizes
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    path = tmp_path / "digits10.npz"
    np.savez(path, X=X / 16, y=y)
    config = make_config(str(path), size="tiny")
    with pytest.warns(UserWarning, match="moved within \\[20, "):
        sizes = _val_sizes(config, (0.05, 0.1, 0.25), None)
    assert min(sizes) >= 2 * 10
