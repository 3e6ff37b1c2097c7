"""Small float64 inner problems and finite-difference helpers for the engine tests.

Imported by the test modules of this folder (pytest puts it on ``sys.path``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from skpoison.hypergrad import InnerProblem, compute_hypergradient
from skpoison.models import LinearProblem, MLPProblem
from skpoison.models._mlp_derivatives import forward as mlp_forward

DT = torch.float64

#: Every method of compute_hypergradient.
METHODS = ["rmd", "fmd", "cg", "exact", "autograd"]


class GenericProblem(InnerProblem):
    """A built-in model seen through the abstract methods only: every derivative
    is generic autograd, and ``group_penalty`` is False."""

    def __init__(self, model):
        self.model = model
        self.n_params, self.n_hyper = model.n_params, model.n_hyper
        self.n_outputs = model.n_outputs

    def init_params(self, generator=None, *, dtype=DT, device="cpu"):
        return self.model.init_params(generator, dtype=dtype, device=device)

    def decision_scores(self, w, X):
        return self.model.decision_scores(w, X)

    def penalty_value(self, w, log_lambda):
        return self.model.penalty_value(w, log_lambda)


# (model, n_outputs, lambda_mode): every model / output / grouping combination.
CONFIGS = [
    ("linear", 1, "single"),
    ("linear", 1, "per_feature"),
    ("linear", 3, "single"),
    ("linear", 3, "per_feature"),
    ("mlp", 1, "single"),
    ("mlp", 1, "per_layer"),
    ("mlp", 3, "per_layer"),
]
CONFIG_IDS = [f"{m}-k{k}-{mode}" for m, k, mode in CONFIGS]


def make_targets(labels, n_outputs):
    """One {0, 1} column (binary) or one-hot rows."""
    if n_outputs == 1:
        return labels.to(DT)[:, None]
    return torch.nn.functional.one_hot(labels, n_outputs).to(DT)


def make_data(n, d, n_outputs, n_val, seed, noise=0.3, low=0.0):
    """Features in [low, 1]; labels from a random linear rule, a fraction flipped."""
    gen = torch.Generator().manual_seed(seed)
    k = max(n_outputs, 2)
    rule = torch.randn(d, k, generator=gen, dtype=DT) * 3.0

    def draw(m):
        X = low + (1.0 - low) * torch.rand(m, d, generator=gen, dtype=DT)
        labels = torch.argmax(X @ rule - (X @ rule).mean(0), dim=1)
        flip = torch.rand(m, generator=gen) < noise
        labels = torch.where(flip, torch.randint(0, k, (m,), generator=gen), labels)
        return X, make_targets(labels, n_outputs)

    X, Y = draw(n)
    X_val, Y_val = draw(n_val)
    return X, Y, X_val, Y_val


def make_problem(model, n_outputs, mode, penalty, d, hidden=(4, 3)):
    """``penalty``: "l2", "l1", or "l1-prox" (L1 with proximal steps)."""
    step = "proximal" if penalty.endswith("-prox") else "subgradient"
    penalty = penalty.removesuffix("-prox")
    if model == "linear":
        return LinearProblem(d, n_outputs, penalty, mode, l1_step=step)
    return MLPProblem(d, hidden, n_outputs, penalty, mode, l1_step=step)


@dataclass
class Case:
    """Everything one hypergradient call needs."""

    problem: InnerProblem
    w0: torch.Tensor
    log_lambda: torch.Tensor
    X: torch.Tensor
    Y: torch.Tensor
    X_val: torch.Tensor
    Y_val: torch.Tensor
    n_poison: int
    steps: int
    lr: float

    def hypergradient(self, method, **options):
        return compute_hypergradient(
            self.problem, self.w0, self.log_lambda, self.X, self.Y, self.X_val, self.Y_val,
            n_poison=self.n_poison, steps=self.steps, lr=self.lr, method=method, **options)

    def with_poison(self, X_poison):
        X = torch.cat([self.X[: self.X.shape[0] - self.n_poison], X_poison])
        return replace(self, X=X)

    @property
    def X_poison(self):
        return self.X[self.X.shape[0] - self.n_poison:]


def make_case(model, n_outputs, mode, penalty, *, n=40, d=4, n_poison=3, n_val=15,
              steps=20, lr=0.5, log_lambda=-2.0, seed=0, hidden=(4, 3), noise=0.3,
              low=0.0):
    problem = make_problem(model, n_outputs, mode, penalty, d, hidden)
    X, Y, X_val, Y_val = make_data(n, d, n_outputs, n_val, seed, noise, low)
    w0 = problem.init_params(torch.Generator().manual_seed(seed + 1), dtype=DT)
    lam = torch.full((problem.n_hyper,), float(log_lambda), dtype=DT)
    lam = lam + 0.3 * torch.linspace(-1, 1, problem.n_hyper, dtype=DT)
    return Case(problem, w0, lam, X, Y, X_val, Y_val, n_poison, steps, lr)


# -- finite differences of the T-step map ------------------------------------------
def trajectory(case, log_lambda=None, X=None, steps=None, w0=None):
    """Iterates ``w_0 .. w_T`` of plain gradient descent (``forward_step``)."""
    lam = case.log_lambda if log_lambda is None else log_lambda
    X = case.X if X is None else X
    w = case.w0 if w0 is None else w0
    out = [w]
    for _ in range(case.steps if steps is None else steps):
        w, _ = case.problem.forward_step(w, lam, X, case.Y, case.lr)
        out.append(w)
    return out


def pattern(case, log_lambda, X):
    """Signs of the weights and of every hidden pre-activation along the trajectory.

    The T-step map is smooth in (λ, X_poison) wherever this pattern is locally
    constant (L1's sign(w) and LeakyReLU's kink are its only non-smooth parts).
    """
    signs = []
    for w in trajectory(case, log_lambda, X):
        signs.append(torch.sign(w))
        if isinstance(case.problem, MLPProblem):
            pre, _, _ = mlp_forward(case.problem.unflatten(w), X)
            signs.extend(torch.sign(Z).reshape(-1) for Z in pre)
    return torch.cat(signs)


def margins(case):
    """``(threshold, kink)``: how far the trajectory stays from the non-smooth points.

    ``threshold``: the smallest ``| |z_t| - lr alpha |`` over the steps and
    penalized weights of proximal steps (``z_t = w_t - lr grad L_data(w_t)``;
    inf for other problems); ``kink``: the smallest ``|Z|`` of the hidden
    pre-activations of the MLP over ``w_0 .. w_T`` (inf for linear models).
    """
    problem = case.problem
    threshold, kink = float("inf"), float("inf")
    iterates = trajectory(case)
    if problem.proximal:
        t = case.lr * problem.penalty.alpha(case.log_lambda)
        for w in iterates[:-1]:
            z = w - case.lr * problem.loss_and_grad(w, case.X, case.Y)[1]
            gap = (z.abs() - t).abs()[problem.penalty.penalized]
            threshold = min(threshold, float(gap.min()))
    if isinstance(problem, MLPProblem):
        for w in iterates:
            pre, _, _ = mlp_forward(problem.unflatten(w), case.X)
            kink = min([kink, *(float(Z.abs().min()) for Z in pre)])
    return threshold, kink


def unrolled_value(case):
    """``(log_lambda, X_poison) -> L_val(w_T)`` and a check that the pattern holds."""
    base = pattern(case, case.log_lambda, case.X)

    def value(lam, xp):
        c = case.with_poison(xp)
        w = trajectory(c, log_lambda=lam)[-1]
        return case.problem.data_loss(w, case.X_val, case.Y_val)

    def check(lam, xp):
        assert torch.equal(pattern(case, lam, case.with_poison(xp).X), base), (
            "a weight sign or LeakyReLU pattern changed inside the finite-difference "
            "step: the T-step map is not smooth there")

    return value, check


def finite_differences(value, log_lambda, X_poison, direction, h=1e-5, check=None):
    """Central differences of ``value(log_lambda, X_poison)``.

    Returns the gradient in ``log_lambda`` (one difference per component) and
    the directional derivative along ``direction`` of the poison features.
    ``check(log_lambda, X_poison)`` is called at every evaluated point.
    """
    def f(lam, xp):
        if check is not None:
            check(lam, xp)
        return float(value(lam, xp))

    grad = torch.zeros_like(log_lambda)
    for i in range(log_lambda.numel()):
        e = torch.zeros_like(log_lambda)
        e[i] = h
        grad[i] = (f(log_lambda + e, X_poison) - f(log_lambda - e, X_poison)) / (2 * h)
    directional = (f(log_lambda, X_poison + h * direction)
                   - f(log_lambda, X_poison - h * direction)) / (2 * h)
    return grad, directional


def assert_close_rel(actual, expected, rtol, what="", atol=0.0):
    """``||actual - expected|| <= rtol * ||expected|| + atol`` (normwise)."""
    actual = torch.as_tensor(actual, dtype=DT)
    expected = torch.as_tensor(expected, dtype=DT)
    err = float(torch.linalg.vector_norm(actual - expected))
    scale = float(torch.linalg.vector_norm(expected))
    assert err <= rtol * scale + atol, (
        f"{what}: |error| = {err:.3e} > {rtol:g} * {scale:.3e} + {atol:g}")


# -- proximal L1 steps (test_prox.py, test_prox_mlp.py) ----------------------------
def prox_case(model, k, mode, log_lambda, seed, **options):
    """:func:`make_case` with L1 and proximal steps (``l1_step="proximal"``)."""
    return make_case(model, k, mode, "l1-prox", log_lambda=log_lambda, seed=seed, **options)


def assert_trains_as_recorded(case, unroll, w_T):
    """``w_T`` of ``unroll.forward`` is bitwise ``unroll.train``'s, and forward_step's
    steps to rounding (its kernels differ), with the same exact zeros."""
    assert torch.equal(unroll.train(case.w0, case.steps), w_T)
    reference = trajectory(case)[-1]
    assert torch.equal(w_T == 0, reference == 0) and bool((w_T == 0).any())
    assert_close_rel(w_T, reference, 1e-13)
