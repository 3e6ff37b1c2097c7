"""The outer step on λ (``LambdaOptimizer``): Adam as torch's, -inf kept in place."""

import math

import pytest
import torch

from skpoison.estimators._outer import LambdaOptimizer

DT = torch.float64


def test_adam_is_torchs_adam_over_several_steps():
    # Bias corrections that depend on the step count: one step would not tell.
    optimizer = LambdaOptimizer("adam", 0.05, (-math.inf, math.inf), eps=1e-8)
    lam = torch.tensor([-1.0, 0.5], dtype=DT)
    reference = torch.nn.Parameter(lam.clone())
    torch_adam = torch.optim.Adam([reference], lr=0.05, betas=(0.9, 0.999), eps=1e-8)
    for t in range(6):
        grad = torch.tensor([0.3 * (-1) ** t + 0.1, 2.0 / (t + 1)], dtype=DT)
        lam = optimizer.step(lam, grad)
        reference.grad = grad.clone()
        torch_adam.step()
    torch.testing.assert_close(lam, reference.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rule", ["adam", "gd", "sign"])
def test_minus_infinity_stays_put_whatever_its_gradient(rule):
    # λ = -inf (no regularization) has no finite neighbour to step to; a user's
    # model may give it a NaN gradient (0 * inf), which must not spread.
    optimizer = LambdaOptimizer(rule, 0.1, (-math.inf, 0.0))
    for _ in range(3):
        lam = optimizer.step(torch.tensor([-math.inf, -1.0], dtype=DT),
                             torch.tensor([math.nan, 0.5], dtype=DT))
        assert lam[0] == -math.inf and torch.isfinite(lam[1])


@pytest.mark.parametrize("rule", ["adam", "gd", "sign"])
def test_every_step_is_projected_onto_both_bounds(rule):
    # The first λ is pushed below low, the second above high: both are projected.
    optimizer = LambdaOptimizer(rule, 10.0, (-2.0, 0.0))
    lam = optimizer.step(torch.tensor([-1.5, -0.5], dtype=DT),
                         torch.tensor([5.0, -5.0], dtype=DT))
    assert lam.tolist() == [-2.0, 0.0]


@pytest.mark.parametrize("dtype, huge", [(torch.float32, 1e20), (torch.float32, 3e38),
                                         (torch.float64, 1e200)])
def test_adam_steps_by_lr_when_the_gradients_square_would_overflow(dtype, huge):
    # Adam's first step is lr * g / |g| whatever g's scale; with g * g beyond
    # the dtype's range the second moment was inf and λ did not move at all.
    optimizer = LambdaOptimizer("adam", 0.5, (-10.0, 10.0))
    lam = optimizer.step(torch.tensor([0.0, 0.0], dtype=dtype),
                         torch.tensor([huge, -huge], dtype=dtype))
    assert lam.tolist() == pytest.approx([-0.5, 0.5], rel=1e-6)
    for _ in range(3):   # the moments stay finite, and λ keeps moving the same way
        lam = optimizer.step(lam, torch.tensor([huge, -huge], dtype=dtype))
    assert lam.tolist() == pytest.approx([-2.0, 2.0])
    # an infinite or NaN gradient is a failure, not a large one: it still propagates
    lam = LambdaOptimizer("adam", 0.5, (-10.0, 10.0)).step(
        torch.tensor([0.0, 0.0], dtype=dtype), torch.tensor([math.inf, math.nan], dtype=dtype))
    assert torch.isnan(lam).all()


@pytest.mark.parametrize("rule", ["adam", "gd", "sign"])
def test_a_rate_past_the_dtypes_range_steps_to_the_bound_not_to_nan(rule):
    # (float32 and outer_lr=1e39: the rate was inf in float32, and inf times the zero
    # gradient of a λ at -inf NaN: "log_lambda holds NaN or inf ... impute" at fit)
    optimizer = LambdaOptimizer(rule, 1e39, (-math.inf, 0.0))
    lam = torch.tensor([-math.inf, -3.0], dtype=torch.float32)
    lam = optimizer.step(lam, torch.tensor([0.5, -0.5], dtype=torch.float32))
    assert lam.tolist() == [-math.inf, 0.0]


@pytest.mark.filterwarnings("ignore:lambda_init=-inf:UserWarning")   # (said of half of λ)
def test_an_estimator_with_a_huge_float32_outer_rate_fits():
    import numpy as np
    from sklearn.datasets import load_digits

    from skpoison import HypergradRegularizedLR

    X, y = load_digits(n_class=2, return_X_y=True)
    X = X / 16
    clf = HypergradRegularizedLR(inner_steps=5, outer_steps=3, outer_lr=1e39, dtype="float32",
                                 lambda_mode="per_feature",   # (half the features at -inf)
                                 lambda_init=np.where(np.arange(64) % 2, -np.inf, -3.0),
                                 lambda_bounds=(-np.inf, 0))
    clf.fit(X[:60], y[:60], X_val=X[60:90], y_val=y[60:90])
    assert np.isfinite(clf.coef_).all()
    assert np.isneginf(clf.lambda_[1::2]).all()       # (-inf stays put)
    assert not np.isnan(clf.lambda_).any() and (clf.lambda_ <= 0).all()   # (steps to a bound)
