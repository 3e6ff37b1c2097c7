"""batched_hypergradient and batched_train equal K separate calls."""

from __future__ import annotations

import pytest
import torch
from hg_cases import CONFIG_IDS, CONFIGS, DT, GenericProblem, assert_close_rel, make_case

from skpoison.hypergrad import (
    InnerDivergenceError,
    batched_hypergradient,
    batched_train,
    train,
)
from skpoison.models import LinearProblem


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


def assert_rows_match(result, cases, rtol, values_rtol=None):
    """Row ``k`` of a batched result equals case ``k``'s own reverse-mode result.

    The gradients to ``rtol``; with ``values_rtol``, ``w_T`` and the
    validation loss to it as well.
    """
    for i, case in enumerate(cases):
        reference = case.hypergradient("rmd")
        assert_close_rel(result.grad_log_lambda[i], reference.grad_log_lambda, rtol, "lambda")
        assert_close_rel(result.grad_X_poison[i], reference.grad_X_poison, rtol, "poison")
        if values_rtol is not None:
            assert_close_rel(result.params[i], reference.params, values_rtol, "params")
            assert_close_rel(result.val_loss[i], reference.val_loss, values_rtol, "loss")


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
    assert_rows_match(result, cases, 1e-12, values_rtol=1e-13)


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_shared_start_and_lambda_broadcast(model):
    cases, stack = stacked_cases(model, 1, "single", "l2", K=2)
    for case in cases:
        case.log_lambda = cases[0].log_lambda
        case.w0 = cases[0].w0
    stack["w0"], stack["log_lambda"] = cases[0].w0, cases[0].log_lambda   # 1-D: shared
    result = batched(cases[0], stack)
    assert_rows_match(result, cases, 1e-12)


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
    with pytest.raises(InnerDivergenceError, match=r"problems \[1\] of 3: .* largest L2 weight"):
        batched(cases[0], stack)
    # (finite features that overflow the products: a NaN feature is named as such)
    stack["X"][2, :, 0] = 1e308
    with pytest.raises(InnerDivergenceError, match=r"problems \[1\] of 3: .* Problems \[2\] "
                                                   "also have NaN/inf"):
        batched(cases[0], stack)
    stack["log_lambda"][1] = 0.0
    with pytest.raises(InnerDivergenceError, match=r"problems \[2\] of 3 \(NaN/inf"):
        batched(cases[0], stack)


def test_a_chaotic_problem_is_named():
    # Problem 1's features x 30 with a large rate: its objective explodes while
    # finite (the smooth-objective check); problems 0 and 2 stay stable.
    cases, stack = stacked_cases("mlp", 1, "single", "l2", K=3, steps=30, lr=2.0,
                                 log_lambda=-12.0)
    for name in ("w0", "log_lambda", "Y"):   # problem 1: the oracle test's chaotic case
        stack[name][1] = getattr(cases[0], name)
    stack["X"][1] = cases[0].X * 30
    stack["X"][[0, 2]] *= 0.1
    with pytest.raises(InnerDivergenceError, match=r"problems \[1\] of 3: the training "
                                                   r"objective rose"):
        batched(cases[0], stack)
    with pytest.raises(InnerDivergenceError, match=r"problems \[1\] of 3"):
        batched_train(cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"],
                      stack["Y"], steps=30, lr=2.0)


def test_bad_inputs():
    cases, stack = stacked_cases("linear", 1, "single", "l2", K=2)
    with pytest.raises(ValueError, match="method='cg'"):
        batched(cases[0], stack, method="cg")
    with pytest.raises(ValueError, match="X must have shape"):
        batch = dict(stack, X=stack["X"][0])
        batched(cases[0], batch)
    with pytest.raises(ValueError, match="Y_val must have a leading dimension"):
        batched(cases[0], dict(stack, Y_val=stack["Y_val"][:1]))
    # K = 0 was an IndexError from deep inside (the CPU's lock-step rule read X[0])
    empty = {name: t[:0] for name, t in stack.items()}
    with pytest.raises(ValueError, match=r"X holds no problem \(K = 0\)"):
        batched(cases[0], empty)
    with pytest.raises(ValueError, match=r"X holds no problem \(K = 0\)"):
        batched_train(cases[0].problem, empty["w0"], empty["log_lambda"], empty["X"],
                      empty["Y"], steps=3, lr=0.1)


def test_float32_batched():
    cases, stack = stacked_cases("linear", 1, "per_feature", "l2", K=2)
    result64 = batched(cases[0], stack)
    result32 = batched(cases[0], {name: t.float() for name, t in stack.items()})
    assert result32.grad_X_poison.dtype == torch.float32
    assert_close_rel(result32.grad_X_poison.to(DT), result64.grad_X_poison, 1e-4, "poison")


# -- one learning rate per problem ----------------------------------------------------
LRS = (0.2, 0.5, 0.9)
LR_CONFIGS = [("linear", 1, "per_feature"), ("linear", 3, "per_feature"),
              ("mlp", 3, "per_layer")]
LR_IDS = [f"{m}-k{k}-{mode}" for m, k, mode in LR_CONFIGS]


def per_problem_lr_cases(model, k, mode, penalty, steps=8, **options):
    cases, stack = stacked_cases(model, k, mode, penalty, K=len(LRS), steps=steps, **options)
    for case, lr in zip(cases, LRS):
        case.lr = lr
    return cases, stack, torch.tensor(LRS, dtype=DT)


@pytest.mark.parametrize("as_list", [False, True], ids=["tensor", "list"])
@pytest.mark.parametrize("penalty", ["l2", "l1"])
@pytest.mark.parametrize(("model", "k", "mode"), LR_CONFIGS, ids=LR_IDS)
def test_per_problem_lr_equals_separate_calls(model, k, mode, penalty, as_list):
    cases, stack, lrs = per_problem_lr_cases(model, k, mode, penalty)
    result = batched_hypergradient(
        cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"], stack["Y"],
        stack["X_val"], stack["Y_val"], n_poison=cases[0].n_poison, steps=cases[0].steps,
        lr=list(LRS) if as_list else lrs)
    assert_rows_match(result, cases, 1e-11, values_rtol=1e-12)


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_equal_per_problem_lrs_match_shared_lr(model):
    cases, stack = stacked_cases(model, 3, "single", "l2", K=2, steps=5)
    shared = batched(cases[0], stack)
    per_problem = batched_hypergradient(
        cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"], stack["Y"],
        stack["X_val"], stack["Y_val"], n_poison=cases[0].n_poison, steps=cases[0].steps,
        lr=torch.full((2,), cases[0].lr, dtype=DT))
    for name in ("val_loss", "grad_log_lambda", "grad_X_poison", "params"):
        assert_close_rel(getattr(per_problem, name), getattr(shared, name), 1e-12, name)


@pytest.mark.parametrize("penalty", ["l2", "l1"])
@pytest.mark.parametrize(("model", "k", "mode"), LR_CONFIGS, ids=LR_IDS)
def test_batched_train_equals_separate_train(model, k, mode, penalty):
    cases, stack, lrs = per_problem_lr_cases(model, k, mode, penalty)
    problem = cases[0].problem
    W = batched_train(problem, stack["w0"], stack["log_lambda"], stack["X"], stack["Y"],
                      steps=cases[0].steps, lr=lrs)
    assert W.shape == stack["w0"].shape
    shared = batched_train(problem, stack["w0"], stack["log_lambda"], stack["X"],
                           stack["Y"], steps=cases[0].steps, lr=0.5)
    for i, case in enumerate(cases):
        reference = train(problem, case.w0, case.log_lambda, case.X, case.Y,
                          steps=case.steps, lr=case.lr)
        assert_close_rel(W[i], reference, 1e-12, "per-problem lr")
        reference = train(problem, case.w0, case.log_lambda, case.X, case.Y,
                          steps=case.steps, lr=0.5)
        assert_close_rel(shared[i], reference, 1e-12, "shared lr")


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_batched_train_matches_hypergradient_params_and_broadcasts(model):
    cases, stack, lrs = per_problem_lr_cases(model, 1, "single", "l2")
    problem, w0, lam = cases[0].problem, cases[0].w0, cases[0].log_lambda
    W = batched_train(problem, w0, lam, stack["X"], stack["Y"], steps=cases[0].steps,
                      lr=lrs)                                   # 1-D: shared start and λ
    result = batched_hypergradient(problem, w0, lam, stack["X"], stack["Y"], stack["X_val"],
                                   stack["Y_val"], n_poison=cases[0].n_poison,
                                   steps=cases[0].steps, lr=lrs)
    assert_close_rel(W, result.params, 1e-13, "params")
    for i, case in enumerate(cases):
        reference = train(problem, w0, lam, case.X, case.Y, steps=case.steps, lr=case.lr)
        assert_close_rel(W[i], reference, 1e-12, "train")
    assert torch.equal(batched_train(problem, w0, lam, stack["X"], stack["Y"], steps=0,
                                     lr=lrs), w0.expand(len(LRS), -1))


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_divergence_names_the_problems_and_their_lr(model):
    cases, stack = stacked_cases(model, 1, "single", "l2", K=3, steps=200)
    stack["log_lambda"][2] = 12.0    # 1 - lr * exp(12): the iterates blow up
    lrs = torch.tensor([0.5, 0.25, 0.75], dtype=DT)
    culprit = r"problems \[2\] of 3: inner_lr=\[0.75\] times"
    with pytest.raises(InnerDivergenceError, match=culprit):
        batched_hypergradient(cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"],
                              stack["Y"], stack["X_val"], stack["Y_val"], steps=200, lr=lrs)
    with pytest.raises(InnerDivergenceError, match=culprit):
        batched_train(cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"],
                      stack["Y"], steps=200, lr=lrs)


BAD_LRS = [
    (torch.tensor([0.5, 0.5, 0.5], dtype=DT), r"shape \(K,\) = \(2,\).*got shape \(3,\)"),
    (torch.full((2, 1), 0.5, dtype=DT), r"got shape \(2, 1\)"),
    ([0.5], r"got shape \(1,\)"),
    (torch.tensor([0.5, 0.0], dtype=DT), "finite and positive"),
    (torch.tensor([0.5, -0.1], dtype=DT), "finite and positive"),
    (torch.tensor([0.5, float("nan")], dtype=DT), "finite and positive"),
    ([0.5, float("inf")], "finite and positive"),
    (0.0, "finite positive number"),
    (-1.0, "finite positive number"),
    (float("nan"), "finite positive number"),
    ("fast", "lr must be a float"),
]


@pytest.mark.parametrize(("lr", "message"), BAD_LRS)
@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_bad_lr_raises(model, lr, message):
    cases, stack = stacked_cases(model, 1, "single", "l2", K=2, steps=2)
    with pytest.raises(ValueError, match=message):
        batched_hypergradient(cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"],
                              stack["Y"], stack["X_val"], stack["Y_val"], steps=2, lr=lr)
    with pytest.raises(ValueError, match=message):
        batched_train(cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"],
                      stack["Y"], steps=2, lr=lr)


@pytest.mark.parametrize("lr", [True, [True, True], torch.tensor([True, True]),
                                torch.tensor(0.5j), [0.5j, 1.0j], torch.tensor([0.5, 1.0j])],
                         ids=["bool", "bools", "bool-tensor", "complex-tensor", "complex-list",
                              "complex-rates"])
def test_a_rate_that_is_not_a_real_number_is_refused(lr):
    # As compute_hypergradient refuses them: a bool or a complex number is no rate
    # (True was read as 1.0, a complex rate lost its imaginary part or failed in torch).
    cases, stack = stacked_cases("linear", 1, "single", "l2", K=2, steps=2)
    with pytest.raises(ValueError, match="^lr must be a float or a 1-D tensor of K positive"):
        batched_hypergradient(cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"],
                              stack["Y"], stack["X_val"], stack["Y_val"], steps=2, lr=lr)
    with pytest.raises(ValueError, match="^lr must be a float or a 1-D tensor of K positive"):
        batched_train(cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"],
                      stack["Y"], steps=2, lr=lr)


def test_zero_dim_lr_tensor_is_shared():
    cases, stack = stacked_cases("linear", 1, "single", "l2", K=2, steps=3)
    W = batched_train(cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"],
                      stack["Y"], steps=3, lr=torch.tensor(cases[0].lr, dtype=DT))
    V = batched_train(cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"],
                      stack["Y"], steps=3, lr=cases[0].lr)
    assert torch.equal(W, V)


@pytest.mark.parametrize("schedule", [5, "sqrt", (9, 3)], ids=["k5", "sqrt", "two-level"])
@pytest.mark.parametrize("penalty", ["l2", "l1"])
@pytest.mark.parametrize(("model", "k", "mode"), CONFIGS, ids=CONFIG_IDS)
def test_checkpointed_batched_equals_separate_calls(model, k, mode, penalty, schedule):
    cases, stack = stacked_cases(model, k, mode, penalty, steps=23)
    result = batched(cases[0], stack, checkpoint_every=schedule)
    assert_rows_match(result, cases, 1e-11, values_rtol=1e-13)


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_checkpointed_batched_with_per_problem_lr_and_shared_start(model):
    cases, stack, lrs = per_problem_lr_cases(model, 3, "single", "l2", steps=17)
    for case in cases:
        case.w0 = cases[0].w0
    result = batched_hypergradient(
        cases[0].problem, cases[0].w0, stack["log_lambda"], stack["X"], stack["Y"],
        stack["X_val"], stack["Y_val"], n_poison=cases[0].n_poison, steps=17, lr=lrs,
        checkpoint_every="cbrt")
    assert_rows_match(result, cases, 1e-11)


def test_checkpointed_batched_rejects_a_bad_schedule():
    cases, stack = stacked_cases("linear", 1, "single", "l2", K=2)
    with pytest.raises(ValueError, match="must decrease"):
        batched(cases[0], stack, checkpoint_every=(3, 5))


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_checkpointed_batched_records_short_segments_only(model, monkeypatch):
    from skpoison.hypergrad import _batched

    cases, stack = stacked_cases(model, 1, "single", "l2", K=2, steps=23)
    unroll = _batched._batched_unroll(cases[0].problem, stack["log_lambda"], stack["X"],
                                      stack["Y"], lr=cases[0].lr, n_poison=cases[0].n_poison)
    recorded = []
    forward = type(unroll).forward

    def spy(self, w0, steps, **kwargs):
        recorded.append(steps)
        return forward(self, w0, steps, **kwargs)

    monkeypatch.setattr(type(unroll), "forward", spy)
    batched(cases[0], stack, checkpoint_every=5)
    assert recorded and max(recorded) <= 5
    recorded.clear()
    batched(cases[0], stack)
    assert recorded == [23]


@pytest.mark.parametrize("schedule", [None, 4])
@pytest.mark.parametrize("per_problem_lr", [False, True])
def test_a_generic_problem_batches_through_vmap(schedule, per_problem_lr):
    cases, stack = stacked_cases("linear", 3, "per_feature", "l2", K=3, steps=9)
    generic = GenericProblem(cases[0].problem)
    lrs = [0.3, 0.5, 0.4] if per_problem_lr else [cases[0].lr] * 3
    result = batched_hypergradient(
        generic, stack["w0"], stack["log_lambda"], stack["X"], stack["Y"], stack["X_val"],
        stack["Y_val"], n_poison=cases[0].n_poison, steps=9,
        lr=lrs if per_problem_lr else cases[0].lr, checkpoint_every=schedule)
    for case, lr in zip(cases, lrs):
        case.lr = lr
    assert_rows_match(result, cases, 1e-11)     # against the model's own closed forms
    trained = batched_train(generic, stack["w0"], stack["log_lambda"], stack["X"],
                            stack["Y"], steps=9, lr=lrs if per_problem_lr else lrs[0])
    assert_close_rel(trained, result.params, 1e-13, "params")


@pytest.fixture
def transposed_views(monkeypatch):
    """The batched linear loops as on a GPU: ``X1^T`` a view of the design, not a copy.

    Rows padded to 64 bytes (8 float64 values), so that the padded layout is
    exercised whatever the test's number of features.
    """
    from skpoison.models._linear_unroll_batched import BatchedLinearUnroll
    # (the globals the class really reads: --import-mode=importlib may import twice)
    module = BatchedLinearUnroll.__init__.__globals__
    monkeypatch.setitem(module, "TRANSPOSED_COPY_DEVICES", frozenset())
    monkeypatch.setitem(module, "DESIGN_ROW_ALIGNMENT", 64)
    return BatchedLinearUnroll


LINEAR_CONFIGS = [c for c in CONFIGS if c[0] == "linear"]


@pytest.mark.parametrize("per_problem_lr", [False, True], ids=["shared-lr", "lr-per-problem"])
@pytest.mark.parametrize("penalty", ["l2", "l1"])
@pytest.mark.parametrize(("model", "k", "mode"), LINEAR_CONFIGS,
                         ids=[f"k{k}-{mode}" for _, k, mode in LINEAR_CONFIGS])
def test_transposed_view_of_the_design_equals_separate_calls(transposed_views, model, k,
                                                             mode, penalty, per_problem_lr):
    cases, stack, lrs = per_problem_lr_cases(model, k, mode, penalty)
    if not per_problem_lr:
        for case in cases:
            case.lr = LRS[0]
    unroll = transposed_views(cases[0].problem, stack["log_lambda"], stack["X"], stack["Y"],
                              lr=lrs if per_problem_lr else LRS[0])
    assert not unroll.X1T.is_contiguous()
    assert unroll.X1T.data_ptr() == unroll.X1.data_ptr()      # one design, no copy
    assert unroll.X1.stride(1) % 8 == 0                         # aligned rows
    result = batched_hypergradient(
        cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"], stack["Y"],
        stack["X_val"], stack["Y_val"], n_poison=cases[0].n_poison, steps=cases[0].steps,
        lr=lrs if per_problem_lr else LRS[0])
    assert_rows_match(result, cases, 1e-11, values_rtol=1e-12)


@pytest.mark.parametrize("k", [1, 3])
def test_the_padding_of_the_designs_rows_is_never_read(transposed_views, monkeypatch, k):
    cases, stack, lrs = per_problem_lr_cases("linear", k, "per_feature", "l2")
    args = (cases[0].problem, stack["log_lambda"], stack["X"], stack["Y"])
    padded = transposed_views(*args, lr=lrs, n_poison=cases[0].n_poison)
    d1 = padded.X1.shape[-1]
    assert padded.X1.stride(1) > d1
    padded.X1._base[..., d1:] = float("nan")
    monkeypatch.setitem(transposed_views.__init__.__globals__, "DESIGN_ROW_ALIGNMENT", 1)
    reference = transposed_views(*args, lr=lrs, n_poison=cases[0].n_poison)
    assert reference.X1.is_contiguous()
    w0 = stack["w0"]
    for unroll in (padded, reference):
        w_T, tape = unroll.forward(w0, 6)
        unroll.outputs = (w_T, unroll.backward(tape, torch.ones_like(w_T)),
                          unroll.train(w0, 6))
    for ours, theirs in zip(padded.outputs, reference.outputs):
        for a, b in zip(torch.utils._pytree.tree_flatten(ours)[0],    # (torch 2.1 has
                        torch.utils._pytree.tree_flatten(theirs)[0]):   # no tree_leaves)
            assert torch.isfinite(a).all()
            torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)


def test_a_target_without_the_problems_dimension_is_a_value_error():
    problem = LinearProblem(2, 1)
    X = torch.rand(3, 6, 2, dtype=DT)
    Y = (torch.rand(3, 6, 1) < 0.5).to(DT)
    with pytest.raises(ValueError, match="leading dimension of size K=3"):
        batched_hypergradient(problem, problem.init_params(), torch.zeros(1, dtype=DT), X,
                              torch.tensor(1.0, dtype=DT), X, Y, steps=3, lr=0.5)
