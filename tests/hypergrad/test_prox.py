"""Proximal L1 steps (``LinearProblem(..., l1_step="proximal")``) in every method.

The T-step map of soft-thresholded steps is smooth wherever no ``|z|`` sits
at its threshold ``lr alpha`` (``z = w - lr grad L_data(w)``): the cases
below keep every such margin at least 100 finite-difference steps wide
(asserted), and the sign and support pattern is checked at every evaluated
point, so central differences are valid there.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace

import pytest
import torch
from hg_cases import DT, assert_close_rel, finite_differences, make_case, trajectory
from test_host_sync import host_syncs

from skpoison.hypergrad import (
    InnerNotConvergedWarning,
    Unroll,
    batched_hypergradient,
    batched_train,
    compute_hypergradient,
)
from skpoison.hypergrad._batched import _VmappedUnroll
from skpoison.models import LinearProblem

H = 1e-6
RTOL = 1e-6

# (n_outputs, lambda_mode, log_lambda, seed): each has zero and nonzero weights at
# w_T and margins | |z| - lr alpha | >= 100 H along the trajectory (asserted below).
CASES = [(1, "single", -3.5, 1), (1, "per_feature", -4.0, 0), (3, "single", -3.5, 1),
         (3, "per_feature", -3.5, 2)]
IDS = [f"k{k}-{mode}" for k, mode, _, _ in CASES]


def prox_case(k, mode, log_lambda, seed, **options):
    case = make_case("linear", k, mode, "l1", log_lambda=log_lambda, seed=seed, **options)
    return replace(case, problem=LinearProblem(case.X.shape[1], k, "l1", mode,
                                               l1_step="proximal"))


def margin(case):
    """The smallest ``| |z_t| - lr alpha |`` over the steps and penalized weights."""
    penalty = case.problem.penalty
    threshold = case.lr * penalty.alpha(case.log_lambda)
    smallest = float("inf")
    for w in trajectory(case)[:-1]:
        _, data_grad = case.problem.loss_and_grad(w, case.X, case.Y)
        z = w - case.lr * data_grad
        gap = (z.abs() - threshold).abs()[penalty.penalized]
        smallest = min(smallest, float(gap.min()))
    return smallest


def pattern(case, log_lambda, X):
    return torch.cat([torch.sign(w) for w in trajectory(case, log_lambda, X)])


@functools.lru_cache(maxsize=None)
def reference(k, mode, log_lambda, seed):
    """The case, a poison direction and the finite differences of ``L_val(w_T)``."""
    case = prox_case(k, mode, log_lambda, seed)
    base = pattern(case, case.log_lambda, case.X)

    def value(lam, xp):
        return case.problem.data_loss(trajectory(case.with_poison(xp), log_lambda=lam)[-1],
                                      case.X_val, case.Y_val)

    def check(lam, xp):
        assert torch.equal(pattern(case, lam, case.with_poison(xp).X), base)

    direction = torch.randn(case.X_poison.shape, generator=torch.Generator().manual_seed(5),
                            dtype=DT)
    fd = finite_differences(value, case.log_lambda, case.X_poison, direction, h=H,
                            check=check)
    return case, direction, fd


def check_against(result, fd_lambda, fd_directional, direction, rtol=RTOL):
    assert_close_rel(result.grad_log_lambda, fd_lambda, rtol, "d/d log_lambda")
    projected = float(torch.sum(result.grad_X_poison * direction))
    scale = float(torch.linalg.vector_norm(result.grad_X_poison)
                  * torch.linalg.vector_norm(direction))
    assert abs(projected - fd_directional) <= rtol * scale, (projected, fd_directional)


@pytest.mark.parametrize(("k", "mode", "log_lambda", "seed"), CASES, ids=IDS)
def test_cases_are_sparse_and_away_from_the_kinks(k, mode, log_lambda, seed):
    case = prox_case(k, mode, log_lambda, seed)
    w_T = trajectory(case)[-1][case.problem.penalty.penalized]
    assert bool((w_T == 0).any()) and bool((w_T != 0).any())
    assert margin(case) > 100 * H


@pytest.mark.parametrize("options", [
    {"method": "rmd"}, {"method": "rmd", "checkpoint_every": 6},
    {"method": "rmd", "checkpoint_every": (9, 3)}, {"method": "fmd"}, {"method": "autograd"},
], ids=["rmd", "rmd-checkpoint", "rmd-two-level", "fmd", "autograd"])
@pytest.mark.parametrize(("k", "mode", "log_lambda", "seed"), CASES, ids=IDS)
def test_unrolled_methods_match_finite_differences(k, mode, log_lambda, seed, options):
    case, direction, (fd_lambda, fd_dir) = reference(k, mode, log_lambda, seed)
    result = case.hypergradient(**options)
    assert float(torch.linalg.vector_norm(fd_lambda)) > 1e-4   # a non-trivial check
    check_against(result, fd_lambda, fd_dir, direction)


@pytest.mark.parametrize(("k", "mode", "log_lambda", "seed"), CASES, ids=IDS)
def test_forward_mode_without_poison_matches_finite_differences(k, mode, log_lambda, seed):
    # n_poison = 0 takes forward mode's own path (the model's Hessian-vector products).
    case, _, (fd_lambda, _) = reference(k, mode, log_lambda, seed)
    clean = replace(case, n_poison=0)
    for method in ("fmd", "rmd"):
        assert_close_rel(clean.hypergradient(method).grad_log_lambda, fd_lambda, RTOL, method)


@pytest.mark.parametrize(("k", "mode", "log_lambda", "seed"), CASES, ids=IDS)
def test_methods_agree_to_rounding(k, mode, log_lambda, seed):
    case = prox_case(k, mode, log_lambda, seed)
    results = [case.hypergradient("rmd"), case.hypergradient("rmd", checkpoint_every="sqrt"),
               case.hypergradient("fmd"), case.hypergradient("autograd")]
    for other in results[1:]:
        assert_close_rel(other.grad_log_lambda, results[0].grad_log_lambda, 1e-12)
        assert_close_rel(other.grad_X_poison, results[0].grad_X_poison, 1e-12)
        assert_close_rel(other.params, results[0].params, 1e-13)


def _stack(cases):
    return [torch.stack([getattr(c, name) for c in cases])
            for name in ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")]


@pytest.mark.parametrize("checkpoint_every", [None, 4, (9, 3)])
@pytest.mark.parametrize(("k", "mode"), [(1, "single"), (3, "per_feature")])
def test_batched_equals_single_calls(k, mode, checkpoint_every):
    cases = [prox_case(k, mode, -3.5, seed) for seed in range(3)]
    lrs = [0.3, 0.5, 0.7]
    cases = [replace(c, lr=lr) for c, lr in zip(cases, lrs)]
    stacked = _stack(cases)
    rates = torch.tensor(lrs, dtype=DT)
    res = batched_hypergradient(cases[0].problem, *stacked, n_poison=cases[0].n_poison,
                                steps=cases[0].steps, lr=rates,
                                checkpoint_every=checkpoint_every)
    trained = batched_train(cases[0].problem, *stacked[:4], steps=cases[0].steps, lr=rates)
    assert torch.equal(trained, res.params)   # train is bitwise the recorded forward pass
    for i, case in enumerate(cases):
        single = case.hypergradient("autograd")
        assert_close_rel(res.grad_log_lambda[i], single.grad_log_lambda, 1e-12)
        assert_close_rel(res.grad_X_poison[i], single.grad_X_poison, 1e-12)
        assert_close_rel(res.params[i], single.params, 1e-13)
        assert bool((res.params[i] == 0).any())


@pytest.mark.parametrize(("k", "mode"), [(1, "per_feature"), (3, "single")])
def test_training_is_bitwise_the_recorded_forward_pass(k, mode):
    case = prox_case(k, mode, -3.5, 1, steps=17)
    unroll = case.problem.unroll(case.log_lambda, case.X, case.Y, lr=case.lr)
    w_T, (W, P) = unroll.forward(case.w0, case.steps)
    assert W.shape[0] == case.steps + 1 and P.shape[0] == case.steps
    assert torch.equal(unroll.train(case.w0, case.steps), w_T)
    # forward_step's steps, to rounding (its kernels differ), with the same zeros
    reference = trajectory(case)[-1]
    assert torch.equal(w_T == 0, reference == 0) and bool((w_T == 0).any())
    assert_close_rel(w_T, reference, 1e-13)


def _converged(k, mode, log_lambda, seed, steps):
    return prox_case(k, mode, log_lambda, seed, steps=steps)


@pytest.mark.parametrize(("k", "mode", "log_lambda", "seed"), CASES, ids=IDS)
def test_implicit_methods_match_reverse_mode_and_finite_differences_at_convergence(
        k, mode, log_lambda, seed):
    case = _converged(k, mode, log_lambda, seed, steps=15000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InnerNotConvergedWarning)
        cg, exact = case.hypergradient("cg"), case.hypergradient("exact")
    unrolled = case.hypergradient("rmd")
    assert bool((unrolled.params[case.problem.penalty.penalized] == 0).any())
    for implicit in (cg, exact):
        assert_close_rel(implicit.grad_log_lambda, unrolled.grad_log_lambda, 1e-6)
        assert_close_rel(implicit.grad_X_poison, unrolled.grad_X_poison, 1e-6)

    def value(lam, xp):
        c = case.with_poison(xp)
        w = c.problem.unroll(lam, c.X, c.Y, lr=c.lr).train(c.w0, c.steps)
        return c.problem.data_loss(w, c.X_val, c.Y_val)

    direction = torch.randn(case.X_poison.shape, generator=torch.Generator().manual_seed(5),
                            dtype=DT)
    fd_lambda, fd_dir = finite_differences(value, case.log_lambda, case.X_poison, direction,
                                           h=H)
    check_against(cg, fd_lambda, fd_dir, direction, rtol=1e-5)


def test_implicit_method_warns_before_convergence():
    case = _converged(1, "single", -3.5, 1, steps=5)
    with pytest.warns(InnerNotConvergedWarning, match="fixed-point residual"):
        case.hypergradient("cg")


def test_proximal_steps_settle_where_subgradient_steps_zigzag():
    # A large λ: most weights' optimum is 0.
    case = prox_case(1, "single", -2.0, 0)
    sub = replace(case, problem=LinearProblem(case.X.shape[1], 1, "l1"))
    runs = {}
    for name, c in (("proximal", case), ("subgradient", sub)):
        unroll = c.problem.unroll(c.log_lambda, c.X, c.Y, lr=c.lr)
        w = unroll.train(c.w0, 3000)
        runs[name] = (w, unroll.train(w, 1))
    w, w_next = runs["proximal"]
    penalized = case.problem.penalty.penalized
    assert bool((w[penalized] == 0).any())
    assert torch.equal(w == 0, w_next == 0)
    assert float((w - w_next).abs().max()) < 1e-6
    # The subgradient iterates swing by about lr * alpha, never exactly 0.
    w, w_next = runs["subgradient"]
    lr_alpha = case.lr * float(torch.exp(case.log_lambda[0]))
    assert float((w - w_next).abs().max()) > 0.5 * lr_alpha
    assert not bool((w[penalized] == 0).any())


def test_l1_step_is_ignored_under_l2_and_checked():
    case = make_case("linear", 3, "per_feature", "l2")
    proximal = replace(case, problem=LinearProblem(4, 3, "l2", "per_feature",
                                                   l1_step="proximal"))
    assert not proximal.problem.proximal
    for method in ("rmd", "fmd"):
        a, b = case.hypergradient(method), proximal.hypergradient(method)
        assert torch.equal(a.grad_log_lambda, b.grad_log_lambda)
        assert torch.equal(a.grad_X_poison, b.grad_X_poison)
    with pytest.raises(ValueError, match="l1_step='ista'"):
        LinearProblem(4, 1, "l1", l1_step="ista")


def test_subgradient_is_the_default_and_unchanged():
    case = make_case("linear", 3, "per_feature", "l1")
    explicit = replace(case, problem=LinearProblem(4, 3, "l1", "per_feature",
                                                   l1_step="subgradient"))
    assert not case.problem.proximal and case.problem.l1_step == "subgradient"
    for method in ("rmd", "fmd", "autograd"):
        a, b = case.hypergradient(method), explicit.hypergradient(method)
        assert torch.equal(a.grad_log_lambda, b.grad_log_lambda)
        assert torch.equal(a.params, b.params)


def test_generic_unrolls_refuse_proximal_problems():
    case = prox_case(1, "single", -3.5, 1)
    with pytest.raises(ValueError, match="proximal L1 steps"):
        Unroll(case.problem, case.log_lambda, case.X, case.Y, lr=case.lr)
    with pytest.raises(ValueError, match="proximal L1 steps"):
        _VmappedUnroll(case.problem, case.log_lambda[None], case.X[None], case.Y[None],
                       lr=case.lr)


@pytest.mark.parametrize("options", [
    {"method": "rmd"}, {"method": "rmd", "checkpoint_every": (12, 3)}, {"method": "fmd"},
], ids=["rmd", "rmd-two-level", "fmd"])
def test_one_host_read_per_hypergradient_whatever_the_steps(options):
    cases = [prox_case(3, "per_feature", -3.5, 2, steps=steps) for steps in (10, 40)]
    counts = [host_syncs(lambda: case.hypergradient(**options)) for case in cases]
    assert counts[0] == counts[1] and counts[0].total() == 1


def test_batched_calls_read_the_host_once_whatever_the_steps():
    def syncs(steps):
        cases = [prox_case(1, "single", -3.5, seed, steps=steps) for seed in range(2)]
        stacked = _stack(cases)
        return host_syncs(lambda: batched_hypergradient(
            cases[0].problem, *stacked, n_poison=2, steps=steps, lr=0.5)).total()

    assert syncs(10) == syncs(40) == 1


def test_compute_hypergradient_example_values_are_finite():
    case = prox_case(1, "single", -3.5, 1)
    result = compute_hypergradient(case.problem, case.w0, case.log_lambda, case.X, case.Y,
                                   case.X_val, case.Y_val, n_poison=0, steps=5, lr=0.5)
    assert bool(torch.isfinite(result.grad_log_lambda).all())
