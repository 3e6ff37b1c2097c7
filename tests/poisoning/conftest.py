import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def digits(classes, n_train, n_val, seed=0):
    """Digits of ``classes`` in [0, 1]: stratified train / validation / test splits."""
    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, classes)
    X, y = X[keep] / 16.0, y[keep]
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, train_size=n_train, stratify=y, random_state=seed)
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, train_size=n_val, stratify=y_rest, random_state=seed)
    return X_train, y_train, X_val, y_val, X_test, y_test


@pytest.fixture(scope="session")
def binary_small():
    """Digits 0 vs 8: 60 training, 30 validation points."""
    return digits([0, 8], 60, 30)


@pytest.fixture(scope="session")
def binary_large():
    """Digits 0 vs 8: 200 training, 60 validation and 92 test points."""
    return digits([0, 8], 200, 60)


@pytest.fixture(scope="session")
def three_classes():
    """Digits 0, 1 and 8: 90 training, 45 validation points."""
    return digits([0, 1, 8], 90, 45)


@pytest.fixture
def save_every_batch():
    """Resume files saved after every batch (not at most once a second).

    Its own patch: a test's ``monkeypatch.undo()`` leaves it in place.
    """
    from skpoison.poisoning._resume import ResumeFile

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(ResumeFile.due.__globals__, "SAVE_INTERVAL", 0.0)
        yield
