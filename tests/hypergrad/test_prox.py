"""Proximal L1 steps (``l1_step="proximal"``) in every method, for both models.

The T-step map of soft-thresholded steps is smooth wherever no ``|z|`` sits
at its threshold ``lr alpha`` (``z = w - lr grad L_data(w)``) and, for the
MLP, no hidden pre-activation sits at LeakyReLU's kink (0): the cases below
keep both margins at least 100 finite-difference steps wide (asserted), and
the pattern of weight signs (zeros included) and pre-activation signs is
checked at every evaluated point, so central differences are valid there.

The tests that the linear models and the MLP share are parametrized over the
model here; the linear models' own tests follow them, and the MLP's own are
in test_prox_mlp.py.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace

import pytest
import torch
from hg_cases import (
    DT,
    assert_close_rel,
    assert_trains_as_recorded,
    finite_differences,
    make_case,
    margins,
    prox_case,
    trajectory,
    unrolled_value,
)
from test_host_sync import FMD_COUNTED, host_syncs

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

# (model, n_outputs, lambda_mode, log_lambda, seed): each has zero and nonzero weights
# at w_T and margins >= 100 H to both kinds of kink (asserted below). In all MLP cases
# but its second, weights leave 0 or change sign on the way (the λ term must take
# sign(w_{t+1})).
LINEAR_CASES = [("linear", 1, "single", -3.5, 1), ("linear", 1, "per_feature", -4.0, 0),
                ("linear", 3, "single", -3.5, 1), ("linear", 3, "per_feature", -3.5, 2)]
MLP_CASES = [("mlp", 1, "single", -3.5, 5), ("mlp", 1, "per_layer", -4.0, 3),
             ("mlp", 3, "per_layer", -3.5, 2), ("mlp", 3, "single", -3.5, 5)]
CASE_ARGS = ("model", "k", "mode", "log_lambda", "seed")


def case_ids(cases):
    return [f"{model}-k{k}-{mode}" for model, k, mode, *_ in cases]


over_cases = pytest.mark.parametrize(CASE_ARGS, LINEAR_CASES + MLP_CASES,
                                     ids=case_ids(LINEAR_CASES + MLP_CASES))


@functools.lru_cache(maxsize=None)
def reference(*args):
    """The case, a poison direction and the finite differences of ``L_val(w_T)``."""
    case = prox_case(*args)
    value, check = unrolled_value(case)   # (checks hg_cases.pattern: signs and kinks)
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


def _stack(cases):
    return [torch.stack([getattr(c, name) for c in cases])
            for name in ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")]


# -- both models -------------------------------------------------------------------
@over_cases
def test_cases_are_sparse_and_away_from_the_kinks(model, k, mode, log_lambda, seed):
    case = prox_case(model, k, mode, log_lambda, seed)
    assert case.problem.proximal
    w_T = trajectory(case)[-1][case.problem.penalty.penalized]
    assert bool((w_T == 0).any()) and bool((w_T != 0).any())
    threshold, kink = margins(case)   # (kink: inf for the linear models)
    assert threshold > 100 * H and kink > 100 * H


@pytest.mark.parametrize("options", [
    {"method": "rmd"}, {"method": "rmd", "checkpoint_every": 6},
    {"method": "rmd", "checkpoint_every": (9, 3)}, {"method": "fmd"}, {"method": "autograd"},
], ids=["rmd", "rmd-checkpoint", "rmd-two-level", "fmd", "autograd"])
@over_cases
def test_unrolled_methods_match_finite_differences(model, k, mode, log_lambda, seed,
                                                   options):
    case, direction, (fd_lambda, fd_dir) = reference(model, k, mode, log_lambda, seed)
    result = case.hypergradient(**options)
    assert float(torch.linalg.vector_norm(fd_lambda)) > 1e-4   # a non-trivial check
    assert abs(fd_dir) > 1e-6
    check_against(result, fd_lambda, fd_dir, direction)


@over_cases
def test_forward_mode_without_poison_matches_finite_differences(model, k, mode, log_lambda,
                                                                seed):
    # n_poison = 0 takes forward mode's own path (the model's Hessian-vector products,
    # and for the MLP hessian_operator and forward_step).
    case, _, (fd_lambda, _) = reference(model, k, mode, log_lambda, seed)
    clean = replace(case, n_poison=0)
    for method in ("fmd", "rmd"):
        assert_close_rel(clean.hypergradient(method).grad_log_lambda, fd_lambda, RTOL, method)


@over_cases
def test_methods_agree_to_rounding(model, k, mode, log_lambda, seed):
    case = prox_case(model, k, mode, log_lambda, seed)
    results = [case.hypergradient("rmd"), case.hypergradient("rmd", checkpoint_every="sqrt"),
               case.hypergradient("rmd", checkpoint_every=(7, 2)),
               case.hypergradient("fmd"), case.hypergradient("autograd")]
    for other in results[1:]:
        assert_close_rel(other.grad_log_lambda, results[0].grad_log_lambda, 1e-12)
        assert_close_rel(other.grad_X_poison, results[0].grad_X_poison, 1e-12)
        assert_close_rel(other.params, results[0].params, 1e-13)


@pytest.mark.parametrize("checkpoint_every", [None, 4, (9, 3)])
@pytest.mark.parametrize(("model", "k", "mode"), [
    ("linear", 1, "single"), ("linear", 3, "per_feature"), ("mlp", 1, "single"),
    ("mlp", 3, "per_layer")])
@pytest.mark.parametrize("per_problem", [True, False], ids=["rates", "one-rate"])
def test_batched_equals_single_calls(model, k, mode, checkpoint_every, per_problem):
    lrs = [0.3, 0.5, 0.7] if per_problem else [0.5] * 3
    cases = [replace(prox_case(model, k, mode, -3.5, seed), lr=lr)
             for seed, lr in enumerate(lrs)]
    stacked = _stack(cases)
    rates = torch.tensor(lrs, dtype=DT) if per_problem else 0.5
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


@pytest.mark.parametrize("options", [
    pytest.param({"method": "rmd"}, id="rmd"),
    pytest.param({"method": "rmd", "checkpoint_every": (12, 3)}, id="rmd-two-level"),
    FMD_COUNTED,
])
@pytest.mark.parametrize(("model", "mode"), [("linear", "per_feature"), ("mlp", "per_layer")])
def test_one_host_read_per_hypergradient_whatever_the_steps(model, mode, options):
    cases = [prox_case(model, 3, mode, -3.5, 2, steps=steps) for steps in (10, 40)]
    counts = [host_syncs(lambda: case.hypergradient(**options)) for case in cases]
    assert counts[0] == counts[1] and counts[0].total() == 1


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_batched_calls_read_the_host_once_whatever_the_steps(model):
    def syncs(steps):
        cases = [prox_case(model, 1, "single", -3.5, seed, steps=steps) for seed in range(2)]
        stacked = _stack(cases)
        return host_syncs(lambda: batched_hypergradient(
            cases[0].problem, *stacked, n_poison=2, steps=steps, lr=0.5)).total()

    assert syncs(10) == syncs(40) == 1


# -- the linear models -------------------------------------------------------------
@pytest.mark.parametrize(("k", "mode"), [(1, "per_feature"), (3, "single")])
def test_training_is_bitwise_the_recorded_forward_pass(k, mode):
    case = prox_case("linear", k, mode, -3.5, 1, steps=17)
    unroll = case.problem.unroll(case.log_lambda, case.X, case.Y, lr=case.lr)
    w_T, (W, P) = unroll.forward(case.w0, case.steps)
    assert W.shape[0] == case.steps + 1 and P.shape[0] == case.steps
    assert_trains_as_recorded(case, unroll, w_T)


@pytest.mark.parametrize(CASE_ARGS, LINEAR_CASES, ids=case_ids(LINEAR_CASES))
def test_implicit_methods_match_reverse_mode_and_finite_differences_at_convergence(
        model, k, mode, log_lambda, seed):
    case = prox_case(model, k, mode, log_lambda, seed, steps=15000)
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
    case = prox_case("linear", 1, "single", -3.5, 1, steps=5)
    with pytest.warns(InnerNotConvergedWarning, match="fixed-point residual"):
        case.hypergradient("cg")


def test_proximal_steps_settle_where_subgradient_steps_zigzag():
    # A large λ: most weights' optimum is 0.
    case = prox_case("linear", 1, "single", -2.0, 0)
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
    case = prox_case("linear", 1, "single", -3.5, 1)
    with pytest.raises(ValueError, match="proximal L1 steps"):
        Unroll(case.problem, case.log_lambda, case.X, case.Y, lr=case.lr)
    with pytest.raises(ValueError, match="proximal L1 steps"):
        _VmappedUnroll(case.problem, case.log_lambda[None], case.X[None], case.Y[None],
                       lr=case.lr)


def test_compute_hypergradient_example_values_are_finite():
    case = prox_case("linear", 1, "single", -3.5, 1)
    result = compute_hypergradient(case.problem, case.w0, case.log_lambda, case.X, case.Y,
                                   case.X_val, case.Y_val, n_poison=0, steps=5, lr=0.5)
    assert bool(torch.isfinite(result.grad_log_lambda).all())
