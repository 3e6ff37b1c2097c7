"""batched_hypergradient equals K separate reverse-mode calls."""

from __future__ import annotations

import pytest
import torch
from hg_cases import CONFIG_IDS, CONFIGS, DT, assert_close_rel, make_case

from skpoison.hypergrad import InnerDivergenceError, batched_hypergradient


def stacked_cases(model, k, mode, penalty, K=3, **options):
    cases = [make_case(model, k, mode, penalty, seed=seed, **options) for seed in range(K)]
    for i, case in enumerate(cases):    # a different λ per problem as well
        case.log_lambda = case.log_lambda + 0.4 * i
    stack = {name: torch.stack([getattr(c, name) for c in cases])
             for name in ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")}
    return cases, stack


def batched(case, stack, **options):
    return batched_hypergradient(case.problem, stack["w0"], stack["log_lambda"], stack["X"],
                                 stack["Y"], stack["X_val"], stack["Y_val"],
                                 n_poison=case.n_poison, steps=case.steps, lr=case.lr,
                                 **options)


@pytest.mark.parametrize("penalty", ["l2", "l1"])
@pytest.mark.parametrize(("model", "k", "mode"), CONFIGS, ids=CONFIG_IDS)
def test_batched_equals_separate_calls(model, k, mode, penalty):
    cases, stack = stacked_cases(model, k, mode, penalty)
    result = batched(cases[0], stack)
    K = len(cases)
    assert result.val_loss.shape == (K,)
    assert result.grad_log_lambda.shape == stack["log_lambda"].shape
    assert result.grad_X_poison.shape == (K, cases[0].n_poison, stack["X"].shape[2])
    assert result.params.shape == stack["w0"].shape
    for i, case in enumerate(cases):
        reference = case.hypergradient("rmd")
        assert_close_rel(result.grad_log_lambda[i], reference.grad_log_lambda, 1e-12, "lambda")
        assert_close_rel(result.grad_X_poison[i], reference.grad_X_poison, 1e-12, "poison")
        assert_close_rel(result.params[i], reference.params, 1e-13, "params")
        assert_close_rel(result.val_loss[i], reference.val_loss, 1e-13, "loss")


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_shared_start_and_lambda_broadcast(model):
    cases, stack = stacked_cases(model, 1, "single", "l2", K=2)
    for case in cases:
        case.log_lambda = cases[0].log_lambda
        case.w0 = cases[0].w0
    stack["w0"], stack["log_lambda"] = cases[0].w0, cases[0].log_lambda   # 1-D: shared
    result = batched(cases[0], stack)
    for i, case in enumerate(cases):
        reference = case.hypergradient("rmd")
        assert_close_rel(result.grad_X_poison[i], reference.grad_X_poison, 1e-12, "poison")
        assert_close_rel(result.grad_log_lambda[i], reference.grad_log_lambda, 1e-12, "lam")


@pytest.mark.parametrize("steps", [0, 1])
@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_degenerate_steps_and_no_poison(model, steps):
    cases, stack = stacked_cases(model, 3, "single", "l2", K=2, steps=steps, n_poison=0)
    result = batched(cases[0], stack)
    assert result.grad_X_poison.shape == (2, 0, stack["X"].shape[2])
    for i, case in enumerate(cases):
        reference = case.hypergradient("rmd")
        torch.testing.assert_close(result.grad_log_lambda[i], reference.grad_log_lambda)


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_divergence_names_the_problems(model):
    cases, stack = stacked_cases(model, 1, "single", "l2", K=3, steps=200)
    stack["log_lambda"][1] = 12.0    # 1 - lr * exp(12): the iterates blow up
    with pytest.raises(InnerDivergenceError, match=r"problems \[1\] of 3"):
        batched(cases[0], stack)


def test_bad_inputs():
    cases, stack = stacked_cases("linear", 1, "single", "l2", K=2)
    with pytest.raises(ValueError, match="method='cg'"):
        batched(cases[0], stack, method="cg")
    with pytest.raises(ValueError, match="X must have shape"):
        batch = dict(stack, X=stack["X"][0])
        batched(cases[0], batch)
    with pytest.raises(ValueError, match="Y_val must have a leading dimension"):
        batched(cases[0], dict(stack, Y_val=stack["Y_val"][:1]))


def test_float32_batched():
    cases, stack = stacked_cases("linear", 1, "per_feature", "l2", K=2)
    result64 = batched(cases[0], stack)
    result32 = batched(cases[0], {name: t.float() for name, t in stack.items()})
    assert result32.grad_X_poison.dtype == torch.float32
    assert_close_rel(result32.grad_X_poison.to(DT), result64.grad_X_poison, 1e-4, "poison")
