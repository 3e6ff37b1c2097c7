"""Engine edge cases.

The divergence check on a run whose objective overflows to NaN while its
parameters stay finite; zero-step batched reverse mode of a model without
stacked loops; the argument checks' type and dtype refusals.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hg_cases import DT, METHODS, GenericProblem, make_case

from skpoison.hypergrad import (
    InnerDivergenceError,
    batched_hypergradient,
    batched_train,
    compute_hypergradient,
    implicit_hypergradient,
    train,
)
from skpoison.hypergrad._divergence import objective_grew


def _args(case, **changes):
    args = dict(w0=case.w0, log_lambda=case.log_lambda, X=case.X, Y=case.Y, X_val=case.X_val,
                Y_val=case.Y_val)
    args.update(changes)
    return [args[k] for k in ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")]


def _overflowing_case():
    """Binary logistic regression with poisoning rows of magnitude 1e155, labelled 0.

    One step sends the weights to about -1e153: still finite, but the
    poisoning rows' scores overflow to -inf, where the cross-entropy
    ``softplus(s) - y s`` computes ``0 * inf``: the training objective is NaN
    at the end, while its true value, the clean rows' loss, is ~1e153. (A
    softmax model's parameters turn NaN themselves: the finite check's case.)
    """
    case = make_case("linear", 1, "single", "l2", steps=5)
    X, Y = case.X.clone(), case.Y.clone()
    X[-case.n_poison:] = 1e155
    Y[-case.n_poison:] = 0.0
    case.X, case.Y = X, Y
    return case


@pytest.mark.filterwarnings("ignore::skpoison.hypergrad.InnerNotConvergedWarning")
@pytest.mark.filterwarnings("ignore::skpoison.hypergrad.HessianSolveWarning")
@pytest.mark.parametrize("method", METHODS + ["rmd-checkpointed"])
def test_a_finite_run_whose_objective_overflows_is_a_divergence(method):
    # Used to pass the check (a NaN end "did not rise") and return a finite,
    # meaningless hypergradient (val_loss ~1e153) without a word.
    case = _overflowing_case()
    options = dict(checkpoint_every=2) if method == "rmd-checkpointed" else {}
    with pytest.raises(InnerDivergenceError, match="training objective rose"):
        compute_hypergradient(case.problem, *_args(case), n_poison=case.n_poison,
                              steps=case.steps, lr=case.lr,
                              method=method.replace("-checkpointed", ""), **options)


def test_train_and_the_batched_loops_see_the_overflowed_objective():
    case = _overflowing_case()
    with pytest.raises(InnerDivergenceError, match="training objective rose"):
        train(case.problem, case.w0, case.log_lambda, case.X, case.Y, steps=case.steps,
              lr=case.lr)
    clean = make_case("linear", 1, "single", "l2", steps=5)
    X, Y = torch.stack([clean.X, case.X]), torch.stack([clean.Y, case.Y])
    X_val, Y_val = torch.stack([clean.X_val] * 2), torch.stack([clean.Y_val] * 2)
    with pytest.raises(InnerDivergenceError, match=r"for problems \[1\] of 2"):
        batched_train(case.problem, case.w0, case.log_lambda, X, Y, steps=case.steps,
                      lr=case.lr)
    with pytest.raises(InnerDivergenceError, match=r"for problems \[1\] of 2"):
        batched_hypergradient(case.problem, case.w0, case.log_lambda, X, Y, X_val, Y_val,
                              n_poison=case.n_poison, steps=case.steps, lr=case.lr)


def test_objective_grew_counts_a_nan_end_as_grown():
    start = torch.tensor([0.69, 0.69, 0.69], dtype=DT)
    end = torch.tensor([0.5, float("nan"), float("inf")], dtype=DT)
    assert objective_grew(start, end).tolist() == [False, True, True]


def test_zero_step_batched_reverse_mode_of_a_model_without_stacked_loops():
    # GenericProblem has no batched_unroll: the vmapped loops, whose zero-step
    # forward pass returns a copy of w0.
    cases = [make_case("linear", 1, "single", "l2", seed=s) for s in (0, 1)]
    problem = GenericProblem(cases[0].problem)
    stack = {k: torch.stack([getattr(c, k) for c in cases])
             for k in ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")}
    got = batched_hypergradient(problem, stack["w0"], stack["log_lambda"], stack["X"],
                                stack["Y"], stack["X_val"], stack["Y_val"],
                                n_poison=cases[0].n_poison, steps=0, lr=0.5)
    for k, case in enumerate(cases):
        want = compute_hypergradient(problem, *_args(case), n_poison=case.n_poison, steps=0,
                                     lr=0.5)
        torch.testing.assert_close(got.val_loss[k], want.val_loss, rtol=1e-12, atol=0)
        assert torch.equal(got.params[k], case.w0)
        assert not got.grad_log_lambda[k].any() and not got.grad_X_poison[k].any()
    got.params.add_(1.0)                 # a copy, not the caller's w0
    assert torch.equal(stack["w0"][0], cases[0].w0)


@pytest.mark.parametrize("name", ["w0", "log_lambda", "X", "Y", "X_val", "Y_val"])
def test_a_non_tensor_argument_is_named(name):
    case = make_case("linear", 1, "single", "l2", steps=3)
    args = _args(case, **{name: getattr(case, name).numpy()})
    with pytest.raises(TypeError, match=f"^{name} must be a torch.Tensor; got ndarray.$"):
        compute_hypergradient(case.problem, *args, n_poison=case.n_poison, steps=3,
                              lr=case.lr)


@pytest.mark.parametrize("lr", ["0.5", True, np.str_("1"), torch.tensor(0.5j)],
                         ids=["str", "bool", "numpy-str", "complex-tensor"])
def test_a_rate_that_is_not_a_real_number_is_refused(lr):
    case = make_case("linear", 1, "single", "l2", steps=3)
    with pytest.raises(ValueError, match="^lr must be a finite positive number; got"):
        compute_hypergradient(case.problem, *_args(case), n_poison=case.n_poison, steps=3,
                              lr=lr)


@pytest.mark.parametrize("name", ["X", "X_val"])
def test_integer_features_are_refused(name):
    case = make_case("linear", 1, "single", "l2", steps=3)
    args = _args(case, **{name: getattr(case, name).round().long()})
    with pytest.raises(ValueError,
                       match=f"^{name} must be a floating-point tensor; got torch.int64.$"):
        compute_hypergradient(case.problem, *args, n_poison=case.n_poison, steps=3,
                              lr=case.lr)


def test_implicit_hypergradient_refuses_an_unknown_solver():
    case = make_case("linear", 1, "single", "l2", steps=3)
    with pytest.raises(ValueError, match=r"^solver='lu' must be one of \['cg', 'exact'\].$"):
        implicit_hypergradient(case.problem, *_args(case), n_poison=case.n_poison, steps=3,
                               lr=case.lr, solver="lu")
