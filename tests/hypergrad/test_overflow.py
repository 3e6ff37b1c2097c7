"""Float32 at extreme feature magnitudes: the right result, or a specific error.

The reverse pass multiplies by the design twice per step, so its products
grow with the cube of the features' magnitude; scaling by ``-lr / n`` before
the second product keeps them in float32's range. What still overflows (the
validation loss itself, say) raises :class:`HypergradientOverflowError`
instead of returning NaN.

Where the scale enters was measured to matter on this CPU for the binary
models only: MKL applies a GEMM's ``alpha`` inside the product, so the softmax
(``addmm``) and per-problem-rate cases were already in range. They pin the
results for BLAS libraries that scale after the product.
"""

from __future__ import annotations

import pytest
import torch

from skpoison.hypergrad import (
    HypergradientOverflowError,
    InnerDivergenceError,
    batched_hypergradient,
    compute_hypergradient,
    make_hypergradient,
)
from skpoison.hypergrad._divergence import RunStatus, raise_if_diverged
from skpoison.models import LinearProblem

N, N_VAL, D, N_POISON, STEPS = 40, 12, 4, 3, 20


def data(n_outputs, magnitude, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.rand(N, D, generator=gen, dtype=torch.float64) * magnitude
    labels = torch.randint(0, max(n_outputs, 2), (N,), generator=gen)
    Y = (labels[:, None].to(torch.float64) if n_outputs == 1
         else torch.nn.functional.one_hot(labels, n_outputs).to(torch.float64))
    problem = LinearProblem(D, n_outputs)
    w0 = problem.init_params(gen)
    # The stable rate for these features: 1 / (||[X 1]||^2 / (4 n) + alpha).
    X1 = torch.cat([X, torch.ones(N, 1, dtype=torch.float64)], dim=1)
    lr = float(1.0 / (torch.linalg.matrix_norm(X1, 2) ** 2 / (4 * N) + 1.0))
    return problem, [w0, torch.tensor([-2.0], dtype=torch.float64), X, Y, X[:N_VAL],
                     Y[:N_VAL]], lr


def as_float32(tensors):
    return [t.float() for t in tensors]


def assert_close_rel(got, want, rtol):
    scale = want.abs().max().clamp(min=torch.finfo(torch.float64).tiny)
    assert float((got.double() - want).abs().max() / scale) <= rtol


@pytest.mark.parametrize("n_outputs", [1, 3], ids=["binary", "softmax"])
def test_reverse_mode_in_float32_at_feature_magnitude_1e15(n_outputs):
    problem, args, lr = data(n_outputs, 1e15)
    opts = dict(n_poison=N_POISON, steps=STEPS, lr=lr)
    want = compute_hypergradient(problem, *args, **opts)
    got = compute_hypergradient(problem, *as_float32(args), **opts)
    assert_close_rel(got.grad_log_lambda, want.grad_log_lambda, 1e-3)
    assert_close_rel(got.grad_X_poison, want.grad_X_poison, 1e-3)


@pytest.mark.parametrize("per_problem_lr", [False, True], ids=["shared-lr", "lr-per-problem"])
@pytest.mark.parametrize("n_outputs", [1, 3], ids=["binary", "softmax"])
def test_batched_reverse_mode_in_float32_at_feature_magnitude_1e15(n_outputs, per_problem_lr):
    problem, args, lr = data(n_outputs, 1e15)
    _, other, _ = data(n_outputs, 1e15, seed=1)
    stacked = [torch.stack([a, b]) for a, b in zip(args, other)]
    lrs = torch.tensor([lr, 0.5 * lr], dtype=torch.float64) if per_problem_lr else lr
    opts = dict(n_poison=N_POISON, steps=STEPS)
    want = batched_hypergradient(problem, *stacked, lr=lrs, **opts)
    got = batched_hypergradient(problem, *as_float32(stacked),
                                lr=lrs.float() if per_problem_lr else lrs, **opts)
    assert_close_rel(got.grad_log_lambda, want.grad_log_lambda, 1e-3)
    assert_close_rel(got.grad_X_poison, want.grad_X_poison, 1e-3)


def overflowing_validation_set(args):
    """float32 inputs whose validation features (3e38) overflow the validation loss."""
    w0, log_lambda, X, Y, X_val, Y_val = as_float32(args)
    return [w0, log_lambda, X, Y, X_val / X_val.abs().max() * 3e38, Y_val]


def test_an_overflowing_validation_loss_raises_a_specific_error():
    problem, args, lr = data(1, 1.0)
    bad = overflowing_validation_set(args)
    assert bool(torch.isfinite(bad[4]).all())
    with pytest.raises(HypergradientOverflowError, match="use float64"):
        compute_hypergradient(problem, *bad, n_poison=N_POISON, steps=STEPS, lr=lr)
    engine = make_hypergradient(problem, n_poison=N_POISON, steps=STEPS, lr=lr)
    with pytest.raises(HypergradientOverflowError):
        engine(*bad)


def test_the_batched_error_names_the_overflowing_problems():
    problem, args, lr = data(1, 1.0)
    stacked = [torch.stack([a, b, a]) for a, b in
               zip(as_float32(args), overflowing_validation_set(args))]
    with pytest.raises(HypergradientOverflowError, match=r"for problems \[1\] of 3"):
        batched_hypergradient(problem, *stacked, n_poison=N_POISON, steps=STEPS, lr=lr)


def test_a_diverged_run_is_reported_as_divergence_not_overflow():
    no = torch.tensor([False])
    status = RunStatus(finite=no, unstable=None, grew=None, outputs_finite=no)
    with pytest.raises(InnerDivergenceError, match="NaN/inf parameters"):
        raise_if_diverged(status, steps=5, lr=0.1)
    assert not issubclass(HypergradientOverflowError, InnerDivergenceError)


def test_forward_mode_keeps_tiny_rates_in_float32():
    # Tangents carried scaled by 1/lr: 1/lr itself overflows float32 below 3e-39,
    # so the scale is capped (a power of two); forward mode still matches reverse.
    from skpoison.hypergrad import forward_hypergradient, reverse_hypergradient

    g = torch.Generator().manual_seed(0)
    X = torch.rand(9, 3, generator=g)
    Y = (torch.rand(9, 1, generator=g) > 0.5).float()
    problem = LinearProblem(3, 1)
    args = (problem, problem.init_params(dtype=torch.float32), torch.tensor([-1.0]), X, Y, X, Y)
    reverse = reverse_hypergradient(*args, n_poison=2, steps=5, lr=1e-39)
    forward = forward_hypergradient(*args, n_poison=2, steps=5, lr=1e-39)
    assert reverse.grad_X_poison.abs().max() > 0
    torch.testing.assert_close(forward.grad_X_poison, reverse.grad_X_poison,
                               rtol=1e-4, atol=0.0)


def test_forward_mode_returns_no_graph_for_a_tensor_rate():
    # (the λ-only path multiplied outside no_grad: a rate with requires_grad
    # leaked a graph into grad_log_lambda)
    problem = LinearProblem(3, 1)
    g = torch.Generator().manual_seed(0)
    X = torch.rand(9, 3, generator=g, dtype=torch.float64)
    Y = (torch.rand(9, 1, generator=g) > 0.5).double()
    lr = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    result = compute_hypergradient(problem, problem.init_params(),
                                   torch.tensor([-1.0], dtype=torch.float64), X, Y, X, Y,
                                   n_poison=0, steps=5, lr=lr, method="fmd")
    assert not result.grad_log_lambda.requires_grad
