"""The pool cache of the experiments (``_pools.load_pool``)."""

import numpy as np
import pytest

from skpoison.datasets import load_dataset, make_poisoning_splits
from skpoison.experiments import _pools


@pytest.fixture(autouse=True)
def _empty_cache(monkeypatch):
    monkeypatch.setattr(_pools, "_POOLS", {})


def test_a_caller_cannot_change_what_the_later_cells_read():
    # Every call shared one Bunch of writable arrays: a cell that changed its pool
    # (X -= mean, say) changed every later cell's of that process.
    clean = load_dataset("digits")
    first = _pools.load_pool("digits")
    with pytest.raises(ValueError, match="read-only"):
        first.data[0, 0] = 99.0
    with pytest.raises(ValueError, match="read-only"):
        first.target[:] = 0
    first.data, first.target_names[0] = None, "changed"
    second = _pools.load_pool("digits")
    np.testing.assert_array_equal(second.data, clean.data)
    np.testing.assert_array_equal(second.target, clean.target)
    assert second.target_names == clean.target_names


def test_a_file_of_your_own_keeps_its_box_read_only_too(tmp_path):
    path = tmp_path / "mine.npz"
    rng = np.random.RandomState(0)
    np.savez(path, X=rng.rand(40, 3), y=np.repeat([0, 1], 20),
             feature_range=np.array([[0.0] * 3, [1.0] * 3]))
    low, high = _pools.load_pool(str(path)).feature_range
    for bound in (low, high):
        with pytest.raises(ValueError, match="read-only"):
            bound[0] = 5.0
    np.testing.assert_array_equal(_pools.load_pool(str(path)).feature_range[1], 1.0)


def test_the_sets_drawn_from_a_cached_pool_are_writable_copies():
    pool = _pools.load_pool("digits")
    split = make_poisoning_splits(pool.data, pool.target, n_train=20, n_val=4, n_test=10,
                                  random_state=0)
    split.X_train[:] = 0.0          # (the attacks' own copies: theirs to change)
    assert pool.data.any()


def test_classes_are_read_once_and_bad_ones_named_by_the_loader():
    # The cache's key consumed an iterator of classes, and the loader got none
    # ("got ()"); a lone class id or a list of lists was a TypeError of the key.
    assert _pools.load_pool("digits", classes=iter([0, 8])).classes == (0, 8)
    assert _pools.load_pool("digits", classes=(c for c in (3, 5))).classes == (3, 5)
    with pytest.raises(ValueError, match="classes must be a sequence of at least two"):
        _pools.load_pool("digits", classes=5)
    with pytest.raises(ValueError, match=r"Class ids must be integers, got \[0\]"):
        _pools.load_pool("digits", classes=[[0], [8]])


def test_the_cache_refuses_the_class_ids_the_loader_refuses():
    # (0.0 == 0 and True == 1: a pool loaded for (0, 8) was handed out for (0.0, 8.0),
    # which the loader refuses, so that the outcome hung on what was loaded before)
    assert _pools.load_pool("digits", classes=(0, 1)).classes == (0, 1)
    for classes in ((0.0, 1.0), (False, True)):
        with pytest.raises(ValueError, match="Class ids must be integers"):
            _pools.load_pool("digits", classes=classes)
    assert _pools.load_pool("digits", classes=(np.int64(0), 1)).classes == (0, 1)


@pytest.mark.parametrize("classes", [iter([0, 2]), [0.0, 2.0], (2, 0)],
                         ids=["iterator", "whole floats", "reversed"])
def test_make_config_reads_a_files_classes_once_and_as_integers(tmp_path, classes):
    # (make_config gave the file's loader the classes as given: an iterator was read
    # twice (classes=() in the config, a failing sweep later), and 0.0, 2.0, which
    # make_config takes as 0, 2 for a registered data set, were "not integers")
    from skpoison.experiments import make_config

    path = tmp_path / "mine.npz"
    rng = np.random.RandomState(0)
    np.savez(path, X=rng.rand(90, 3), y=np.repeat([0, 1, 2], 30))
    config = make_config(str(path), size="tiny", classes=classes)
    assert config.classes == (0, 2)
    assert config == make_config(str(path), size="tiny", classes=[0, 2])
