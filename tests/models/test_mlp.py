"""MLPProblem: hand-written derivatives against torch.func, Xavier init."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import jvp, vjp

from skpoison.hypergrad import InnerProblem
from skpoison.models import MLPProblem

DT = torch.float64
CASES = [(hidden, k, pen, mode) for hidden in ((5,), (4, 3)) for k in (1, 3)
         for pen in ("l2", "l1") for mode in ("single", "per_layer")]


def make_case(hidden, k, penalty, mode, n=20, d=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    problem = MLPProblem(d, hidden, k, penalty, mode)
    X = 2 * torch.rand(n, d, generator=gen, dtype=DT) - 1
    labels = torch.randint(0, max(k, 2), (n,), generator=gen)
    Y = labels.to(DT)[:, None] if k == 1 else torch.nn.functional.one_hot(labels, k).to(DT)
    w = problem.init_params(gen, dtype=DT)
    w = w + 0.1 * torch.randn(problem.n_params, generator=gen, dtype=DT)  # biases too
    lam = torch.randn(problem.n_hyper, generator=gen, dtype=DT)
    a = torch.randn(problem.n_params, generator=gen, dtype=DT)
    return problem, X, Y, w, lam, a


def generic_gradient(problem, w, lam, X, Y):
    return InnerProblem.train_grad(problem, w, lam, X, Y)


@pytest.mark.parametrize(("hidden", "k", "penalty", "mode"), CASES)
def test_hand_written_derivatives_equal_torch_func(hidden, k, penalty, mode):
    problem, X, Y, w, lam, a = make_case(hidden, k, penalty, mode)
    torch.testing.assert_close(problem.train_grad(w, lam, X, Y),
                               generic_gradient(problem, w, lam, X, Y))
    value, gradient = problem.loss_and_grad(w, X, Y)
    value_ref, gradient_ref = InnerProblem.loss_and_grad(problem, w, X, Y)
    torch.testing.assert_close(value, value_ref)
    torch.testing.assert_close(gradient, gradient_ref)
    hvp_ref = jvp(lambda p: generic_gradient(problem, p, lam, X, Y), (w,), (a,))[1]
    torch.testing.assert_close(problem.hvp(w, lam, X, Y, a), hvp_ref)
    torch.testing.assert_close(problem.hessian_operator(w, lam, X, Y)(a), hvp_ref)
    n_poison = 3
    n_clean = X.shape[0] - n_poison
    _, pullback = vjp(
        lambda p, l, xp: generic_gradient(problem, p, l, torch.cat([X[:n_clean], xp]), Y),
        w, lam, X[n_clean:])
    reference = pullback(a)
    step, cache = problem.forward_step(w, lam, X, Y, 0.3)
    torch.testing.assert_close(step, InnerProblem.forward_step(problem, w, lam, X, Y, 0.3)[0])
    for c in (None, cache):
        for got, want in zip(problem.reverse_step(w, c, lam, X, Y, n_poison, a), reference):
            torch.testing.assert_close(got, want)


def test_xavier_uniform_init_is_bounded_and_reproducible():
    problem = MLPProblem(784, (32, 8), 1)
    w = problem.init_params(torch.Generator().manual_seed(3), dtype=DT)
    again = problem.init_params(torch.Generator().manual_seed(3), dtype=DT)
    other = problem.init_params(torch.Generator().manual_seed(4), dtype=DT)
    assert torch.equal(w, again) and not torch.equal(w, other)
    for (W, b), (fan_in, fan_out) in zip(problem.unflatten(w), problem.shapes):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert W.shape == (fan_in, fan_out)
        assert float(W.abs().max()) <= bound and not torch.any(b)
        if W.numel() > 1000:  # uniform on [-bound, bound]: mean 0, var bound^2 / 3
            assert abs(float(W.mean())) < 0.02 * bound
            assert float(W.var()) == pytest.approx(bound ** 2 / 3, rel=0.05)
            assert float(W.abs().max()) > 0.99 * bound
    w32 = problem.init_params(torch.Generator().manual_seed(3), dtype=torch.float32)
    assert w32.dtype == torch.float32


def test_layout_and_groups():
    problem = MLPProblem(3, (4, 2), 2, "l2", "per_layer")
    assert problem.n_params == 3 * 4 + 4 + 4 * 2 + 2 + 2 * 2 + 2
    assert problem.n_hyper == 3
    index = problem.penalty.group_index
    expected = [0] * 12 + [-1] * 4 + [1] * 8 + [-1] * 2 + [2] * 4 + [-1] * 2
    assert index.tolist() == expected
    assert MLPProblem(3, (4, 2), 2).n_hyper == 1
    with pytest.raises(ValueError, match="per_feature"):
        MLPProblem(3, (4,), 1, lambda_mode="per_feature")


def test_decision_scores_are_a_leaky_relu_network():
    problem = MLPProblem(2, (3,), 1)
    w = problem.init_params(torch.Generator().manual_seed(0), dtype=DT)
    (W0, b0), (W1, b1) = problem.unflatten(w)
    X = torch.randn(5, 2, dtype=DT)
    expected = torch.nn.functional.leaky_relu(X @ W0 + b0, 0.01) @ W1 + b1
    torch.testing.assert_close(problem.decision_scores(w, X), expected)


@pytest.mark.parametrize("method", ["rmd", "fmd"])
def test_at_a_pre_activation_exactly_at_the_kink_every_path_takes_the_same_side(method):
    # 0.8 * 0.5 + 0.5 * 0.4 + 0.5 * 0.6 - 0.9 is 0: addmm (the hand-written paths)
    # rounded it to 0.0, X @ W + b (the losses, autograd) to 1.1e-16, and the
    # paths trained different networks (a poison gradient 3 % apart after 1 step).
    from skpoison.hypergrad import compute_hypergradient
    problem = MLPProblem(3, (16,), 1)              # (16 units: addmm's plain branch)
    w0 = problem.init_params(torch.Generator().manual_seed(0), dtype=DT)
    (W0, b0), _ = problem.unflatten(w0)
    W0[:, 0] = torch.tensor([0.5, 0.4, 0.6], dtype=DT)
    b0[0] = -0.9
    X = torch.tensor([[0.1, 0.9, 0.3], [0.7, 0.2, 0.6], [0.8, 0.5, 0.5]], dtype=DT)
    Y = torch.tensor([[0.0], [1.0], [1.0]], dtype=DT)
    args = (problem, w0, torch.tensor([-2.0], dtype=DT), X, Y, X[:2].clone(), 1 - Y[:2])
    reference = compute_hypergradient(*args, n_poison=1, steps=1, lr=0.5, method="autograd")
    result = compute_hypergradient(*args, n_poison=1, steps=1, lr=0.5, method=method)
    torch.testing.assert_close(result.grad_X_poison, reference.grad_X_poison,
                               rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(result.params, reference.params, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("k", [3, 20])   # (scores of 2-15 columns come column-major)
@pytest.mark.parametrize("lead", [(), (2,)])
def test_softmax_of_the_scores_is_the_same_in_either_memory_order(k, lead):
    from skpoison.models._mlp_derivatives import activation, forward

    gen = torch.Generator().manual_seed(0)
    S = torch.randn(*lead, 7, k, generator=gen, dtype=DT) * 10
    expected = torch.softmax(S, dim=-1)
    column_major = S.mT.contiguous().mT
    assert column_major.stride(-2) == 1
    for scores in (S, column_major):
        torch.testing.assert_close(activation(scores), expected, rtol=1e-15, atol=1e-16)
    # The network's own scores, in the layout its products leave them.
    problem = MLPProblem(4, (3,), k)
    w = problem.init_params(gen, dtype=DT)
    X = torch.rand(*lead, 7, 4, generator=gen, dtype=DT)
    if lead:
        w = w.expand(*lead, -1)
    scores = forward(problem.unflatten(w), X)[2]
    torch.testing.assert_close(activation(scores), torch.softmax(scores, dim=-1),
                               rtol=1e-15, atol=1e-16)


def test_init_is_the_same_network_in_every_dtype():
    # DESIGN: "Initial weights are drawn on the CPU in float64 from random_state,
    # then moved: the same network on every device and dtype". init_params drew
    # in the dtype asked for: float32 gave another network (and device="cuda"
    # with a CPU generator failed).
    problem = MLPProblem(5, (4, 3), 2)
    w64 = problem.init_params(torch.Generator().manual_seed(3))
    w32 = problem.init_params(torch.Generator().manual_seed(3), dtype=torch.float32)
    assert w32.dtype == torch.float32 and torch.equal(w32, w64.float())
    meta = problem.init_params(torch.Generator().manual_seed(3), device="meta")
    assert meta.device.type == "meta" and meta.shape == w64.shape
