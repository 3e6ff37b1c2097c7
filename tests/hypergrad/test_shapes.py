"""Random problem shapes (hypothesis): every method agrees and has the right shapes."""

from __future__ import annotations

import warnings

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hg_cases import DT, assert_close_rel, make_data

from skpoison.hypergrad import (
    HessianSolveWarning,
    InnerNotConvergedWarning,
    compute_hypergradient,
)
from skpoison.models import LinearProblem, MLPProblem


@st.composite
def problems(draw):
    model = draw(st.sampled_from(["linear", "mlp"]))
    n_outputs = draw(st.sampled_from([1, 2, 3]))
    d = draw(st.integers(1, 6))
    n_poison = draw(st.integers(0, 4))
    n = draw(st.integers(n_poison + 2, 30))
    penalty = draw(st.sampled_from(["l2", "l1"]))
    if model == "linear":
        mode = draw(st.sampled_from(["single", "per_feature"]))
        problem = LinearProblem(d, n_outputs, penalty, mode)
    else:
        mode = draw(st.sampled_from(["single", "per_layer"]))
        hidden = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
        problem = MLPProblem(d, hidden, n_outputs, penalty, mode)
    seed = draw(st.integers(0, 2**16))
    steps = draw(st.integers(0, 8))
    lam = torch.tensor(draw(st.lists(st.floats(-4, 1), min_size=problem.n_hyper,
                                     max_size=problem.n_hyper)), dtype=DT)
    return problem, n, d, n_outputs, n_poison, seed, steps, lam


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_random_shapes(spec):
    problem, n, d, n_outputs, n_poison, seed, steps, lam = spec
    X, Y, X_val, Y_val = make_data(n, d, n_outputs, 5, seed)
    w0 = problem.init_params(torch.Generator().manual_seed(seed), dtype=DT)
    assert w0.shape == (problem.n_params,)
    assert problem.n_hyper == lam.numel()
    results = {}
    for method in ("autograd", "rmd", "fmd", "cg"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnerNotConvergedWarning)
            warnings.simplefilter("ignore", HessianSolveWarning)  # arbitrary w_T
            results[method] = compute_hypergradient(
                problem, w0, lam, X, Y, X_val, Y_val, n_poison=n_poison, steps=steps,
                lr=0.3, method=method)
    for result in results.values():
        assert result.grad_log_lambda.shape == (problem.n_hyper,)
        assert result.grad_X_poison.shape == (n_poison, d)
        assert result.params.shape == (problem.n_params,)
        assert torch.isfinite(result.grad_X_poison).all()
    reference = results["autograd"]
    for method in ("rmd", "fmd"):
        got = results[method]
        assert_close_rel(got.grad_log_lambda, reference.grad_log_lambda, 1e-8, method,
                         atol=1e-15)
        assert_close_rel(got.grad_X_poison, reference.grad_X_poison, 1e-8, method,
                         atol=1e-15)
