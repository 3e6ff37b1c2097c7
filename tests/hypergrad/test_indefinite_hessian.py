"""Implicit hypergradients where the training Hessian is indefinite (a network's, off
a minimum): CG can make no step at all, and must say so rather than return a quiet 0."""

import warnings

import pytest
import torch

from hg_cases import finite_differences, make_case, trajectory, unrolled_value
from skpoison.hypergrad import HessianSolveWarning, InnerNotConvergedWarning
from skpoison.hypergrad._warnings import warnings_once


def _no_step_case():
    # A small MLP after 5 steps: grad L_val' H grad L_val < 0 at w_T.
    return make_case("mlp", 1, "single", "l2", seed=16, steps=5)


def _hypergradient(case, method, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = case.hypergradient(method, **options)
    solve = [w for w in caught if issubclass(w.category, HessianSolveWarning)]
    assert all(issubclass(w.category, (HessianSolveWarning, InnerNotConvergedWarning))
               for w in caught)
    return result, [str(w.message) for w in solve]


def test_the_case_curves_down_along_the_validation_gradient():
    # The premise of the tests below, checked rather than assumed.
    case = _no_step_case()
    w = trajectory(case)[-1]
    _, b = case.problem.loss_and_grad(w, case.X_val, case.Y_val)
    hessian = case.problem.hessian_operator(w, case.log_lambda, case.X, case.Y)
    assert float(b @ hessian(b)) < 0


@pytest.mark.parametrize("maxiter", [None, 1])
def test_cg_that_makes_no_step_says_its_hypergradient_is_zero(maxiter):
    result, messages = _hypergradient(_no_step_case(), "cg", maxiter=maxiter)
    assert result.solver_iterations == 0
    assert not result.grad_log_lambda.any() and not result.grad_X_poison.any()
    assert len(messages) == 1
    message = messages[0]
    assert "stopped before its first step" in message
    assert "exactly 0, not an estimate" in message
    assert "does not move λ" in message and "leaves λ at lambda_init" in message
    assert "hypergrad='rmd'" in message
    assert "maxiter" not in message   # the Hessian stopped it, not the cap


def test_reverse_mode_gives_the_hypergradient_that_cg_cannot():
    # The method the warning points to is right here (float64 finite differences
    # of L_val after the 5 steps, with no LeakyReLU kink crossed).
    case = _no_step_case()
    rmd = case.hypergradient("rmd")
    value, check = unrolled_value(case)
    direction = torch.randn(case.X_poison.shape, dtype=case.X.dtype,
                            generator=torch.Generator().manual_seed(0))
    fd_lambda, fd_direction = finite_differences(value, case.log_lambda, case.X_poison,
                                                 direction, check=check)
    assert float(rmd.grad_log_lambda.abs().min()) > 1e-4
    torch.testing.assert_close(rmd.grad_log_lambda, fd_lambda, rtol=1e-6, atol=1e-10)
    torch.testing.assert_close((rmd.grad_X_poison * direction).sum(), torch.tensor(
        fd_direction, dtype=case.X.dtype), rtol=1e-6, atol=1e-10)


def test_a_cg_solve_that_stops_later_keeps_the_unreliable_message():
    # Capped after one step: an inaccurate estimate, not a zero one.
    case = make_case("linear", 1, "single", "l2", log_lambda=-1.0, lr=1.0, steps=300)
    result, messages = _hypergradient(case, "cg", maxiter=1)
    assert result.solver_iterations == 1 and result.grad_log_lambda.any()
    assert len(messages) == 1 and "after maxiter=1 iterations" in messages[0]
    assert "not an estimate" not in messages[0]


def test_in_a_loop_a_zero_hypergradient_is_shown_after_an_inaccurate_one():
    # warnings_once shows the first warning of each category; a solve that made
    # no step must not hide behind an earlier, merely inaccurate one.
    capped = make_case("linear", 1, "single", "l2", log_lambda=-1.0, lr=1.0, steps=300)
    shown = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnerNotConvergedWarning)
        with warnings_once("fit", lambda message, category: shown.append((category, message))):
            capped.hypergradient("cg", maxiter=1)
            for _ in range(2):
                _no_step_case().hypergradient("cg")
    solve = [message for category, message in shown if category is HessianSolveWarning]
    assert len(solve) == 3
    assert "after maxiter=1 iterations" in solve[0]
    assert "exactly 0, not an estimate" in solve[1]
    assert solve[2] == ("HessianSolveWarning (no solution) was issued 2 times in this fit; "
                        "only the first is shown.")
