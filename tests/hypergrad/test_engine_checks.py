"""Malformed engine arguments are refused with a message naming them.

Before these checks some were answered silently: a long ``log_lambda`` gave
methods that disagreed, ``n_poison > n`` sliced the wrong rows, a negative
rate ran gradient ascent, a 1-D ``Y_val`` broadcast into a wrong loss.
"""

from __future__ import annotations

import pytest
import torch
from hg_cases import DT, METHODS, GenericProblem, assert_close_rel, make_case

from skpoison.hypergrad import (
    HypergradientOverflowError,
    batched_hypergradient,
    batched_train,
    compute_hypergradient,
    make_hypergradient,
    train,
)


def _call(case, method, **changes):
    args = dict(problem=case.problem, w0=case.w0, log_lambda=case.log_lambda, X=case.X,
                Y=case.Y, X_val=case.X_val, Y_val=case.Y_val, n_poison=case.n_poison,
                steps=case.steps, lr=case.lr)
    args.update(changes)
    problem = args.pop("problem")
    return compute_hypergradient(problem, args.pop("w0"), args.pop("log_lambda"),
                                 args.pop("X"), args.pop("Y"), args.pop("X_val"),
                                 args.pop("Y_val"), method=method, **args)


def _bad_arguments(case):
    n = case.X.shape[0]
    return [
        (dict(log_lambda=torch.zeros(5, dtype=DT)), r"log_lambda must have shape \(1,\)"),
        (dict(log_lambda=torch.zeros(1, 1, dtype=DT)), "log_lambda must have shape"),
        (dict(w0=case.w0[:-1]), "w0 must have shape"),
        (dict(n_poison=n + 2), rf"n_poison must be an int in \[0, {n}\]"),
        (dict(n_poison=-1), "n_poison"),
        (dict(n_poison=1.5), "n_poison"),
        (dict(steps=-3), "steps must be a non-negative int"),
        (dict(steps=3.5), "steps"),
        (dict(lr=-0.5), "lr must be a finite positive number"),
        (dict(lr=0.0), "lr must be"),
        (dict(lr=float("nan")), "lr must be"),
        (dict(Y_val=case.Y_val[:, 0]), r"Y_val must have shape \(15, 1\)"),
        (dict(Y=case.Y[:1]), r"Y must have 40 rows, one per row of X"),
        (dict(Y=torch.cat([case.Y, 1 - case.Y], 1)), "0/1 column for binary"),
        (dict(X_val=case.X_val[:0], Y_val=case.Y_val[:0]), "n >= 1"),
        (dict(X_val=case.X_val[:, :2]), "X_val has 2 features but X has 4"),
        (dict(X=case.X.float()), "has dtype torch.float64 but X has torch.float32"),
        (dict(X_val=case.X_val.float()), "X_val has dtype torch.float32"),
        (dict(log_lambda=case.log_lambda.float()), "log_lambda has dtype"),
        (dict(Y=case.Y.bool()), "Y must be a numeric tensor"),
        (dict(Y_val=case.Y_val.bool()), "Y_val must be a numeric tensor"),
    ]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_malformed_arguments_are_refused(model, method):
    case = make_case(model, 1, "single", "l2", steps=5)
    for changes, match in _bad_arguments(case):
        with pytest.raises(ValueError, match=match):
            _call(case, method, **changes)


def test_train_and_batched_check_too():
    case = make_case("linear", 1, "single", "l2", steps=5)
    with pytest.raises(ValueError, match="lr must be a finite positive number"):
        train(case.problem, case.w0, case.log_lambda, case.X, case.Y, steps=5, lr=-0.5)
    with pytest.raises(ValueError, match="log_lambda must have shape"):
        train(case.problem, case.w0, torch.zeros(3, dtype=DT), case.X, case.Y, steps=5, lr=0.5)
    X, Y = case.X.expand(2, -1, -1), case.Y.expand(2, -1, -1)
    X_val, Y_val = case.X_val.expand(2, -1, -1), case.Y_val.expand(2, -1, -1)
    with pytest.raises(ValueError, match=r"log_lambda must have shape \(1,\) .* or \(K, 1\)"):
        batched_train(case.problem, case.w0, torch.zeros(2, 3, dtype=DT), X, Y, steps=5,
                      lr=0.5)
    with pytest.raises(ValueError, match=r"n_poison must be an int in \[0, 40\]"):
        batched_hypergradient(case.problem, case.w0, case.log_lambda, X, Y, X_val, Y_val,
                              n_poison=41, steps=5, lr=0.5)


def test_solver_options_belong_to_the_implicit_methods():
    case = make_case("linear", 1, "single", "l2", steps=5)
    with pytest.raises(ValueError, match=r"\['tol'\] are options of the implicit methods"):
        _call(case, "rmd", tol=1e-6)
    with pytest.raises(ValueError, match="'autograd'"):
        _call(case, "newton")


def test_well_formed_edge_cases_still_run():
    case = make_case("linear", 1, "single", "l2", steps=5)
    n = case.X.shape[0]
    for changes in (dict(steps=0), dict(n_poison=0), dict(n_poison=n)):
        _call(case, "rmd", **changes)


@pytest.mark.filterwarnings("ignore:The inner problem has not converged")   # (5 steps)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("targets", [torch.long, torch.float32])
def test_integer_or_narrower_targets_give_the_same_hypergradient(method, targets):
    case = make_case("linear", 1, "single", "l2", steps=5)
    expected = _call(case, method)
    got = _call(case, method, Y=case.Y.to(targets), Y_val=case.Y_val.to(targets))
    assert torch.equal(got.grad_log_lambda, expected.grad_log_lambda)
    assert torch.equal(got.grad_X_poison, expected.grad_X_poison)


@pytest.mark.parametrize("name", ["Y", "Y_val"])
def test_wider_targets_are_refused_before_they_reach_a_product(name):
    # float64 targets beside float32 data promoted the products and failed deep
    # inside them ("expected m1 and m2 to have the same dtype").
    case = make_case("linear", 1, "single", "l2", steps=5)
    narrow = {k: getattr(case, k).float() for k in ("w0", "log_lambda", "X", "X_val")}
    narrow.update(Y=case.Y.float(), Y_val=case.Y_val.float())
    narrow[name] = getattr(case, name)                         # float64
    for method in METHODS:
        with pytest.raises(ValueError, match=f"{name} has dtype torch.float64, wider than"):
            _call(case, method, **narrow)


class _CustomPenalty(GenericProblem):
    """Keeps the model's GroupPenalty as ``penalty`` but adds an L1 term to its
    value and takes class-index targets: nothing closed-form applies to it."""

    def __init__(self, model):
        super().__init__(model)
        self.penalty = model.penalty

    def penalty_value(self, w, log_lambda):
        return (self.model.penalty_value(w, log_lambda)
                + (self.penalty.alpha(log_lambda) * w.abs()).sum())

    def data_loss(self, w, X, Y):
        return torch.nn.functional.cross_entropy(self.decision_scores(w, X), Y)


def test_custom_problems_are_not_taken_for_built_in_ones():
    case = make_case("linear", 3, "per_feature", "l2", steps=10, n_poison=0)
    custom = _CustomPenalty(case.problem)
    labels = case.Y.argmax(1)   # class indices, shape (n,)
    args = (custom, case.w0, case.log_lambda, case.X, labels, case.X_val,
            case.Y_val.argmax(1))
    reference = compute_hypergradient(*args, steps=10, lr=0.3, method="autograd")
    for method in ("rmd", "fmd"):
        result = compute_hypergradient(*args, steps=10, lr=0.3, method=method)
        assert_close_rel(result.grad_log_lambda, reference.grad_log_lambda, 1e-10, method)


# (a 5-step implicit case: the not-converged warning is the expected one)
@pytest.mark.filterwarnings("ignore:The inner problem has not converged")
def test_zero_dimensional_tensors_are_numbers():
    case = make_case("linear", 1, "single", "l2", steps=5)
    expected = _call(case, "rmd")
    got = _call(case, "rmd", steps=torch.tensor(5), lr=torch.tensor(case.lr, dtype=DT),
                n_poison=torch.tensor(case.n_poison))
    assert torch.equal(got.grad_log_lambda, expected.grad_log_lambda)
    cg = _call(case, "cg", tol=1e-8, maxiter=50)
    got = _call(case, "cg", tol=torch.tensor(1e-8, dtype=DT), maxiter=torch.tensor(50))
    assert torch.equal(got.grad_log_lambda, cg.grad_log_lambda)


@pytest.mark.parametrize("options, match", [
    (dict(tol=-1.0), r"tol must be a relative tolerance in \(0, 1\)"),
    (dict(tol=float("nan")), "tol must be"), (dict(tol=1.0), "tol must be"),
    (dict(maxiter=0), "maxiter must be a positive int"), (dict(maxiter=2.5), "maxiter"),
])
@pytest.mark.parametrize("method", ["cg", "exact"])
def test_solver_options_are_checked_not_squared_away(method, options, match):
    # tol=-1 was squared into a positive threshold; NaN or maxiter=0 stopped CG at u = 0
    case = make_case("linear", 1, "single", "l2")
    if method == "exact" and "maxiter" in options:
        match = "maxiter"
    with pytest.raises(ValueError, match=match):
        _call(case, method, **options)
    if method == "exact":
        with pytest.raises(ValueError, match="the exact solve has none"):
            _call(case, method, maxiter=10)


@pytest.mark.filterwarnings("ignore::skpoison.hypergrad.InnerNotConvergedWarning")
@pytest.mark.parametrize("method", METHODS)
def test_a_non_finite_validation_loss_raises_in_every_method(method):
    case = make_case("linear", 1, "single", "l2")
    # (finite features whose loss overflows; an inf feature is named: test_adversarial_inputs)
    w = train(case.problem, case.w0, case.log_lambda, case.X, case.Y, steps=case.steps,
              lr=case.lr)
    # Finite features whose scores (each near 1e308, all of one sign) overflow the
    # loss's sum; an inf feature is named instead (test_adversarial_inputs.py).
    X_val = (1e308 * torch.sign(w[:-1])).expand_as(case.X_val).clone()
    with pytest.raises(HypergradientOverflowError):
        _call(case, method, X_val=X_val, Y_val=torch.zeros_like(case.Y_val))


@pytest.mark.filterwarnings("ignore::skpoison.hypergrad.InnerNotConvergedWarning")
@pytest.mark.parametrize("generic", [False, True], ids=["built-in", "generic"])
@pytest.mark.parametrize("method", METHODS + ["rmd-checkpointed"])
def test_zero_steps_return_a_copy_of_w0(method, generic):
    # (a model of its own runs the generic Unroll, whose reverse mode returned w0)
    case = make_case("linear", 1, "single", "l2")
    if generic:
        case.problem = GenericProblem(case.problem)
    if method == "rmd-checkpointed":
        result = _call(case, "rmd", steps=0, checkpoint_every=2)
    else:
        result = _call(case, method, steps=0)
    assert result.params is not case.w0 and torch.equal(result.params, case.w0)
    result.params.add_(1.0)
    assert not torch.equal(result.params, case.w0)
    assert train(case.problem, case.w0, case.log_lambda, case.X, case.Y, steps=0,
                 lr=case.lr) is not case.w0


@pytest.mark.parametrize("changes, match", [
    (dict(steps=2.7), "steps must be a non-negative int"), (dict(steps="3"), "steps"),
    (dict(n_poison=1.9), "n_poison must be a non-negative int"), (dict(n_poison=True), "n_poison"),
])
def test_make_hypergradient_refuses_counts_it_would_truncate(changes, match):
    options = {**dict(steps=5, lr=0.5, n_poison=1), **changes}
    with pytest.raises(ValueError, match=match):
        make_hypergradient(make_case("linear", 1, "single", "l2").problem, **options)


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_autograd_runs_under_inference_mode(model):
    case = make_case(model, 1, "per_layer" if model == "mlp" else "single", "l2")
    want = _call(case, "autograd")
    with torch.inference_mode():
        inputs = {name: getattr(case, name).clone() for name in
                  ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")}
        got = _call(case, "autograd", **inputs)
        built_inside = make_case(model, 1, "per_layer" if model == "mlp" else "single", "l2")
    assert torch.equal(got.grad_X_poison, want.grad_X_poison)
    # a problem built under inference mode too (its penalty's index tensors)
    assert torch.equal(_call(built_inside, "autograd").grad_X_poison, want.grad_X_poison)


def test_custom_problems_keep_their_own_targets():
    # The bool refusal is for the built-in losses; a custom data_loss may take anything.
    case = make_case("linear", 1, "single", "l2")
    generic = GenericProblem(case.problem)
    want = _call(case, "rmd", problem=generic)
    got = _call(case, "rmd", problem=generic, Y=case.Y.bool(), Y_val=case.Y_val.bool())
    assert torch.equal(got.val_loss, want.val_loss)


def test_batched_train_with_zero_steps_returns_a_copy():
    cases = [make_case("linear", 1, "single", "l2", seed=s) for s in (0, 1)]
    W0 = torch.stack([c.w0 for c in cases])
    X, Y = torch.stack([c.X for c in cases]), torch.stack([c.Y for c in cases])
    for w0 in (W0, W0[0]):     # stacked, and shared (broadcast)
        W = batched_train(cases[0].problem, w0, cases[0].log_lambda, X, Y, steps=0, lr=0.5)
        W.add_(1.0)
        assert not torch.equal(W[0], w0 if w0.dim() == 1 else w0[0])


def test_a_zero_dimensional_integer_rate_is_a_rate():
    case = make_case("linear", 1, "single", "l2")
    got = _call(case, "rmd", lr=torch.tensor(1))
    assert torch.equal(got.grad_log_lambda, _call(case, "rmd", lr=1).grad_log_lambda)


@pytest.mark.parametrize("method", ["rmd", "fmd", "autograd"])
@pytest.mark.parametrize("option", ["tol", "maxiter", "stationarity_tol"])
def test_every_unrolled_method_refuses_the_implicit_solver_options(method, option):
    # tol / maxiter / stationarity_tol mean nothing to an unrolled method: they are
    # refused, not silently ignored (forward mode included).
    case = make_case("linear", 1, "single", "l2", steps=5)
    with pytest.raises(ValueError, match=rf"\['{option}'\] are options of the implicit methods"):
        _call(case, method, **{option: 1})


def test_targets_on_another_device_are_refused_up_front():
    # ("meta" stands in for a GPU: CPU targets beside its data would fail in a product)
    case = make_case("linear", 1, "single", "l2", steps=5)
    on_meta = {k: getattr(case, k).to("meta") for k in ("w0", "log_lambda", "X", "X_val",
                                                         "Y_val")}
    with pytest.raises(ValueError, match="Y is on cpu but X is on meta"):
        _call(case, "rmd", **on_meta)
