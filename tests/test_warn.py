"""Where skpoison's warnings point: the user's line, else skpoison's own."""

import multiprocessing
import os
import threading
import warnings

from skpoison._warn import warn_user


def _warn_from_skpoison():
    """A stand-in for a skpoison function that warns (this file is not skpoison's)."""
    warn_user("careful")


def _record(function):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        function()
    return caught


def test_a_warning_points_at_the_callers_line():
    caught = _record(lambda: warn_user("careful"))
    assert caught[0].filename == __file__


def test_a_warning_in_a_worker_thread_points_at_skpoison_not_at_threading(monkeypatch):
    # In a sweep's worker (thread or process) every frame above skpoison is
    # joblib's or the standard library's; the bottom one (threading.py,
    # multiprocessing/process.py) says nothing, skpoison's line does.
    monkeypatch.setattr("skpoison._warn._PACKAGE", __file__)   # this file plays skpoison

    def in_a_thread():
        worker = threading.Thread(target=_warn_from_skpoison)
        worker.start()
        worker.join()

    caught = _record(in_a_thread)
    assert [w.filename for w in caught] == [__file__]
    assert caught[0].lineno == _warn_from_skpoison.__code__.co_firstlineno + 2


def test_a_warning_in_a_worker_process_points_at_skpoison_not_at_its_machinery(monkeypatch):
    # A worker process's stack (loky, a Pool, ProcessPoolExecutor) runs from
    # multiprocessing's code, below it runpy or "<string>": stood in for by a
    # frame whose file lies in multiprocessing's folder.
    monkeypatch.setattr("skpoison._warn._PACKAGE", __file__)   # this file plays skpoison
    machinery = os.path.join(os.path.dirname(multiprocessing.__file__), "stand_in.py")
    namespace = {"run_cell": _warn_from_skpoison}
    exec(compile("def bootstrap():\n    run_cell()\n", machinery, "exec"), namespace)
    caught = _record(namespace["bootstrap"])
    assert [(w.filename, w.lineno) for w in caught] == [
        (__file__, _warn_from_skpoison.__code__.co_firstlineno + 2)]


def test_a_warning_raised_under_a_scikit_learn_pipeline_points_at_the_users_line():
    # (it pointed at sklearn/pipeline.py, which called the model's fit)
    from sklearn.datasets import load_digits
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from skpoison import HypergradRegularizedLR, TrustedSetWarning

    X, y = load_digits(n_class=2, return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("clf", HypergradRegularizedLR(inner_steps=5, outer_steps=1))])
    line = None

    def fit():
        nonlocal line
        line = fit.__code__.co_firstlineno + 3
        pipe.fit(X[:100], y[:100], clf__X_val=X[100:150], clf__y_val=y[100:150])

    caught = [w for w in _record(fit) if w.category is TrustedSetWarning]
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line)]




def test_a_worker_thread_doing_a_callers_work_points_at_the_callers_line(monkeypatch):
    # (fit_batched prepares its attacks in threads: their warnings named
    # skpoison's line, which a filter by the user's module did not match)
    from skpoison._warn import callers_line, on_behalf_of

    first = test_a_worker_thread_doing_a_callers_work_points_at_the_callers_line
    assert callers_line()[:2] == (__file__, first.__code__.co_firstlineno + 6)
    monkeypatch.setattr("skpoison._warn._PACKAGE", __file__)   # this file plays skpoison
    users = ("user_script.py", 12, {"__name__": "user_script"})

    def work():
        with on_behalf_of(users):
            _warn_from_skpoison()

    worker = threading.Thread(target=lambda: caught.extend(_record(work)))
    caught = []
    worker.start()
    worker.join()
    assert [(w.filename, w.lineno) for w in caught] == [("user_script.py", 12)]
