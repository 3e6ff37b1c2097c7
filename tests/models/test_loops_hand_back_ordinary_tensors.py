"""The models' loops run under inference mode on the CPU; what they return is ordinary."""

import contextlib

import pytest
import torch

from skpoison.hypergrad._unroll import fast_loops
from skpoison.models import LinearProblem, MLPProblem


def _problems():
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(30, 4, generator=gen, dtype=torch.float64)
    Y = (torch.rand(30, 1, generator=gen) < 0.5).to(torch.float64)
    Y3 = torch.nn.functional.one_hot(torch.arange(30) % 3, 3).to(torch.float64)
    return [(LinearProblem(4, 1), X, Y), (LinearProblem(4, 3, penalty="l1"), X, Y3),
            (MLPProblem(4, (5,), 1), X, Y), (MLPProblem(4, (5,), 3, penalty="l1"), X, Y3)]


@pytest.mark.parametrize("index", range(4))
def test_results_can_be_updated_in_place_and_differentiated(index):
    problem, X, Y = _problems()[index]
    w0 = problem.init_params(torch.Generator().manual_seed(1)).to(torch.float64)
    lam = torch.full((problem.n_hyper,), -2.0, dtype=torch.float64, requires_grad=True)
    unroll = problem.unroll(lam.detach(), X, Y, lr=0.3, n_poison=2)
    trained = unroll.train(w0, 5)
    w_T, tape = unroll.forward(w0, 5)
    outputs = [trained, w_T, *unroll.backward(tape, torch.ones_like(w_T), return_adjoint=True)]
    for out in outputs:
        assert not out.is_inference()
        out.mul_(1.0)                                      # in place, outside inference mode
        (torch.exp(lam).sum() * out.sum()).backward()      # saved for autograd
    assert torch.equal(trained, w_T)


def test_fast_loops_leave_other_devices_and_modes_alone():
    assert isinstance(fast_loops(torch.empty(1, device="meta")), contextlib.nullcontext)
    with torch.inference_mode():   # a caller's inference mode stays on off the CPU
        with fast_loops(torch.empty(1, device="meta")):
            assert torch.is_inference_mode_enabled()
    with fast_loops(torch.empty(1)):
        assert torch.is_inference_mode_enabled()
