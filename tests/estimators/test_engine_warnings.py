"""The engine's warnings reach the user once per fit / attack / call, at the user's line."""

import threading
import warnings

import pytest
import torch

from skpoison import HypergradRegularizedLR, OptimalPoisoner, hypergradient
from skpoison.hypergrad import InnerNotConvergedWarning, compute_hypergradient
from skpoison.hypergrad._warnings import collect_warnings
from skpoison.models import LinearProblem

# 20 inner steps do not reach a stationary point: every implicit step warns.
UNCONVERGED = dict(hypergrad="cg", inner_steps=20)


def _caught(run):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    return [w for w in caught if issubclass(w.category, InnerNotConvergedWarning)]


def test_a_fit_warns_once_with_its_count_at_the_callers_line(digits08_pool):
    X, y = digits08_pool
    clf = HypergradRegularizedLR(outer_steps=10, **UNCONVERGED)
    caught = _caught(lambda: clf.fit(X[:200], y[:200], X_val=X[200:250], y_val=y[200:250]))
    assert len(caught) == 1
    assert "has not converged" in str(caught[0].message)
    assert "[10 times in this fit; the first is shown]" in str(caught[0].message)
    assert caught[0].filename == __file__
    assert len(clf.lambda_path_) == 11          # the steps ran on


def test_an_attack_warns_once(digits08_pool):
    X, y = digits08_pool
    attack = OptimalPoisoner(HypergradRegularizedLR(**UNCONVERGED), ratios=(0, 0.05),
                             outer_steps=3)
    caught = _caught(lambda: attack.fit(X[:200], y[:200], X_val=X[200:250],
                                        y_val=y[200:250]))
    assert len(caught) == 1
    assert "times in this attack" in str(caught[0].message)
    assert caught[0].filename == __file__


def test_the_hypergradient_function_warns_at_the_callers_line(digits08_pool):
    X, y = digits08_pool
    clf = HypergradRegularizedLR(**UNCONVERGED)
    caught = _caught(lambda: hypergradient(clf, X[:200], y[:200], X[200:250], y[200:250],
                                           log_lambda=[-4.0]))
    assert len(caught) == 1
    assert "times in this" not in str(caught[0].message)
    assert caught[0].filename == __file__


def test_an_error_filter_still_stops_the_fit(digits08_pool):
    X, y = digits08_pool
    with warnings.catch_warnings():
        warnings.simplefilter("error", InnerNotConvergedWarning)
        with pytest.raises(InnerNotConvergedWarning):
            HypergradRegularizedLR(outer_steps=2, **UNCONVERGED).fit(
                X[:200], y[:200], X_val=X[200:250], y_val=y[200:250])


def _engine_call():
    torch.manual_seed(0)
    X = torch.rand(30, 4, dtype=torch.float64)
    Y = (X[:, :1] > 0.5).to(torch.float64)
    return compute_hypergradient(LinearProblem(4, 1), torch.zeros(5, dtype=torch.float64),
                                 torch.tensor([-3.0], dtype=torch.float64), X, Y, X, Y,
                                 n_poison=0, steps=2, lr=0.1, method="cg")


def test_collection_belongs_to_the_thread_that_opened_it():
    # A thread-based sweep: one cell collecting must not swallow another's warnings.
    inside, outside = threading.Event(), threading.Event()
    collected_by_worker = []

    def worker():
        with collect_warnings() as collected:
            inside.set()
            outside.wait(10)
            _engine_call()
        collected_by_worker.extend(collected)

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(10)
    try:
        caught = _caught(_engine_call)
    finally:
        outside.set()
        thread.join()
    assert len(caught) == 1 and caught[0].filename == __file__
    assert [type(w) for w in collected_by_worker] == [InnerNotConvergedWarning]


def test_a_nested_collection_gives_the_outer_one_back():
    from skpoison.hypergrad._warnings import warn

    with collect_warnings() as outer:
        with collect_warnings() as inner:
            warn("inner", UserWarning)
        warn("outer", UserWarning)
    assert [str(w) for w in inner] == ["inner"] and [str(w) for w in outer] == ["outer"]
