"""Numbers where numbers are due (skpoison._constraints, skpoison._messages)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skpoison import HypergradRegularizedLR, LabelFlipPoisoner
from skpoison._constraints import is_real_array
from skpoison._messages import shown

HUGE = 10**400   # an int no float holds


def test_an_int_past_floats_range_is_no_real_array_nor_fails_a_message():
    # (both raised OverflowError: "int too large to convert to float")
    assert not is_real_array(HUGE) and not is_real_array([1.0, -HUGE])
    assert shown(HUGE) == repr(HUGE)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(n_class=2, return_X_y=True)
    return X[:60] / 16, y[:60], X[60:90] / 16, y[60:90]


def test_a_huge_lambda_init_is_refused_by_name(digits):
    X, y, X_val, y_val = digits
    model = HypergradRegularizedLR(inner_steps=2, outer_steps=1, lambda_init=HUGE)
    with pytest.raises(ValueError, match=r"^lambda_init=1000\d* must be a float"):
        model.fit(X, y, X_val=X_val, y_val=y_val)


def test_a_huge_ratio_is_refused_by_name(digits):
    X, y, X_val, y_val = digits
    with pytest.raises(ValueError, match=r"^ratios must be numbers in \[0, 1\)"):
        LabelFlipPoisoner(ratios=[np.float64(0.1), HUGE]).fit_resample(
            X, y, X_val=X_val, y_val=y_val)
