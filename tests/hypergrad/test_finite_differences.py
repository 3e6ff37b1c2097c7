"""Every hypergradient method against central finite differences (float64).

Unrolled methods (rmd, fmd, autograd) are exact derivatives of the T-step map,
so they must match finite differences of ``L_val(w_T)`` to ~1e-6 relative.
The implicit ones (cg, exact) are derivatives of ``L_val(w*)`` at the exact
optimum, so they are compared with finite differences of the converged
solution (warm-started from it, stationarity checked).
"""

from __future__ import annotations

import functools
import warnings

import pytest
import torch
from hg_cases import (
    CONFIG_IDS,
    CONFIGS,
    DT,
    InnerProblem,
    assert_close_rel,
    finite_differences,
    make_case,
    unrolled_value,
)

from skpoison.hypergrad import (InnerNotConvergedWarning, compute_hypergradient, dense_operator,
                               train)

UNROLLED = ("rmd", "fmd", "autograd")
RTOL_UNROLLED = 1e-6
RTOL_IMPLICIT = 1e-5


def unrolled_case(model, k, mode, penalty):
    if model == "linear":
        return make_case(model, k, mode, penalty)
    # Centred features and a weak penalty keep the small MLP learning (non-trivial
    # hypergradients); this seed keeps every weight sign and LeakyReLU pattern
    # fixed inside the finite-difference steps, which the check asserts.
    return make_case(model, k, mode, penalty, lr=1.0, steps=30, log_lambda=-3.0,
                     noise=0.1, low=-1.0, seed=1)


def direction_for(case):
    gen = torch.Generator().manual_seed(5)
    return torch.randn(case.X_poison.shape, generator=gen, dtype=DT)


def check_against(result, fd_lambda, fd_directional, direction, rtol):
    assert_close_rel(result.grad_log_lambda, fd_lambda, rtol, "d/d log_lambda")
    # Along a random direction: compare with the scale ||g_X|| ||V|| (the
    # projection itself can be small when V is nearly orthogonal to g_X).
    projected = float(torch.sum(result.grad_X_poison * direction))
    scale = float(torch.linalg.vector_norm(result.grad_X_poison)
                  * torch.linalg.vector_norm(direction))
    assert abs(projected - fd_directional) <= rtol * scale, (projected, fd_directional)


@functools.lru_cache(maxsize=None)
def unrolled_reference(model, k, mode, penalty):
    case = unrolled_case(model, k, mode, penalty)
    value, check = unrolled_value(case)
    direction = direction_for(case)
    fd = finite_differences(value, case.log_lambda, case.X_poison, direction, check=check)
    return case, direction, fd


@pytest.mark.parametrize("method", UNROLLED)
@pytest.mark.parametrize("penalty", ["l2", "l1"])
@pytest.mark.parametrize(("model", "k", "mode"), CONFIGS, ids=CONFIG_IDS)
def test_unrolled_methods_match_finite_differences(model, k, mode, penalty, method):
    case, direction, (fd_lambda, fd_dir) = unrolled_reference(model, k, mode, penalty)
    result = case.hypergradient(method)
    assert torch.linalg.vector_norm(fd_lambda) > 1e-5  # a non-trivial check
    check_against(result, fd_lambda, fd_dir, direction, RTOL_UNROLLED)
    # The reported loss is the validation loss of the T-step iterate.
    value, _ = unrolled_value(case)
    assert float(result.val_loss) == pytest.approx(float(value(case.log_lambda, case.X_poison)),
                                                   rel=1e-12)


# Four classes (CONFIGS has three): an even number, every method of the unroll.
FOUR_CLASSES = [("linear", "per_feature", "l2"), ("linear", "single", "l1"),
                ("mlp", "per_layer", "l2"), ("mlp", "single", "l1-prox")]


@pytest.mark.parametrize(("model", "mode", "penalty"), FOUR_CLASSES,
                         ids=["-".join(c) for c in FOUR_CLASSES])
def test_unrolled_methods_match_finite_differences_with_four_classes(model, mode, penalty):
    case, direction, (fd_lambda, fd_dir) = unrolled_reference(model, 4, mode, penalty)
    assert torch.linalg.vector_norm(fd_lambda) > 1e-5
    for method, options in [("rmd", {}), ("rmd", dict(checkpoint_every=(4, 2))),
                            ("fmd", {}), ("autograd", {})]:
        check_against(case.hypergradient(method, **options), fd_lambda, fd_dir, direction,
                      RTOL_UNROLLED)


# -- implicit methods at a converged optimum ---------------------------------------
IMPLICIT_CASES = {
    # Strong L2: well conditioned, converges in a few hundred steps.
    "linear-k1-single-l2": dict(model="linear", k=1, mode="single", penalty="l2",
                                steps=400, lr=1.0, log_lambda=-0.5),
    "linear-k1-per_feature-l2": dict(model="linear", k=1, mode="per_feature", penalty="l2",
                                     steps=400, lr=1.0, log_lambda=-0.5),
    # Softmax: the Hessian is singular along the shift of the unpenalized
    # intercepts, but that direction is orthogonal to every right-hand side.
    "linear-k3-single-l2": dict(model="linear", k=3, mode="single", penalty="l2",
                                steps=400, lr=1.0, log_lambda=-0.5),
    "linear-k3-per_feature-l2": dict(model="linear", k=3, mode="per_feature", penalty="l2",
                                     steps=400, lr=1.0, log_lambda=-0.5),
    "linear-k4-per_feature-l2": dict(model="linear", k=4, mode="per_feature", penalty="l2",
                                     steps=400, lr=1.0, log_lambda=-0.5),
    # L1 where the optimum is dense (weak penalty, informative features, n >> d):
    # the objective is smooth there and the Hessian is the data Hessian.
    "linear-k1-single-l1": dict(model="linear", k=1, mode="single", penalty="l1",
                                steps=2000, lr=3.0, log_lambda=-4.0, n=200, d=3, noise=0.2),
    "linear-k1-per_feature-l1": dict(model="linear", k=1, mode="per_feature", penalty="l1",
                                     steps=2000, lr=3.0, log_lambda=-4.0, n=200, d=3,
                                     noise=0.2, seed=1),
}


def implicit_setup(params):
    params = dict(params)
    case = make_case(params.pop("model"), params.pop("k"), params.pop("mode"),
                     params.pop("penalty"), **params)
    problem = case.problem
    w_star = train(problem, case.w0, case.log_lambda, case.X, case.Y, steps=case.steps,
                   lr=case.lr)
    grad = InnerProblem.train_grad(problem, w_star, case.log_lambda, case.X, case.Y)
    assert float(torch.linalg.vector_norm(grad)) < 1e-12, "not converged"
    if problem.penalty.kind == "l1":
        penalized = problem.penalty.penalized
        assert float(w_star[penalized].abs().min()) > 1e-2, "L1 optimum not dense"
    return case, w_star


@functools.lru_cache(maxsize=None)
def implicit_reference(name):
    case, w_star = implicit_setup(IMPLICIT_CASES[name])
    problem = case.problem

    def value(lam, xp):
        c = case.with_poison(xp)
        w = train(problem, w_star, lam, c.X, c.Y, steps=case.steps, lr=case.lr)
        return problem.data_loss(w, case.X_val, case.Y_val)

    direction = direction_for(case)
    fd = finite_differences(value, case.log_lambda, case.X_poison, direction)
    return case, direction, fd


@pytest.mark.parametrize("method", ["cg", "exact"])
@pytest.mark.parametrize("name", list(IMPLICIT_CASES))
def test_implicit_methods_match_finite_differences_at_optimum(name, method):
    case, direction, (fd_lambda, fd_dir) = implicit_reference(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InnerNotConvergedWarning)
        result = case.hypergradient(method)
    check_against(result, fd_lambda, fd_dir, direction, RTOL_IMPLICIT)
    if method == "cg":
        assert result.solver_iterations > 0
        assert float(result.solver_residual) < 1e-8


@pytest.mark.parametrize("name", list(IMPLICIT_CASES))
def test_cg_equals_exact_at_optimum(name):
    case, _, _ = implicit_reference(name)
    cg = case.hypergradient("cg", tol=1e-13)
    exact = case.hypergradient("exact")
    assert_close_rel(cg.grad_log_lambda, exact.grad_log_lambda, 1e-9, "lambda")
    assert_close_rel(cg.grad_X_poison, exact.grad_X_poison, 1e-9, "poison")
    assert float(cg.val_loss) == float(exact.val_loss)


def test_l1_implicit_is_flagged_where_the_optimum_has_zeros():
    """Softmax + L1: one weight per feature sits at 0 at the optimum (the
    median of the per-class weights), gradient descent zigzags around it and
    the implicit route warns instead of returning a silently wrong answer."""
    case = make_case("linear", 3, "single", "l1", steps=1000, lr=1.0, log_lambda=-3.0)
    with pytest.warns(InnerNotConvergedWarning, match="L1"):
        case.hypergradient("cg")


def test_dense_hessian_of_the_implicit_cases_is_positive_on_the_relevant_space():
    # The converged linear L2 binary case is strongly convex: its implicit
    # hypergradient is well posed.
    case, w_star = implicit_setup(IMPLICIT_CASES["linear-k1-single-l2"])
    problem = case.problem
    H = dense_operator(problem.hessian_operator(w_star, case.log_lambda, case.X, case.Y),
                       problem.n_params, dtype=DT, device="cpu")
    assert float(torch.linalg.eigvalsh(H).min()) > 1e-2


# -- the MLP: implicit methods at a constructed strict minimum -------------------------
# Gradient descent rarely delivers a point where the implicit function theorem
# applies to a LeakyReLU network with unpenalized biases: a unit that is linear
# over the whole training set makes its bias redundant with the next layer's
# (a null direction of the Hessian), dead units do the same, and optima that
# sit on a sample's kink stall gradient descent at ||grad|| ~ 1e-4. So the
# test builds a point that *is* a smooth strict minimum: weights chosen first
# (each unit balanced, alpha_0 ||w_j||^2 = alpha_1 v_j^2, as positive
# homogeneity demands at a stationary point), samples kept away from every
# kink, and soft targets solved so that grad L_tr(w*) = 0 exactly. Its
# Hessian is checked positive definite. The targets are probabilities, as the
# engine requires (it refuses others): of the residuals r = sigmoid(s) - y
# that make the gradient 0 (J^T r = -n alpha w, 47 free dimensions), one with
# y in [0.02, 0.98], found by alternating projections (at log_lambda = -4 the
# least-norm one reached y = 1.5 and none in range was found).
def soft_targets(P, J, b, margin=0.02, iterations=5000):
    """``r`` with ``J^T r = b`` (to rounding) and ``P - r`` in ``[margin, 1 - margin]``."""
    pinv = torch.linalg.pinv(J.T)
    r = pinv @ b
    for _ in range(iterations):
        r = torch.minimum(torch.maximum(r, P - 1 + margin), P - margin)
        r = r - pinv @ (J.T @ r - b)   # (the affine step last: stationary to rounding)
    return r


def stationary_mlp_case(mode, seed=5, log_lambda=-4.5, n=60, d=2, hidden=(3,)):
    from torch.func import jacrev

    from skpoison.models import MLPProblem
    from skpoison.models._mlp_derivatives import forward

    problem = MLPProblem(d, hidden, 1, "l2", mode)
    gen = torch.Generator().manual_seed(seed)
    w = 2.0 * problem.init_params(gen, dtype=DT)
    biases = (problem.penalty.group_index < 0).to(DT)
    w = w + 0.3 * torch.randn(problem.n_params, generator=gen, dtype=DT) * biases
    lam = (torch.full((problem.n_hyper,), log_lambda, dtype=DT)
           + 0.3 * torch.linspace(-1, 1, problem.n_hyper, dtype=DT))
    alpha = torch.exp(lam)
    (W0, b0), (W1, _) = problem.unflatten(w)
    scale = (alpha[-1] * W1[:, 0] ** 2 / (alpha[0] * (W0 ** 2).sum(0))) ** 0.25
    W0.mul_(scale), b0.mul_(scale), W1.div_(scale[:, None])

    def away_from_kinks(m):
        X = 2.0 * torch.rand(4 * m, d, generator=gen, dtype=DT) - 1.0
        pre, _, _ = forward(problem.unflatten(w), X)
        return X[(pre[0].abs() > 0.05).all(1)][:m]

    X, X_val = away_from_kinks(n), away_from_kinks(20)
    Y_val = (torch.rand(20, 1, generator=gen, dtype=DT) < 0.5).to(DT)
    J = jacrev(lambda q: problem.decision_scores(q, X)[:, 0])(w)
    P = torch.sigmoid(problem.decision_scores(w, X))[:, 0]
    Y = (P - soft_targets(P, J, -n * problem.penalty.alpha(lam) * w))[:, None]
    assert bool(((Y >= 0) & (Y <= 1)).all()), "no soft targets in [0, 1] found"
    case = make_case("mlp", 1, mode, "l2", d=d, hidden=hidden, steps=1, lr=0.1)
    case.problem, case.w0, case.log_lambda = problem, w, lam
    case.X, case.Y, case.X_val, case.Y_val = X, Y, X_val, Y_val
    return case


def generic_hessian(case, lam, X, w):
    return torch.func.hessian(
        lambda q: InnerProblem.train_loss(case.problem, q, lam, X, case.Y))(w)


def newton_minimum(case, lam, X, w, iterations=6):
    for _ in range(iterations):
        step = torch.linalg.solve(generic_hessian(case, lam, X, w),
                                  InnerProblem.train_grad(case.problem, w, lam, X, case.Y))
        w = w - step
    return w


@functools.lru_cache(maxsize=None)
def mlp_implicit_reference(mode):
    from skpoison.models._mlp_derivatives import forward

    case = stationary_mlp_case(mode)
    problem, w_star = case.problem, case.w0
    grad = InnerProblem.train_grad(problem, w_star, case.log_lambda, case.X, case.Y)
    assert float(torch.linalg.vector_norm(grad)) < 1e-13
    H = generic_hessian(case, case.log_lambda, case.X, w_star)
    assert float(torch.linalg.eigvalsh(H).min()) > 1e-4, "not a strict minimum"

    def value(lam, xp):
        c = case.with_poison(xp)
        w = newton_minimum(case, lam, c.X, w_star)
        pre, _, _ = forward(problem.unflatten(w), c.X)
        assert float(pre[0].abs().min()) > 1e-3  # still away from the kinks
        return problem.data_loss(w, case.X_val, case.Y_val)

    direction = direction_for(case)
    fd = finite_differences(value, case.log_lambda, case.X_poison, direction, h=1e-6)
    return case, direction, fd


@pytest.mark.parametrize("method", ["cg", "exact"])
@pytest.mark.parametrize("mode", ["single", "per_layer"])
def test_mlp_implicit_methods_match_finite_differences_at_minimum(mode, method):
    case, direction, (fd_lambda, fd_dir) = mlp_implicit_reference(mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InnerNotConvergedWarning)
        result = case.hypergradient(method, tol=1e-13)
    check_against(result, fd_lambda, fd_dir, direction, RTOL_IMPLICIT)


@pytest.mark.parametrize("k", [3, 4])
def test_float32_exact_solve_of_a_softmax_model_judges_the_residual_at_float32(k):
    # The softmax Hessian is singular along the shift of the intercepts; a float32
    # grad L_val keeps ~1e-8 of its norm there (rounding), which the float64 solve
    # leaves as its residual: no HessianSolveWarning (it warned at k = 4).
    case, _ = implicit_setup(IMPLICIT_CASES["linear-k3-single-l2"] | dict(k=k))
    inputs = [t.to(torch.float32) for t in (case.w0, case.log_lambda, case.X, case.Y,
                                            case.X_val, case.Y_val)]
    reference = case.hypergradient("exact")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compute_hypergradient(case.problem, *inputs, n_poison=case.n_poison,
                                       steps=case.steps, lr=case.lr, method="exact")
    assert float(result.solver_residual) > 0     # (that rounding: left, not warned of)
    assert_close_rel(result.grad_log_lambda, reference.grad_log_lambda, 1e-5, "lambda")
    assert_close_rel(result.grad_X_poison, reference.grad_X_poison, 1e-5, "poison")
