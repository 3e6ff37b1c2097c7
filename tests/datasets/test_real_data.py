"""Checks on the real offline copies (../shared/data); skipped when absent."""

import numpy as np
import pytest

from skpoison.datasets import (default_sizes, fetch_cifar10, fetch_mnist,
                               load_dataset, make_poisoning_splits)


def test_mnist_0_vs_8_pool(shared_data):
    b = fetch_mnist(data_home=shared_data, download=False)
    assert b.data.shape == (5923 + 980 + 5851 + 974, 784)
    assert (b.target == 0).sum() == 5923 + 980 and (b.target == 8).sum() == 5851 + 974
    assert b.data.min() == 0.0 and b.data.max() == 1.0
    s = make_poisoning_splits(b.data, b.target, **default_sizes("mnist"), random_state=0)
    assert np.bincount(s.y_train)[[0, 8]].tolist() == [500, 500]
    assert np.bincount(s.y_val)[[0, 8]].tolist() == [50, 50]


def test_fashion_mnist_1_vs_2_pool(shared_data, monkeypatch):
    monkeypatch.setenv("SKPOISON_DATA", str(shared_data))
    b = load_dataset("fashion-mnist", download=False)
    assert b.data.shape == (14000, 784) and b.classes == (1, 2)
    assert np.bincount(b.target)[[1, 2]].tolist() == [7000, 7000]
    assert b.target_names == ["Trouser", "Pullover"]


def test_cifar10_lossy_copy(shared_data):
    if not (shared_data / "cifar10-airplane-frog").is_dir():
        pytest.skip("the CIFAR-10 airplane/frog copy is absent")
    with pytest.warns(UserWarning, match="JPEG"):
        b = fetch_cifar10(data_home=shared_data, download=False)
    assert b.data.shape == (12000, 3072)
    assert np.bincount(b.target)[[0, 6]].tolist() == [6000, 6000]
    assert b.data.min() >= -1.0 and b.data.max() <= 1.0 and b.feature_range == (-1.0, 1.0)
    s = make_poisoning_splits(b.data, b.target, **default_sizes("cifar10"), random_state=0)
    assert len(s.X_val) == 200


def test_mnist_other_pair(shared_data):
    b = fetch_mnist(classes=(1, 7), data_home=shared_data, download=False)
    assert len(b.target) == 6742 + 1135 + 6265 + 1028
