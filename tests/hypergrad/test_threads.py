"""Hypergradients computed in several threads at once equal serial ones, bitwise."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from skpoison.hypergrad import InnerProblem, compute_hypergradient
from skpoison.models import LinearProblem

DT = torch.float64


def _case(seed):
    generator = torch.Generator().manual_seed(seed)
    X = torch.rand(40, 5, dtype=DT, generator=generator)
    Y = (torch.rand(40, 1, dtype=DT, generator=generator) < 0.5).to(DT)
    return X, Y, X[:15], Y[:15]


class GenericLinear(LinearProblem):
    """A linear model on the generic (torch.func.jvp) Hessian-vector products."""

    hvp = InnerProblem.hvp
    hessian_operator = InnerProblem.hessian_operator


# (15 steps do not converge: the implicit method warns, which is not the point here)
@pytest.mark.filterwarnings("ignore::skpoison.hypergrad.InnerNotConvergedWarning")
@pytest.mark.parametrize("method, problem_class", [("fmd", LinearProblem),
                                                   ("cg", GenericLinear)])
def test_forward_mode_passes_in_threads_match_serial_ones(method, problem_class):
    # torch.func.jvp keeps its state process-wide: unguarded, concurrent calls
    # raised "no level exists" or returned another thread's tangents.
    problem = problem_class(5, 1)

    def run(seed):
        X, Y, X_val, Y_val = _case(seed)
        return compute_hypergradient(problem, problem.init_params(dtype=DT),
                                     torch.tensor([-2.0], dtype=DT), X, Y, X_val, Y_val,
                                     n_poison=3, steps=15, lr=0.5, method=method)

    seeds = list(range(8)) * 3
    serial = [run(seed) for seed in seeds]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(run, seeds))
    for ours, theirs in zip(threaded, serial):
        assert torch.equal(ours.grad_X_poison, theirs.grad_X_poison)
        assert torch.equal(ours.grad_log_lambda, theirs.grad_log_lambda)


def test_a_model_that_holds_the_forward_lock_itself_does_not_deadlock():
    # The lock is reentrant: a user's model may take it (or nest forward passes).
    import threading

    from skpoison.hypergrad._problem import FORWARD_AD_LOCK

    class Guarded(LinearProblem):
        def train_grad(self, w, log_lambda, X, Y):
            with FORWARD_AD_LOCK:
                return super().train_grad(w, log_lambda, X, Y)

    X, Y, _, _ = _case(0)
    problem, done = Guarded(5, 1), []
    thread = threading.Thread(daemon=True, target=lambda: done.append(compute_hypergradient(
        problem, problem.init_params(dtype=DT), torch.tensor([-2.0], dtype=DT), X, Y, X, Y,
        n_poison=2, steps=3, lr=0.5, method="fmd")))
    thread.start()
    thread.join(20)
    assert done, "forward mode deadlocked on its own lock"
