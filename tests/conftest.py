"""Suite-wide settings, and the digits pool that several packages' tests share.

The problems in the unit tests are tiny: one intra-op thread avoids the
oversubscription that makes small torch ops slow when pytest shares 2 cores.
"""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits08_pool():
    """The bundled digits 0 and 8 (352 samples), pixels in [0, 1]: ``(X, y)``."""
    from sklearn.datasets import load_digits

    X, y = load_digits(n_class=9, return_X_y=True)
    keep = (y == 0) | (y == 8)
    return X[keep] / 16.0, y[keep]
