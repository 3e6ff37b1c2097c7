"""LinearProblem: closed forms against the generic torch.func derivatives."""

from __future__ import annotations

import pytest
import torch
from torch.func import jvp, vjp

from skpoison.hypergrad import InnerProblem, dense_operator
from skpoison.models import LinearProblem

DT = torch.float64
CASES = [(k, pen, mode) for k in (1, 3) for pen in ("l2", "l1")
         for mode in ("single", "per_feature")]


def make_case(k, penalty, mode, n=25, d=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    problem = LinearProblem(d, k, penalty, mode)
    X = torch.rand(n, d, generator=gen, dtype=DT)
    labels = torch.randint(0, max(k, 2), (n,), generator=gen)
    Y = labels.to(DT)[:, None] if k == 1 else torch.nn.functional.one_hot(labels, k).to(DT)
    w = torch.randn(problem.n_params, generator=gen, dtype=DT)
    lam = torch.randn(problem.n_hyper, generator=gen, dtype=DT)
    a = torch.randn(problem.n_params, generator=gen, dtype=DT)
    return problem, X, Y, w, lam, a


def generic_gradient(problem, w, lam, X, Y):
    """grad of train_loss by autograd (no closed form involved)."""
    return InnerProblem.train_grad(problem, w, lam, X, Y)


@pytest.mark.parametrize(("k", "penalty", "mode"), CASES)
def test_closed_forms_equal_generic(k, penalty, mode):
    problem, X, Y, w, lam, a = make_case(k, penalty, mode)
    torch.testing.assert_close(problem.train_grad(w, lam, X, Y),
                               generic_gradient(problem, w, lam, X, Y))
    value, gradient = problem.loss_and_grad(w, X, Y)
    value_ref, gradient_ref = InnerProblem.loss_and_grad(problem, w, X, Y)
    torch.testing.assert_close(value, value_ref)
    torch.testing.assert_close(gradient, gradient_ref)
    step, cache = problem.forward_step(w, lam, X, Y, 0.3)
    torch.testing.assert_close(step, InnerProblem.forward_step(problem, w, lam, X, Y, 0.3)[0])
    hvp_ref = jvp(lambda p: generic_gradient(problem, p, lam, X, Y), (w,), (a,))[1]
    torch.testing.assert_close(problem.hvp(w, lam, X, Y, a), hvp_ref)
    torch.testing.assert_close(InnerProblem.hvp(problem, w, lam, X, Y, a), hvp_ref)
    torch.testing.assert_close(problem.hessian_operator(w, lam, X, Y)(a), hvp_ref)


@pytest.mark.parametrize("n_poison", [0, 1, 4])
@pytest.mark.parametrize(("k", "penalty", "mode"), CASES)
def test_reverse_step_equals_generic(k, penalty, mode, n_poison):
    problem, X, Y, w, lam, a = make_case(k, penalty, mode)
    n_clean = X.shape[0] - n_poison
    _, pullback = vjp(
        lambda p, l, xp: generic_gradient(problem, p, l, torch.cat([X[:n_clean], xp]), Y),
        w, lam, X[n_clean:])
    reference = pullback(a)
    _, cache = problem.forward_step(w, lam, X, Y, 0.3)
    for c in (None, cache):
        got = problem.reverse_step(w, c, lam, X, Y, n_poison, a)
        for g, r in zip(got, reference):
            torch.testing.assert_close(g, r)
    for g, r in zip(InnerProblem.reverse_step(problem, w, None, lam, X, Y, n_poison, a),
                    reference):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize(("k", "penalty"), [(1, "l2"), (3, "l2"), (3, "l1")])
def test_dense_hessian_equals_batched_hvp(k, penalty):
    problem, X, Y, w, lam, _ = make_case(k, penalty, "per_feature")
    operator = problem.hessian_operator(w, lam, X, Y)
    assert hasattr(operator, "matrix")
    batched = torch.func.vmap(operator)(torch.eye(problem.n_params, dtype=DT)).T
    torch.testing.assert_close(dense_operator(operator, problem.n_params, dtype=DT,
                                              device="cpu"), batched)


def test_layout_groups_and_init():
    problem = LinearProblem(3, 2, "l2", "per_feature")
    assert (problem.n_params, problem.n_hyper) == (8, 3)
    w = torch.arange(8, dtype=DT)
    W, b = problem.unflatten(w)
    assert W.shape == (3, 2) and torch.equal(b, torch.tensor([6.0, 7.0], dtype=DT))
    # feature f's weights in every output share lambda_f; intercepts are -1
    assert problem.penalty.group_index.tolist() == [0, 0, 1, 1, 2, 2, -1, -1]
    assert not torch.any(problem.init_params())
    assert problem.init_params(dtype=torch.float32).dtype == torch.float32
    with pytest.raises(ValueError, match="per_layer"):
        LinearProblem(3, 1, lambda_mode="per_layer")
    # one λ per feature needs a feature (0 hyperparameters crashed every method)
    with pytest.raises(ValueError, match="n_features=0, n_outputs=1, lambda_mode='per_f"):
        LinearProblem(0, 1, lambda_mode="per_feature")
    with pytest.raises(ValueError, match="n_outputs >= 1"):
        LinearProblem(3, 0)
    assert LinearProblem(0, 1).n_hyper == 1          # a bias-only model, one λ (unused)
