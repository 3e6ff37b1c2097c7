"""The logistic loss beyond torch's softplus threshold (scores above 20).

``torch.nn.functional.softplus`` returns ``s`` itself above 20, so autograd
through the loss saw a residual ``sigmoid(s) - y`` of exactly 0 or 1 and no
curvature there: the autograd oracle and every model without closed forms
differentiated another loss than the closed forms, and the reported validation
loss jumped by 2e-9 at 20 (found by randomized testing against finite
differences: 4.7 % apart on λ, 70 % on the poison features).
"""

from __future__ import annotations

import pytest
import torch
from hg_cases import DT, GenericProblem, assert_close_rel, make_case

from skpoison.hypergrad import compute_hypergradient
from skpoison.hypergrad._problem import cross_entropy


def test_logistic_gradient_and_curvature_beyond_the_threshold():
    scores = torch.tensor([[-30.0], [0.0], [19.5], [20.0], [20.5], [25.0], [35.0]], dtype=DT)
    Y = torch.tensor([[0.0], [1.0], [1.0], [1.0], [1.0], [1.0], [0.0]], dtype=DT)
    n = scores.shape[0]
    gradient = torch.func.grad(cross_entropy)(scores, Y)
    assert_close_rel(gradient, (torch.sigmoid(scores) - Y) / n, 1e-12, "gradient")
    curvature = torch.func.hessian(lambda s: cross_entropy(s, Y))(scores).reshape(n, n)
    p = torch.sigmoid(scores)[:, 0]
    assert_close_rel(curvature.diagonal(), p * (1 - p) / n, 1e-12, "curvature")
    # The value is log(1 + exp(s)) - y s: continuous at 20, exact beyond it.
    value = cross_entropy(scores, Y) * n
    expected = torch.sum(torch.logaddexp(scores, torch.zeros_like(scores)) - Y * scores)
    assert float(value) == pytest.approx(float(expected), rel=1e-15)


def saturated_case(seed):
    """A binary linear problem started where its training scores reach 25-30."""
    case = make_case("linear", 1, "single", "l2", n=12, d=2, n_poison=2, steps=10, lr=0.5,
                     log_lambda=-3.0, noise=0.0, low=-1.0, seed=seed)
    design = torch.cat([case.X, torch.ones(12, 1, dtype=DT)], 1)
    target = 25.0 * (2.0 * case.Y - 1.0)
    case.w0 = torch.linalg.lstsq(design, target).solution[:, 0]
    return case


@pytest.mark.parametrize("seed", [0, 1])
def test_autograd_and_generic_models_match_the_closed_forms_at_large_scores(seed):
    case = saturated_case(seed)
    scores = case.problem.decision_scores(case.w0, case.X)
    assert float(scores.abs().max()) > 25.0   # (beyond torch's softplus threshold)
    reference = case.hypergradient("rmd")
    generic = compute_hypergradient(
        GenericProblem(case.problem), case.w0, case.log_lambda, case.X, case.Y, case.X_val,
        case.Y_val, n_poison=case.n_poison, steps=case.steps, lr=case.lr)
    for result in (case.hypergradient("autograd"), generic):
        assert_close_rel(result.grad_log_lambda, reference.grad_log_lambda, 1e-9, "lambda")
        # (the residuals sigmoid(s) - 1 of ~1e-11 keep ~1e-5 of relative rounding)
        assert_close_rel(result.grad_X_poison, reference.grad_X_poison, 1e-4, "poison")
