import numpy as np
import pytest

from skpoison.estimators._spectral import squared_spectral_norm


def _dense(X):
    X1 = np.hstack([np.asarray(X, dtype=np.float64), np.ones((len(X), 1))])
    return np.linalg.norm(X1, 2) ** 2


@pytest.mark.parametrize("shape", [(30, 5), (64, 63), (300, 120), (90, 400)],
                         ids=["small", "dense-threshold", "tall", "wide"])
def test_matches_the_dense_svd(shape):
    X = np.random.RandomState(1).rand(*shape)
    np.testing.assert_allclose(squared_spectral_norm(X), _dense(X), rtol=1e-12)


def test_centred_data_with_close_top_singular_values():
    # No dominant mean direction: the top two singular values of [X, 1] are
    # close, which slows Lanczos down but must not change its answer.
    rng = np.random.RandomState(2)
    X = rng.standard_normal((500, 200))
    X -= X.mean(axis=0)
    np.testing.assert_allclose(squared_spectral_norm(X), _dense(X), rtol=1e-12)


def test_float32_input_is_read_in_float64_and_left_alone():
    X = np.random.RandomState(3).rand(200, 100).astype(np.float32)
    before = X.copy()
    np.testing.assert_allclose(squared_spectral_norm(X), _dense(X), rtol=1e-12)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_input_is_refused(value):
    X = np.random.RandomState(4).rand(100, 80)
    X[3, 5] = value
    with pytest.raises(ValueError, match="NaN or inf"):
        squared_spectral_norm(X)
