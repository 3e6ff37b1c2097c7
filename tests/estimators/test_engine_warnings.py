"""The engine's warnings reach the user once per fit / attack / call, at the user's line."""

import threading
import warnings

import pytest
import torch

from skpoison import HypergradRegularizedLR, OptimalPoisoner, hypergradient
from skpoison.hypergrad import InnerNotConvergedWarning, compute_hypergradient
from skpoison.hypergrad._warnings import warn, warnings_once
from skpoison.models import LinearProblem

# 20 inner steps do not reach a stationary point: every implicit step warns.
UNCONVERGED = dict(hypergrad="cg", inner_steps=20)


def _caught_all(run):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    return caught


def _caught(run):
    return [w for w in _caught_all(run) if issubclass(w.category, InnerNotConvergedWarning)]


def test_a_fit_warns_once_then_counts_at_the_callers_line(digits08_pool):
    X, y = digits08_pool
    clf = HypergradRegularizedLR(outer_steps=10, **UNCONVERGED)
    caught = _caught(lambda: clf.fit(X[:200], y[:200], X_val=X[200:250], y_val=y[200:250]))
    assert [str(w.message)[:40] for w in caught] == [
        "The inner problem has not converged (||g",
        "InnerNotConvergedWarning was issued 10 t"]
    assert "10 times in this fit; only the first is shown" in str(caught[1].message)
    assert {w.filename for w in caught} == {__file__}
    assert len(clf.lambda_path_) == 11          # the steps ran on


def test_an_attack_warns_once_then_counts(digits08_pool):
    X, y = digits08_pool
    attack = OptimalPoisoner(HypergradRegularizedLR(**UNCONVERGED), ratios=(0, 0.05),
                             outer_steps=3)
    caught = _caught(lambda: attack.fit(X[:200], y[:200], X_val=X[200:250],
                                        y_val=y[200:250]))
    assert len(caught) == 2 and "times in this attack" in str(caught[1].message)
    assert {w.filename for w in caught} == {__file__}


def test_convergence_warnings_are_scikit_learns_too(digits08_pool):
    # A scikit-learn user silences solvers that did not converge with one
    # filter; the engine's own class (which never imports sklearn) still works.
    from sklearn.exceptions import ConvergenceWarning

    X, y = digits08_pool
    clf = HypergradRegularizedLR(outer_steps=2, **UNCONVERGED)
    fit = lambda: clf.fit(X[:200], y[:200], X_val=X[200:250], y_val=y[200:250])  # noqa: E731
    caught = _caught(fit)
    assert len(caught) == 2
    assert all(issubclass(w.category, ConvergenceWarning) for w in caught)
    for ignored in (ConvergenceWarning, InnerNotConvergedWarning):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", ignored)
            fit()


def test_the_hypergradient_function_warns_at_the_callers_line(digits08_pool):
    X, y = digits08_pool
    clf = HypergradRegularizedLR(**UNCONVERGED)
    caught = _caught(lambda: hypergradient(clf, X[:200], y[:200], X[200:250], y[200:250],
                                           log_lambda=[-4.0]))
    assert len(caught) == 1
    assert "has not converged" in str(caught[0].message)
    assert caught[0].filename == __file__


def test_an_error_filter_stops_the_fit_at_the_first_warning(digits08_pool, monkeypatch):
    X, y = digits08_pool
    clf = HypergradRegularizedLR(outer_steps=10, **UNCONVERGED)
    calls = []
    real = clf._fit.__globals__["make_hypergradient"]

    def counting(*args, **kwargs):
        engine = real(*args, **kwargs)
        return lambda *a: (calls.append(1), engine(*a))[1]

    monkeypatch.setitem(clf._fit.__globals__, "make_hypergradient", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InnerNotConvergedWarning)
        with pytest.raises(InnerNotConvergedWarning, match="has not converged"):
            clf.fit(X[:200], y[:200], X_val=X[200:250], y_val=y[200:250])
    assert len(calls) == 1


def test_warnings_of_a_block_that_raises_are_not_lost():
    shown = []
    with pytest.raises(FloatingPointError):
        with warnings_once("fit", lambda message, category: shown.append(message)):
            warn("first", UserWarning)
            warn("second", UserWarning)
            raise FloatingPointError("diverged")
    assert shown == ["first", "UserWarning was issued 2 times in this fit; only the first "
                              "is shown."]


def _engine_call():
    torch.manual_seed(0)
    X = torch.rand(30, 4, dtype=torch.float64)
    Y = (X[:, :1] > 0.5).to(torch.float64)
    return compute_hypergradient(LinearProblem(4, 1), torch.zeros(5, dtype=torch.float64),
                                 torch.tensor([-3.0], dtype=torch.float64), X, Y, X, Y,
                                 n_poison=0, steps=2, lr=0.1, method="cg")


def test_each_thread_counts_its_own_warnings():
    # A thread-based sweep: one cell's block must not swallow another's warnings.
    inside, outside = threading.Event(), threading.Event()
    shown_by_worker = []

    def worker():
        with warnings_once("fit", lambda message, category: shown_by_worker.append(category)):
            inside.set()
            outside.wait(10)
            _engine_call()
            _engine_call()

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(10)
    try:
        caught = _caught(_engine_call)
    finally:
        outside.set()
        thread.join()
    assert len(caught) == 1 and caught[0].filename == __file__
    assert shown_by_worker == [InnerNotConvergedWarning, InnerNotConvergedWarning]


def test_a_nested_block_gives_the_outer_one_back():
    outer, inner = [], []
    with warnings_once("attack", lambda message, category: outer.append(message)):
        with warnings_once("fit", lambda message, category: inner.append(message)):
            warn("inner", UserWarning)
        warn("outer", UserWarning)
    assert inner == ["inner"] and outer == ["outer"]


def test_a_closing_count_that_raises_leaves_no_block_behind():
    from skpoison._warn import warn_user

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", message=".*was issued")
        with pytest.raises(UserWarning, match="was issued 2 times"):
            with warnings_once("fit", warn_user):
                warn("a", UserWarning)
                warn("a", UserWarning)
    assert [str(w.message) for w in _caught_all(lambda: warn("after", UserWarning))] == [
        "after"]


def test_fit_batched_issues_each_engine_warning_once(digits08_pool, monkeypatch):
    from skpoison.poisoning import fit_batched
    from skpoison.poisoning._cumulative import run_cumulative_attack

    X, y = digits08_pool
    datasets = [(X[k * 90:k * 90 + 60], y[k * 90:k * 90 + 60], X[k * 90 + 60:k * 90 + 90],
                 y[k * 90 + 60:k * 90 + 90]) for k in range(2)]
    attack_loop = run_cumulative_attack.__globals__     # (the namespace the loop runs in)
    real, calls = attack_loop["optimize_batch"], []

    def warning_batch(*args, **kwargs):      # as a failed CUDA-graph capture would
        calls.append(1)
        warn("graph capture failed", RuntimeWarning)
        return real(*args, **kwargs)

    monkeypatch.setitem(attack_loop, "optimize_batch", warning_batch)
    poisoner = OptimalPoisoner(HypergradRegularizedLR(inner_steps=10), ratios=(0, 0.1),
                               outer_steps=1)
    caught = [w for w in _caught_all(lambda: fit_batched(poisoner, datasets))
              if issubclass(w.category, RuntimeWarning)]
    assert len(calls) > 1
    assert [str(w.message) for w in caught] == [
        "graph capture failed",
        f"RuntimeWarning was issued {len(calls)} times in this attack; only the first is "
        "shown."]
    assert {w.filename for w in caught} == {__file__}


def test_a_cg_fit_whose_solves_make_no_step_says_lambda_stays():
    # All ten digits, 20 inner steps: the network's Hessian curves down along
    # grad L_val at every outer step, CG makes no step and the hypergradient is 0,
    # so λ never leaves lambda_init. The user must be told, at their line.
    from sklearn.exceptions import ConvergenceWarning

    from skpoison import HypergradMLP
    from skpoison.datasets import load_digits_pair
    from skpoison.hypergrad import HessianSolveWarning

    digits = load_digits_pair(classes=None)
    X, y = digits.data, digits.target
    clf = HypergradMLP(hypergrad="cg", inner_steps=20, outer_steps=3, random_state=0)
    caught = [w for w in _caught_all(lambda: clf.fit(X, y))
              if issubclass(w.category, HessianSolveWarning)]
    assert (clf.lambda_path_ == -4.0).all()
    assert len(caught) == 2
    assert issubclass(caught[0].category, ConvergenceWarning)
    message = str(caught[0].message)
    assert "exactly 0, not an estimate" in message and "leaves λ at lambda_init" in message
    assert "hypergrad='rmd'" in message
    assert str(caught[1].message).startswith("HessianSolveWarning (no solution) was issued "
                                             "3 times in this fit")
    assert {w.filename for w in caught} == {__file__}
    # The fit says so too, once: lambda_ == lambda_init is no learned value.
    stayed = [w for w in _caught_all(lambda: clf.fit(X, y))
              if "never moved" in str(w.message)]
    assert len(stayed) == 1 and issubclass(stayed[0].category, ConvergenceWarning)
    assert "(-4) in 3 outer steps" in str(stayed[0].message)
    assert "hypergrad='rmd' differentiates" in str(stayed[0].message)
    # What the warnings point to moves λ on the same fit, without a word.
    fitted = []
    assert not [w for w in _caught_all(lambda: fitted.append(
        clf.set_params(hypergrad="rmd").fit(X, y))) if "never moved" in str(w.message)]
    assert (fitted[0].lambda_path_[1:] != -4.0).all()


def test_lambda_held_at_a_bound_is_no_lambda_that_never_moved():
    # A start at lambda_bounds' bottom with hypergradients pushing below it: λ stays,
    # by the projection, and that is the bound's doing, not a silent zero.
    from sklearn.datasets import load_digits

    from skpoison import HypergradRegularizedLR

    X, y = load_digits(n_class=2, return_X_y=True)
    clf = HypergradRegularizedLR(lambda_init=-12.0, lambda_bounds=(-12.0, 0.0),
                                 inner_steps=30, outer_steps=3, outer_optimizer="sign")
    caught = _caught_all(lambda: clf.fit(X[:200] / 16, y[:200]))
    assert (clf.lambda_path_ == -12.0).all()
    assert not [w for w in caught if "never moved" in str(w.message)]
