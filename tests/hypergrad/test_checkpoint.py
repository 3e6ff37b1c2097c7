"""Checkpointed reverse mode equals the stored-trajectory reverse mode."""

from __future__ import annotations

import pytest
import torch
from hg_cases import CONFIG_IDS, CONFIGS, assert_close_rel, make_case

from skpoison.hypergrad import Unroll
from skpoison.hypergrad._checkpoint import segment_lengths

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
