"""Malformed engine arguments are refused with a message naming them.

Before these checks some were answered silently: a long ``log_lambda`` gave
methods that disagreed, ``n_poison > n`` sliced the wrong rows, a negative
rate ran gradient ascent, a 1-D ``Y_val`` broadcast into a wrong loss.
"""

from __future__ import annotations

import pytest
import torch
from hg_cases import DT, make_case

from skpoison.hypergrad import (
    batched_hypergradient,
    batched_train,
    compute_hypergradient,
    train,
)

METHODS = ["rmd", "fmd", "cg", "exact", "autograd"]


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
        (dict(Y=case.Y[:1]), r"Y must have shape \(40, 1\)"),
        (dict(Y=torch.cat([case.Y, 1 - case.Y], 1)), "0/1 column for binary"),
        (dict(X_val=case.X_val[:0], Y_val=case.Y_val[:0]), "n >= 1"),
        (dict(X_val=case.X_val[:, :2]), "X_val has 2 features but X has 4"),
        (dict(X=case.X.float()), "has dtype torch.float64 but X has torch.float32"),
        (dict(X_val=case.X_val.float()), "X_val has dtype torch.float32"),
        (dict(log_lambda=case.log_lambda.float()), "log_lambda has dtype"),
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
