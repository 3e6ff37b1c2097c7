"""Stacked CPU problems too large for the cache run one after another.

With the size limit forced to 0, every batched call below runs problem by
problem (``_one_by_one``): each row is then bitwise the problem's own call.
"""

from __future__ import annotations

import pytest
import torch
from hg_cases import CONFIG_IDS, CONFIGS, DT, make_case
from test_batched import stacked_cases

from skpoison.hypergrad import (
    InnerDivergenceError,
    batched_hypergradient,
    batched_train,
    compute_hypergradient,
    train,
)

FIELDS = ("val_loss", "grad_log_lambda", "grad_X_poison", "params")


@pytest.fixture
def one_by_one(monkeypatch):
    # The namespace the batched functions run in (see tests/experiments/test_sweep.py
    # for why not the module object from sys.modules).
    monkeypatch.setitem(batched_hypergradient.__globals__, "_CPU_LOCKSTEP_BYTES", 0)


def run(case, stack, lr, **options):
    return batched_hypergradient(case.problem, stack["w0"], stack["log_lambda"], stack["X"],
                                 stack["Y"], stack["X_val"], stack["Y_val"],
                                 n_poison=case.n_poison, steps=case.steps, lr=lr, **options)


@pytest.mark.usefixtures("one_by_one")
@pytest.mark.parametrize("schedule", [None, "sqrt"], ids=["stored", "sqrt"])
@pytest.mark.parametrize("penalty", ["l2", "l1"])
@pytest.mark.parametrize(("model", "k", "mode"), CONFIGS, ids=CONFIG_IDS)
def test_rows_are_bitwise_the_separate_calls(model, k, mode, penalty, schedule):
    cases, stack = stacked_cases(model, k, mode, penalty)
    rates = [0.3, 0.4, 0.5]
    result = run(cases[0], stack, torch.tensor(rates, dtype=DT), checkpoint_every=schedule)
    trained = batched_train(cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"],
                            stack["Y"], steps=cases[0].steps, lr=rates)
    for i, (case, lr) in enumerate(zip(cases, rates)):
        own = compute_hypergradient(case.problem, case.w0, case.log_lambda, case.X, case.Y,
                                    case.X_val, case.Y_val, n_poison=case.n_poison,
                                    steps=case.steps, lr=lr, checkpoint_every=schedule)
        for name in FIELDS:
            assert torch.equal(getattr(result, name)[i], getattr(own, name)), name
        assert torch.equal(trained[i], train(case.problem, case.w0, case.log_lambda, case.X,
                                             case.Y, steps=case.steps, lr=lr))


@pytest.mark.usefixtures("one_by_one")
def test_divergence_still_names_the_problems_and_their_rates():
    cases, stack = stacked_cases("linear", 1, "single", "l2", K=3, steps=200)
    stack["log_lambda"][2] = 12.0    # 1 - lr * exp(12): the iterates blow up
    lrs = torch.tensor([0.5, 0.25, 0.75], dtype=DT)
    with pytest.raises(InnerDivergenceError, match=r"problems \[2\] of 3: inner_lr=\[0.75\]"):
        run(cases[0], stack, lrs)
    with pytest.raises(InnerDivergenceError, match=r"problems \[2\] of 3: inner_lr=\[0.75\]"):
        batched_train(cases[0].problem, stack["w0"], stack["log_lambda"], stack["X"],
                      stack["Y"], steps=200, lr=lrs)
    stack["log_lambda"][2] = 0.0
    stack["X"][1, :, 0] = 1e308   # (overflowing products; NaN features are named as such)
    with pytest.raises(InnerDivergenceError, match=r"problems \[1\] of 3 \(NaN/inf"):
        run(cases[0], stack, 0.5)


def test_only_large_cpu_stacks_run_one_by_one():
    one_by_one = batched_hypergradient.__globals__["_one_by_one"]
    limit = batched_hypergradient.__globals__["_CPU_LOCKSTEP_BYTES"]
    case = make_case("linear", 1, "single", "l2")
    small = case.X.expand(3, *case.X.shape)
    assert not one_by_one(small)
    d = case.X.shape[1]
    per_problem = batched_hypergradient.__globals__["_CPU_LOCKSTEP_PROBLEM_BYTES"]
    rows = per_problem // (2 * 8 * d)   # float64: each problem at its own limit
    K = limit // (2 * 8 * d * rows) + 1   # the stack just over the total limit
    assert one_by_one(torch.zeros(K, rows, d, dtype=torch.float64))
    assert not one_by_one(torch.zeros(K - 1, rows, d, dtype=torch.float64))
    # One problem's features beyond their own limit, in a stack below the total one:
    assert not one_by_one(torch.zeros(2, rows, d, dtype=torch.float64))
    assert one_by_one(torch.zeros(2, rows + 1, d, dtype=torch.float64))
    assert 2 * 2 * (rows + 1) * d * 8 < limit


def test_one_by_one_checks_each_problems_own_rate(monkeypatch):
    # H3: problem by problem, the L2-rate verdict uses that problem's rate.
    from skpoison.hypergrad import InnerDivergenceError, batched_hypergradient
    from skpoison.models import LinearProblem
    monkeypatch.setitem(batched_hypergradient.__globals__, "_CPU_LOCKSTEP_BYTES", 0)
    problem = LinearProblem(3, 1)
    generator = torch.Generator().manual_seed(0)
    X = torch.rand(2, 8, 3, generator=generator, dtype=torch.float64)
    Y = (torch.rand(2, 8, 1, generator=generator) > 0.5).to(torch.float64)
    w0, log_lambda = problem.init_params(dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    lr = torch.tensor([0.5, 2.5], dtype=torch.float64)
    with pytest.raises(InnerDivergenceError,
                       match=r"problems \[1\] of 2: inner_lr=\[2.5\] times the largest L2"):
        batched_hypergradient(problem, w0, log_lambda, X, Y, X, Y, steps=3, lr=lr)
