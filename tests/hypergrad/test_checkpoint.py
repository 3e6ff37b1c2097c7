"""Checkpointed reverse mode equals the stored-trajectory reverse mode."""

from __future__ import annotations

import pytest
import torch
from hg_cases import CONFIG_IDS, CONFIGS, DT, assert_close_rel, make_case

from skpoison.hypergrad import Unroll
from skpoison.hypergrad._checkpoint import segment_lengths
from skpoison.hypergrad._unroll import aligned_rows

SCHEDULES = [1, 3, 7, 19, "sqrt", "cbrt", (6, 2)]


def assert_same(result, reference):
    # Same kernels on the same iterates: w_T and L_val are bitwise equal; the
    # hypergradients differ only in the order of the per-segment sums.
    assert torch.equal(result.params, reference.params)
    assert torch.equal(result.val_loss, reference.val_loss)
    assert_close_rel(result.grad_log_lambda, reference.grad_log_lambda, 1e-13, "lambda")
    assert_close_rel(result.grad_X_poison, reference.grad_X_poison, 1e-13, "poison")


@pytest.mark.parametrize("penalty", ["l2", "l1"])
@pytest.mark.parametrize(("model", "k", "mode"), CONFIGS, ids=CONFIG_IDS)
def test_checkpointed_equals_plain_rmd(model, k, mode, penalty):
    case = make_case(model, k, mode, penalty, steps=20)
    reference = case.hypergradient("rmd")
    assert torch.any(reference.grad_X_poison != 0)
    assert torch.all(reference.grad_log_lambda != 0)
    for schedule in SCHEDULES:
        assert_same(case.hypergradient("rmd", checkpoint_every=schedule), reference)


@pytest.mark.parametrize("steps", [0, 1, 2, 5])
@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_short_unrolls(model, steps):
    case = make_case(model, 3, "single", "l2", steps=steps)
    reference = case.hypergradient("rmd")
    for schedule in (1, 2, "sqrt", "cbrt"):
        assert_same(case.hypergradient("rmd", checkpoint_every=schedule), reference)


class CountingUnroll(Unroll):
    """The generic unroll, counting the steps it runs forward."""

    steps_run = 0

    def train(self, w0, steps):
        CountingUnroll.steps_run += steps
        return super().train(w0, steps)

    def forward(self, w0, steps):
        CountingUnroll.steps_run += steps
        return super().forward(w0, steps)


# (8, 3) over 20 steps: segments 8 + 8 + 4; the last (4 = 3 + 1) is planned on
# the first pass and recomputes its 3-step segment (3); each 8-step segment is
# recomputed as 3 + 3 + 2 (8) and recomputes its two 3-step segments (6).
@pytest.mark.parametrize(("schedule", "extra"), [
    (None, 0), (5, 20 - 5), (10, 20 - 10), ((8, 3), 3 + 2 * (8 + 6)),
])
def test_generic_unroll_and_recomputation_count(monkeypatch, schedule, extra):
    """One extra forward pass per level, minus the segments kept from the first."""
    case = make_case("mlp", 1, "per_layer", "l1", steps=20)
    reference = case.hypergradient("rmd")
    monkeypatch.setattr(type(case.problem), "unroll",
                        lambda self, lam, X, Y, *, lr, n_poison=0:
                        CountingUnroll(self, lam, X, Y, lr=lr, n_poison=n_poison))
    CountingUnroll.steps_run = 0
    result = case.hypergradient("rmd", checkpoint_every=schedule)
    assert CountingUnroll.steps_run == 20 + extra
    assert_close_rel(result.grad_log_lambda, reference.grad_log_lambda, 1e-11, "lambda")
    assert_close_rel(result.grad_X_poison, reference.grad_X_poison, 1e-11, "poison")


def test_segment_lengths():
    assert segment_lengths("sqrt", 1000) == [32]
    assert segment_lengths("sqrt", 1) == []
    assert segment_lengths("cbrt", 27) == [9, 3]
    assert segment_lengths((50, 10), 30) == [10]
    assert segment_lengths(30, 30) == []
    for bad in (0, -1, 2.5, True, "log", (3, 5), (4, 4)):
        with pytest.raises(ValueError, match="checkpoint_every"):
            segment_lengths(bad, 10)


@pytest.mark.parametrize("method", ["fmd", "cg", "exact", "autograd"])
def test_checkpoint_is_rmd_only(method):
    case = make_case("linear", 1, "single", "l2")
    with pytest.raises(ValueError, match="reverse-mode option"):
        case.hypergradient(method, checkpoint_every=4)


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_mlp_loops_never_write_their_inputs(penalty):
    """The in-place loops own their buffers: w0, the adjoint and the tape stay as given."""
    case = make_case("mlp", 3, "per_layer", penalty, steps=7)
    unroll = case.problem.unroll(case.log_lambda, case.X, case.Y, lr=case.lr,
                                 n_poison=case.n_poison)
    w0 = case.w0.clone()
    w_T, tape = unroll.forward(case.w0, case.steps)
    assert torch.equal(case.w0, w0)
    assert torch.equal(unroll.train(case.w0, case.steps), w_T)
    assert torch.equal(case.w0, w0)
    a = torch.linspace(-1, 1, case.problem.n_params, dtype=DT)
    a_before = a.clone()
    first = unroll.backward(tape, a, return_adjoint=True)
    second = unroll.backward(tape, a, return_adjoint=True)   # same tape, same adjoint
    assert torch.equal(a, a_before)
    assert first[2] is not a
    for got, want in zip(second, first):
        assert torch.equal(got, want)


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_mlp_tape_recorded_over_a_spent_one(penalty):
    """forward(..., reuse=tape) gives what a new tape gives; shorter segments fit."""
    case = make_case("mlp", 1, "single", penalty, steps=9)
    unroll = case.problem.unroll(case.log_lambda, case.X, case.Y, lr=case.lr,
                                 n_poison=case.n_poison)
    a = torch.linspace(-1, 1, case.problem.n_params, dtype=DT)
    _, spent = unroll.forward(case.w0, 9)
    start = unroll.train(case.w0, 3)
    for steps in (6, 9, 1, 0):
        w_new, fresh = unroll.forward(start, steps)
        w_reused, reused = unroll.forward(start, steps, reuse=spent)
        assert reused is spent and reused.capacity == 9
        assert torch.equal(w_reused, w_new)
        for got, want in zip(unroll.backward(reused, a, return_adjoint=True),
                             unroll.backward(fresh, a, return_adjoint=True)):
            assert torch.equal(got, want)
    _, grown = unroll.forward(start, 12, reuse=spent)        # too short: a new tape
    assert grown is not spent and grown.capacity == 12
    assert unroll.forward(start, 2, capacity=5)[1].capacity == 5


@pytest.mark.parametrize("schedule", [3, 7, "sqrt", "cbrt", (6, 2), (12, 5, 2)])
def test_reverse_pass_reuses_the_memory_of_the_first(monkeypatch, schedule):
    """Checkpoint blocks and the tape are allocated by the first pass only.

    (Reallocating them per segment fragments the heap: see ``_Workspace``.)
    """
    import skpoison.hypergrad._checkpoint as checkpoint
    import skpoison.hypergrad._unroll as unroll_module

    allocations = []

    def counting(like, n_rows, n_cols):
        allocations.append(n_rows)
        return aligned_rows(like, n_rows, n_cols)

    monkeypatch.setattr(checkpoint, "aligned_rows", counting)
    monkeypatch.setattr(unroll_module, "aligned_rows", counting)   # BlockTape
    case = make_case("mlp", 1, "per_layer", "l2", steps=30)
    reference = case.hypergradient("rmd")
    lengths = segment_lengths(schedule, case.steps)
    unroll = case.problem.unroll(case.log_lambda, case.X, case.Y, lr=case.lr,
                                 n_poison=case.n_poison)
    del allocations[:]
    w_T, plan = checkpoint.checkpointed_forward(unroll, case.w0, case.steps, lengths)
    assert len(allocations) == len(lengths) + 1          # one block per level, one tape
    assert allocations[-1] == lengths[-1]                 # the tape fits every segment
    _, a = case.problem.loss_and_grad(w_T, case.X_val, case.Y_val)
    grad_lambda, grad_poison = checkpoint.checkpointed_backward(unroll, plan, a)
    assert len(allocations) == len(lengths) + 1          # nothing more in the reverse pass
    assert torch.equal(w_T, reference.params)
    assert_close_rel(grad_lambda, reference.grad_log_lambda, 1e-13, "lambda")
    assert_close_rel(grad_poison, reference.grad_X_poison, 1e-13, "poison")


@pytest.mark.parametrize("generic", [False, True], ids=["BatchedMLPUnroll", "vmapped"])
@pytest.mark.parametrize("schedule", [7, "cbrt", (12, 5, 2)])
def test_batched_reverse_pass_reuses_the_memory_of_the_first(monkeypatch, schedule, generic):
    """As above, for K batched MLP problems: the model's own batched unroll, and
    the generic one that vmaps ``forward_step`` / ``reverse_step``."""
    import skpoison.hypergrad._batched as batched
    import skpoison.hypergrad._checkpoint as checkpoint
    import skpoison.hypergrad._unroll as unroll_module

    allocations = []

    def counting(like, n_rows, n_cols):
        allocations.append(n_rows)
        return aligned_rows(like, n_rows, n_cols)

    monkeypatch.setattr(checkpoint, "aligned_rows", counting)
    monkeypatch.setattr(unroll_module, "aligned_rows", counting)
    cases = [make_case("mlp", 3, "single", "l1", steps=30, seed=seed) for seed in (0, 1)]
    stack = {name: torch.stack([getattr(c, name) for c in cases])
             for name in ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")}
    lengths = segment_lengths(schedule, 30)
    problem = cases[0].problem
    args = (stack["log_lambda"], stack["X"], stack["Y"])
    options = dict(lr=cases[0].lr, n_poison=cases[0].n_poison)
    unroll = (batched._VmappedUnroll(problem, *args, **options) if generic
              else problem.batched_unroll(*args, **options))
    del allocations[:]
    w_T, plan = checkpoint.checkpointed_forward(unroll, stack["w0"], 30, lengths)
    assert len(allocations) == len(lengths) + 1          # one block per level, one tape
    a = torch.ones_like(w_T)
    grad_lambda, grad_poison = checkpoint.checkpointed_backward(unroll, plan, a)
    assert len(allocations) == len(lengths) + 1          # nothing more in the reverse pass
    for k, case in enumerate(cases):
        single = case.problem.unroll(case.log_lambda, case.X, case.Y, lr=case.lr,
                                     n_poison=case.n_poison)
        w, tape = single.forward(case.w0, 30)
        expected = single.backward(tape, a[k])
        assert_close_rel(grad_lambda[k], expected[0], 1e-12, "lambda")
        assert_close_rel(grad_poison[k], expected[1], 1e-12, "poison")


def test_a_reused_block_tape_remakes_blocks_for_another_cache():
    from skpoison.hypergrad._unroll import BlockTape

    w0 = torch.zeros(3, dtype=DT)
    tape = BlockTape.start(None, w0, steps=2)
    tape.record(0, (torch.ones(5, dtype=DT), torch.ones(2, dtype=DT)))
    reused = BlockTape.start(tape, w0, steps=2)
    assert reused is tape
    reused.record(0, (torch.full((1,), 7.0, dtype=DT),))
    (only,) = reused.cache(0)
    assert torch.equal(only, torch.full((1,), 7.0, dtype=DT))
    blocks = reused.blocks
    reused.record(0, (torch.full((1,), 8.0, dtype=DT),))      # the same cache: kept
    assert reused.blocks is blocks
    again = BlockTape.start(reused, w0, steps=2)
    again.record(0, [torch.ones(4, dtype=torch.float32)])     # another dtype: remade
    again.record(1, [torch.zeros(4, dtype=torch.float32)])
    assert again.cache(1)[0].dtype == torch.float32
    assert torch.equal(again.cache(0)[0], torch.ones(4))
    assert BlockTape.start(tape, w0.float(), steps=2) is not tape    # another dtype
    assert BlockTape.start(tape, torch.zeros(2, 3, dtype=DT), steps=2) is not tape
