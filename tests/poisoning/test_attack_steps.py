"""The attack loop's pieces: ascent directions and the batches of a schedule."""

import math
import warnings

import numpy as np
import pytest
import torch

from skpoison import HypergradRegularizedLR, OptimalPoisoner
from skpoison.poisoning._attack import ascent_direction
from skpoison.poisoning._schedule import split_batches

DT = torch.float64


def test_batch_normalization_is_over_the_whole_batch_point_over_each_point():
    grad = torch.tensor([[3.0, 4.0], [0.0, 1.0]], dtype=DT)
    torch.testing.assert_close(ascent_direction(grad, "batch"), grad / math.sqrt(26.0))
    torch.testing.assert_close(
        torch.linalg.vector_norm(ascent_direction(grad, "point"), dim=-1),
        torch.ones(2, dtype=DT))
    stacked = torch.stack([grad, 2 * grad])     # K attacks: one batch norm each
    torch.testing.assert_close(ascent_direction(stacked, "batch"),
                               torch.stack([grad, grad]) / math.sqrt(26.0))


@pytest.mark.parametrize(("dtype", "scale"), [
    (torch.float32, 1e-44), (torch.float32, 1e-25), (torch.float32, 1e25),
    (torch.float32, 1e37), (torch.float64, 1e-300), (torch.float64, 1e-160),
    (torch.float64, 1e300)])
@pytest.mark.parametrize("normalize", ["point", "batch"])
def test_the_direction_is_a_unit_one_for_gradients_whose_squares_under_or_overflow(
        dtype, scale, normalize):
    # float32: 1e-25 gave a "unit" step of norm 4e13 (squares underflowed), 1e25
    # a zero step (they overflowed).
    grad = torch.tensor([[3.0, 4.0], [3.0, 4.0]], dtype=dtype) * scale
    expected = torch.tensor([[0.6, 0.8], [0.6, 0.8]], dtype=dtype)
    if normalize == "batch":
        expected = expected / math.sqrt(2.0)
    torch.testing.assert_close(ascent_direction(grad, normalize), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1e-11, 1e-3, 1.0, 1e11])
def test_the_direction_of_a_gradient_in_range_is_bitwise_grad_over_its_norm(dtype, scale):
    # (only gradients whose squares would under- or overflow are rescaled first)
    grad = torch.randn(3, 5, 64, generator=torch.Generator().manual_seed(0),
                       dtype=dtype) * scale
    for normalize, dim in (("point", -1), ("batch", (-2, -1))):
        norm = torch.linalg.vector_norm(grad, dim=dim, keepdim=True)
        assert torch.equal(ascent_direction(grad, normalize), grad / norm)


def test_batches_are_rounded_not_truncated():
    # Pinned: the schedule, and so every attack's result, depends on where the
    # batch boundaries fall.
    assert split_batches([5], 2) == [(0, 0, 2), (0, 2, 3), (0, 3, 5)]
    # (numpy rounds halves to even: 2.5 -> 2)
    assert split_batches([0, 7, 7, 12], 3) == [(1, 0, 2), (1, 2, 5), (1, 5, 7),
                                                 (3, 7, 9), (3, 9, 12)]


@pytest.mark.parametrize("rate", ["poison_lr", "lambda_lr"])
def test_a_step_size_past_the_attacks_dtype_is_its_largest_finite_one(binary_small, rate):
    # A float32 attack turned poison_lr / lambda_lr above float32's largest value
    # into inf, and inf times a zero gradient entry (a pixel that is 0 in every
    # point) into NaN: the attack failed saying X (or log_lambda) held NaN or
    # inf, to be imputed. The rate is now that largest value, whose steps the
    # box (or λ's bounds) clip as they clip any step past them.
    X, y, X_val, y_val = binary_small[:4]

    def attack(value):
        return OptimalPoisoner(
            HypergradRegularizedLR(inner_steps=10, lambda_mode="per_feature"),
            ratios=(0.1,), outer_steps=2, dtype="float32", random_state=0,
            **{rate: value}).fit(X, y, X_val=X_val, y_val=y_val)

    largest = float(torch.finfo(torch.float32).max)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # (the auto rate and the moved points)
        past, at = attack(1e39).results_[-1], attack(largest).results_[-1]
    for field in ("X", "log_lambda", "val_loss_path", "lambda_path"):
        np.testing.assert_array_equal(getattr(past, field), getattr(at, field))
    poison = past.X[past.poison_mask]
    assert np.isfinite(past.lambda_path).all() and (0 <= poison).all() and (poison <= 1).all()
