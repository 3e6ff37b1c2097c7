import warnings

import numpy as np
import pytest

from skpoison.metrics import relative_error_decrease, weight_norm_per_parameter


def test_relative_error_decrease_scalar_and_array():
    out = relative_error_decrease(0.2, 0.1)
    assert isinstance(out, float) and out == pytest.approx(0.5)
    assert relative_error_decrease(0.1, 0.3) == pytest.approx(-2.0)
    arr = relative_error_decrease([0.1, 0.4, 0.2], 0.1)
    np.testing.assert_allclose(arr, [0.0, 0.75, 0.5])
    assert isinstance(arr, np.ndarray)


def test_relative_error_decrease_zero_reference():
    with pytest.warns(RuntimeWarning, match="undefined"):
        out = relative_error_decrease([0.0, 0.5], [0.1, 0.25])
    assert np.isnan(out[0]) and out[1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="undefined"):
        relative_error_decrease(0.0, 0.0, zero_division="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert relative_error_decrease(0.0, 0.0, zero_division=0.0) == 0.0
        assert np.isnan(relative_error_decrease(0.0, 0.1, zero_division=np.nan))
        relative_error_decrease(0.3, 0.1)  # no warning when well defined


@pytest.mark.parametrize("args, kwargs, match", [
    ((-0.1, 0.1), {}, "error_reference must be finite and non-negative"),
    ((0.1, np.inf), {}, "error_method"),
    ((0.1, 0.1), {"zero_division": "ignore"}, "zero_division"),
    ((0.1, 0.1), {"zero_division": True}, "zero_division"),
    # NumPy reads "0.2" as 0.2 and True as 1.0: a typo must not pass as a rate.
    (("0.2", 0.1), {}, r"error_reference must hold numbers \(error rates\), got '0.2'"),
    ((0.2, True), {}, "error_method must hold numbers"),
])
def test_relative_error_decrease_validation(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        relative_error_decrease(*args, **kwargs)


def test_relative_error_decrease_shape_mismatch():
    # (NumPy's own message named neither argument)
    with pytest.raises(ValueError, match=r"error_reference \(shape \(2,\)\) and "
                                         r"error_method \(shape \(3,\)\) must broadcast"):
        relative_error_decrease([0.1, 0.2], [0.1, 0.2, 0.3])


def test_weight_norm_per_parameter():
    assert weight_norm_per_parameter(np.array([[1.0, 2.0], [2.0, 0.0]])) == pytest.approx(9 / 4)
    layers = [np.ones((3, 4)), 2 * np.ones((4, 2)), np.zeros(1)]
    assert weight_norm_per_parameter(layers) == pytest.approx((12 + 32) / 21)
    assert weight_norm_per_parameter((1.0, 3.0)) == pytest.approx(5.0)
    assert isinstance(weight_norm_per_parameter(np.ones(3)), float)


def test_weight_norm_per_parameter_validation():
    with pytest.raises(ValueError, match="no weights"):
        weight_norm_per_parameter([])
    with pytest.raises(ValueError, match="NaN"):
        weight_norm_per_parameter([np.ones(2), np.array([np.nan])])
    # (None read as NaN: "contains NaN or infinite values"; strings: NumPy's error)
    with pytest.raises(ValueError, match="coef must hold numbers .weights., got None"):
        weight_norm_per_parameter(None)
    with pytest.raises(ValueError, match="coef must hold numbers .weights., got 'a'"):
        weight_norm_per_parameter([np.ones(2), "a"])


def test_weight_norm_of_a_sparsified_coef():
    # sparsify() makes coef_ a sparse matrix; it was refused ("must hold numbers").
    import scipy.sparse as sp
    coef = np.array([[0.0, 2.0, 0.0, -2.0]])
    assert weight_norm_per_parameter(sp.csr_matrix(coef)) == pytest.approx(2.0)
    assert weight_norm_per_parameter([sp.csr_matrix(coef), np.zeros(4)]) == pytest.approx(1.0)


def test_weight_norm_of_a_tuple_of_layers():
    # R2: a tuple of differently shaped arrays is a sequence of layers, as a list is.
    from skpoison.metrics import weight_norm_per_parameter
    assert weight_norm_per_parameter((np.ones((2, 3)), np.zeros(2))) == pytest.approx(0.75)


def test_the_zero_reference_warning_points_at_the_callers_line():
    with pytest.warns(RuntimeWarning, match="undefined") as record:
        relative_error_decrease(0.0, 0.1)
    assert record[0].filename == __file__


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_weight_norm_refuses_every_non_finite_weight(bad):
    with pytest.raises(ValueError, match="NaN or infinite"):
        weight_norm_per_parameter([np.ones(2), np.array([bad])])


def test_weight_norm_per_parameter_does_not_overflow_on_the_way():
    # A square beyond 1e154 was inf, although the mean of the squares is finite.
    big = np.r_[1e155, np.zeros(10**6 - 1)]
    assert weight_norm_per_parameter(big) == pytest.approx(1e304, rel=1e-12)
    assert weight_norm_per_parameter([np.full(2, 1e200)]) == np.inf   # (the value overflows)
    assert weight_norm_per_parameter(np.zeros(3)) == 0.0


def test_metrics_read_parameters_that_track_gradients():
    # (NumPy's conversion of such a tensor raised torch's RuntimeError)
    import torch

    from skpoison.metrics import top_k_features

    weights = torch.tensor([[0.5, -2.0, 1.0]], requires_grad=True)
    assert top_k_features(weights, 2).tolist() == [1, 2]
    assert weight_norm_per_parameter([weights, weights[0, :1]]) == pytest.approx(
        (0.25 + 4 + 1 + 0.25) / 4)
