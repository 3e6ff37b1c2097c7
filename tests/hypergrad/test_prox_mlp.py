"""Proximal L1 steps of the MLP (``MLPProblem(..., l1_step="proximal")``) in every method.

Two things make the network's T-step map non-smooth: the soft threshold
(``|z| = lr alpha``, ``z = w - lr grad L_data(w)``) and LeakyReLU's kink
(a hidden pre-activation at 0). The cases below keep both margins at least
100 finite-difference steps wide (asserted), and the pattern of weight signs
(zeros included) and pre-activation signs is checked at every evaluated
point, so central differences are valid there.
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
    finite_differences,
    make_case,
    margins,
    trajectory,
    unrolled_value,
)
from test_host_sync import host_syncs

from skpoison.hypergrad import (
    InnerNotConvergedWarning,
    batched_hypergradient,
    batched_train,
)
from skpoison.models import MLPProblem

H = 1e-6
RTOL = 1e-6

# (n_outputs, lambda_mode, log_lambda, seed): zero and nonzero weights at w_T, and
# margins >= 100 H to both kinds of kink (asserted below); in all but the second,
# weights leave 0 or change sign on the way (the λ term must take sign(w_{t+1})).
CASES = [(1, "single", -3.5, 5), (1, "per_layer", -4.0, 3), (3, "per_layer", -3.5, 2),
         (3, "single", -3.5, 5)]
IDS = [f"k{k}-{mode}" for k, mode, _, _ in CASES]


def prox_case(k, mode, log_lambda, seed, **options):
    return make_case("mlp", k, mode, "l1-prox", log_lambda=log_lambda, seed=seed, **options)


def leaves_zero_or_flips(case):
    """How many (step, weight) pairs have ``sign(w_{t+1}) != sign(w_t)`` and ``w_{t+1} != 0``."""
    iterates = trajectory(case)
    penalized = case.problem.penalty.penalized
    return sum(int(((a.sign() != b.sign()) & (b != 0))[penalized].sum())
               for a, b in zip(iterates, iterates[1:]))


@functools.lru_cache(maxsize=None)
def reference(k, mode, log_lambda, seed):
    """The case, a poison direction and the finite differences of ``L_val(w_T)``."""
    case = prox_case(k, mode, log_lambda, seed)
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


@pytest.mark.parametrize(("k", "mode", "log_lambda", "seed"), CASES, ids=IDS)
def test_cases_are_sparse_and_away_from_both_kinks(k, mode, log_lambda, seed):
    case = prox_case(k, mode, log_lambda, seed)
    assert case.problem.proximal
    w_T = trajectory(case)[-1][case.problem.penalty.penalized]
    assert bool((w_T == 0).any()) and bool((w_T != 0).any())
    threshold, kink = margins(case)
    assert threshold > 100 * H and kink > 100 * H


@pytest.mark.parametrize("options", [
    {"method": "rmd"}, {"method": "rmd", "checkpoint_every": 6},
    {"method": "rmd", "checkpoint_every": (9, 3)}, {"method": "fmd"}, {"method": "autograd"},
], ids=["rmd", "rmd-checkpoint", "rmd-two-level", "fmd", "autograd"])
@pytest.mark.parametrize(("k", "mode", "log_lambda", "seed"), CASES, ids=IDS)
def test_unrolled_methods_match_finite_differences(k, mode, log_lambda, seed, options):
    case, direction, (fd_lambda, fd_dir) = reference(k, mode, log_lambda, seed)
    result = case.hypergradient(**options)
    assert float(torch.linalg.vector_norm(fd_lambda)) > 1e-4   # a non-trivial check
    assert abs(fd_dir) > 1e-6
    check_against(result, fd_lambda, fd_dir, direction)


@pytest.mark.parametrize(("k", "mode", "log_lambda", "seed"), CASES, ids=IDS)
def test_forward_mode_without_poison_matches_finite_differences(k, mode, log_lambda, seed):
    # n_poison = 0 takes forward mode's own path (hessian_operator and forward_step).
    case, _, (fd_lambda, _) = reference(k, mode, log_lambda, seed)
    clean = replace(case, n_poison=0)
    for method in ("fmd", "rmd"):
        assert_close_rel(clean.hypergradient(method).grad_log_lambda, fd_lambda, RTOL, method)


@pytest.mark.parametrize(("k", "mode", "log_lambda", "seed"), CASES, ids=IDS)
def test_methods_agree_to_rounding(k, mode, log_lambda, seed):
    case = prox_case(k, mode, log_lambda, seed)
    results = [case.hypergradient("rmd"), case.hypergradient("rmd", checkpoint_every="sqrt"),
               case.hypergradient("rmd", checkpoint_every=(7, 2)),
               case.hypergradient("fmd"), case.hypergradient("autograd")]
    for other in results[1:]:
        assert_close_rel(other.grad_log_lambda, results[0].grad_log_lambda, 1e-12)
        assert_close_rel(other.grad_X_poison, results[0].grad_X_poison, 1e-12)
        assert_close_rel(other.params, results[0].params, 1e-13)


def test_the_lambda_term_takes_the_next_iterates_sign():
    # Weights that start at 0 and leave it: sign(w_t) = 0 there, sign(w_{t+1}) is not.
    case = prox_case(1, "per_layer", -4.5, 5, steps=8)
    w0 = case.w0.clone()
    w0[0:4] = 0.0     # the first feature's weights into the first layer,
    w0[20:23] = 0.0   # the first unit's into the second (no unit left without inputs)
    case = replace(case, w0=w0)
    value, check = unrolled_value(case)
    fd_lambda, _ = finite_differences(value, case.log_lambda, case.X_poison,
                                      torch.zeros_like(case.X_poison), h=H, check=check)
    assert leaves_zero_or_flips(case) > 0 and min(margins(case)) > 100 * H
    for options in ({}, {"checkpoint_every": 3}):
        assert_close_rel(case.hypergradient("rmd", **options).grad_log_lambda, fd_lambda,
                         RTOL, "rmd")
    assert_close_rel(case.hypergradient("fmd").grad_log_lambda, fd_lambda, RTOL, "fmd")


def _stack(cases):
    return [torch.stack([getattr(c, name) for c in cases])
            for name in ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")]


@pytest.mark.parametrize("checkpoint_every", [None, 4, (9, 3)])
@pytest.mark.parametrize(("k", "mode"), [(1, "single"), (3, "per_layer")])
@pytest.mark.parametrize("per_problem", [True, False], ids=["rates", "one-rate"])
def test_batched_equals_single_calls(k, mode, checkpoint_every, per_problem):
    lrs = [0.3, 0.5, 0.7] if per_problem else [0.5] * 3
    cases = [replace(prox_case(k, mode, -3.5, seed), lr=lr) for seed, lr in enumerate(lrs)]
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


@pytest.mark.parametrize(("k", "mode"), [(1, "per_layer"), (3, "single")])
def test_training_is_bitwise_the_recorded_forward_pass(k, mode):
    case = prox_case(k, mode, -3.5, 5, steps=17)
    unroll = case.problem.unroll(case.log_lambda, case.X, case.Y, lr=case.lr)
    w_T, tape = unroll.forward(case.w0, case.steps)
    assert tape.steps == case.steps and tape.W.shape[0] == case.steps + 1
    assert torch.equal(tape.W[case.steps], w_T) and not w_T.is_inference()
    assert torch.equal(unroll.train(case.w0, case.steps), w_T)
    # A tape recorded over a spent one (checkpointing) holds the same iterates.
    again, tape2 = unroll.forward(case.w0, 5, reuse=tape, capacity=17)
    assert tape2 is tape and torch.equal(again, unroll.train(case.w0, 5))
    # forward_step's steps, to rounding (its kernels differ), with the same zeros
    reference = trajectory(case)[-1]
    assert torch.equal(w_T == 0, reference == 0) and bool((w_T == 0).any())
    assert_close_rel(w_T, reference, 1e-13)


def test_proximal_steps_give_exact_zeros_that_settle():
    case = prox_case(3, "single", -2.5, 1)
    sub = replace(case, problem=MLPProblem(4, (4, 3), 3, "l1"))
    runs = {}
    for name, c in (("proximal", case), ("subgradient", sub)):
        unroll = c.problem.unroll(c.log_lambda, c.X, c.Y, lr=c.lr)
        w = unroll.train(c.w0, 3000)
        runs[name] = (w, unroll.train(w, 1))
    penalized = case.problem.penalty.penalized
    w, w_next = runs["proximal"]
    assert int((w[penalized] == 0).sum()) > penalized.sum() // 2
    assert torch.equal(w == 0, w_next == 0)
    w, _ = runs["subgradient"]
    assert not bool((w[penalized] == 0).any())   # (they zigzag around 0)


def test_implicit_methods_take_the_proximal_route():
    # The network's implicit route is the linear models' (fixed-point residual, the
    # system restricted to the support). These small networks either collapse to 0
    # or still move after thousands of proximal steps, so no converged case is
    # compared with reverse mode here (test_prox.py does so for the linear models);
    # the warning names the proximal stationarity measure.
    case = prox_case(3, "per_layer", -3.5, 2, steps=200)
    for method in ("cg", "exact"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = case.hypergradient(method)
        assert any(issubclass(w.category, InnerNotConvergedWarning)
                   and "fixed-point residual" in str(w.message) for w in caught)
        assert bool(torch.isfinite(result.grad_log_lambda).all())
        assert torch.equal(result.params, case.hypergradient("rmd").params)


def test_l1_step_is_ignored_under_l2_and_the_default_is_unchanged():
    for penalty in ("l2", "l1"):
        case = make_case("mlp", 3, "per_layer", penalty)
        step = "proximal" if penalty == "l2" else "subgradient"
        other = replace(case, problem=MLPProblem(4, (4, 3), 3, penalty, "per_layer",
                                                 l1_step=step))
        assert not other.problem.proximal and not case.problem.proximal
        for method in ("rmd", "fmd"):
            a, b = case.hypergradient(method), other.hypergradient(method)
            assert torch.equal(a.grad_log_lambda, b.grad_log_lambda)
            assert torch.equal(a.grad_X_poison, b.grad_X_poison)
            assert torch.equal(a.params, b.params)
    with pytest.raises(ValueError, match="l1_step='ista'"):
        MLPProblem(4, (3,), 1, "l1", l1_step="ista")


@pytest.mark.parametrize("options", [
    {"method": "rmd"}, {"method": "rmd", "checkpoint_every": (12, 3)}, {"method": "fmd"},
], ids=["rmd", "rmd-two-level", "fmd"])
def test_one_host_read_per_hypergradient_whatever_the_steps(options):
    cases = [prox_case(3, "per_layer", -3.5, 2, steps=steps) for steps in (10, 40)]
    counts = [host_syncs(lambda: case.hypergradient(**options)) for case in cases]
    assert counts[0] == counts[1] and counts[0].total() == 1
