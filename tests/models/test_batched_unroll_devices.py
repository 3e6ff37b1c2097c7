"""The batched unrolls keep every tensor of theirs on the design's device."""

import pytest
import torch

from skpoison.models import LinearProblem, MLPProblem


@pytest.mark.parametrize("problem", [LinearProblem(3, 1), MLPProblem(3, (4,), 2)],
                         ids=["linear", "mlp"])
def test_per_problem_rates_follow_the_designs_device(problem):
    # "meta" stands in for a GPU: a CPU (K,) tensor of rates mixed into its
    # steps fails as it would on CUDA (0-d CPU tensors would be allowed).
    K, k = 2, problem.n_outputs
    X = torch.zeros(K, 10, 3, device="meta")
    Y = torch.zeros(K, 10, k, device="meta")
    log_lambda = torch.zeros(K, problem.n_hyper, device="meta")
    unroll = problem.batched_unroll(log_lambda, X, Y, lr=torch.tensor([0.1, 0.2]))
    assert unroll.lr.device == X.device and unroll.lr.dtype == X.dtype
    w = unroll.train(torch.zeros(K, problem.n_params, device="meta"), 3)
    assert w.shape == (K, problem.n_params) and w.device == X.device
