"""One check of an estimator's settings (estimators/_settings.py: check_settings) for
fit and hypergradient(): the same setting at fault, the same error."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skpoison import HypergradRegularizedLR, hypergradient
from skpoison.estimators._settings import check_settings


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(n_class=2, return_X_y=True)
    X = X / 16
    return X[:60], y[:60], X[60:90], y[60:90]


def _message(call):
    with pytest.raises(ValueError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("params", [
    dict(lambda_bounds=(0.0, -1.0)),
    dict(lambda_bounds=("-12", "0")),
    dict(inner_steps=0),
    dict(checkpoint_every=5, hypergrad="fmd"),
    dict(checkpoint_every=(3, 8), inner_steps=20),
    # (the first setting at fault is named: lambda_bounds before checkpoint_every)
    dict(lambda_bounds=(1.0, 0.0), checkpoint_every=5, hypergrad="cg"),
])
def test_fit_and_hypergradient_refuse_a_setting_alike(params, data):
    estimator = HypergradRegularizedLR(**(dict(inner_steps=5, outer_steps=1) | params))
    X, y, X_val, y_val = data
    by_fit = _message(lambda: estimator.fit(X, y, X_val=X_val, y_val=y_val))
    by_call = _message(lambda: hypergradient(estimator, X, y, X_val, y_val))
    assert by_fit == by_call == _message(lambda: check_settings(estimator))


def test_another_method_ignores_the_checkpointing_and_is_named():
    estimator = HypergradRegularizedLR(checkpoint_every=5, hypergrad="rmd", inner_steps=2)
    assert check_settings(estimator, "fmd") == (-12.0, 0.0)
    with pytest.raises(ValueError, match=r"method='newton' is not supported"):
        check_settings(estimator, "newton")
    estimator.set_params(checkpoint_every=(3, 8))
    assert check_settings(estimator, "fmd") == (-12.0, 0.0)
    with pytest.raises(ValueError, match="must decrease"):
        check_settings(estimator, "rmd")


def test_the_bounds_come_back_as_floats():
    low, high = check_settings(HypergradRegularizedLR(lambda_bounds=[-np.inf, 3]))
    assert (low, high) == (-np.inf, 3.0) and isinstance(high, float)
