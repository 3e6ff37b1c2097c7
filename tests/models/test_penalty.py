"""GroupPenalty: values, L1 subgradient, unpenalized parameters, groups."""

from __future__ import annotations

import pytest
import torch

from skpoison.models import PENALTIES, GroupPenalty, LinearProblem, MLPProblem

DT = torch.float64


def test_values_gradients_and_hessian():
    index = torch.tensor([0, 0, 1, -1])
    lam = torch.log(torch.tensor([2.0, 3.0], dtype=DT))
    w = torch.tensor([1.0, -2.0, 0.5, 7.0], dtype=DT)
    l2, l1 = GroupPenalty("l2", index, 2), GroupPenalty("l1", index, 2)
    assert float(l2.value(w, lam)) == pytest.approx(2 * 0.5 * 5 + 3 * 0.5 * 0.25)
    assert float(l1.value(w, lam)) == pytest.approx(2 * 3 + 3 * 0.5)
    torch.testing.assert_close(l2.grad(w, lam), torch.tensor([2.0, -4.0, 1.5, 0.0], dtype=DT))
    torch.testing.assert_close(l1.grad(w, lam), torch.tensor([2.0, -2.0, 3.0, 0.0], dtype=DT))
    v = torch.ones(4, dtype=DT)
    torch.testing.assert_close(l2.hvp(lam, v), torch.tensor([2.0, 2.0, 3.0, 0.0], dtype=DT))
    assert not torch.any(l1.hvp(lam, v))
    # (d/d lambda_g grad)^T a = sum over group g of alpha_g dR(w_i) a_i
    torch.testing.assert_close(l2.mixed_vjp(w, lam, v), torch.tensor([2.0 * -1, 3.0 * 0.5],
                                                                     dtype=DT))
    torch.testing.assert_close(l1.mixed_vjp(w, lam, v), torch.tensor([0.0, 3.0], dtype=DT))


def test_l1_subgradient_at_zero_is_zero():
    pen = GroupPenalty("l1", torch.zeros(3, dtype=torch.long), 1)
    w = torch.tensor([0.0, -0.0, 1e-300], dtype=DT)
    torch.testing.assert_close(pen.grad(w, torch.zeros(1, dtype=DT)),
                               torch.tensor([0.0, 0.0, 1.0], dtype=DT))
    assert float(pen.value(torch.zeros(3, dtype=DT), torch.zeros(1, dtype=DT))) == 0.0


def test_penalty_gradient_matches_autograd():
    index = torch.tensor([1, 0, -1, 1, 0])
    lam = torch.tensor([0.3, -0.7], dtype=DT)
    w = torch.tensor([0.4, -1.2, 2.0, -0.1, 0.9], dtype=DT)
    a = torch.tensor([1.0, -2.0, 3.0, 0.5, 1.5], dtype=DT)
    for kind in PENALTIES:
        pen = GroupPenalty(kind, index, 2)
        torch.testing.assert_close(pen.grad(w, lam), torch.func.grad(pen.value)(w, lam))
        mixed = torch.func.grad(lambda lam_: torch.func.grad(pen.value)(w, lam_) @ a)(lam)
        torch.testing.assert_close(pen.mixed_vjp(w, lam, a), mixed)


@pytest.mark.parametrize("kind", PENALTIES)
def test_biases_are_not_penalized(kind):
    lam = torch.zeros(1, dtype=DT)
    linear = LinearProblem(3, 2, kind)
    w = torch.ones(linear.n_params, dtype=DT)
    _, b = linear.unflatten(linear.penalty.grad(w, lam))
    assert not torch.any(b)
    mlp = MLPProblem(3, (4,), 2, kind)
    for (W, b) in mlp.unflatten(mlp.penalty.grad(torch.ones(mlp.n_params, dtype=DT), lam)):
        assert torch.all(W == 1.0) and not torch.any(b)


def test_groups_and_group_sum():
    pen = GroupPenalty("l2", torch.tensor([2, -1, 0, 2]), 3)
    torch.testing.assert_close(pen.group_sum(torch.tensor([1.0, 0.0, 2.0, 3.0], dtype=DT)),
                               torch.tensor([2.0, 0.0, 4.0], dtype=DT))
    alpha = pen.alpha(torch.log(torch.tensor([1.0, 2.0, 3.0], dtype=DT)))
    torch.testing.assert_close(alpha, torch.tensor([3.0, 0.0, 1.0, 3.0], dtype=DT))


def test_invalid_kind_and_device_move():
    with pytest.raises(ValueError, match="penalty='l3'"):
        GroupPenalty("l3", torch.zeros(2, dtype=torch.long), 1)
    pen = GroupPenalty("l2", torch.tensor([0, -1]), 1).to("cpu")
    assert pen.group_index.device.type == "cpu"
