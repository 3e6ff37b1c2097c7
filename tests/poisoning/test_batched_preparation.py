"""fit_batched's preparation of its attacks: threads whatever joblib backend the caller
chose, and the error the attacks' own fits in a row would meet first."""

import time
import warnings

import numpy as np
import pytest
from joblib import parallel_config

from skpoison import HypergradRegularizedLR, OptimalPoisoner
from skpoison.estimators import _spectral
from skpoison.poisoning import _batched, fit_batched

from .test_batched import SEEDS, assert_same_attacks, repetitions, sequential


def _poisoner():
    return OptimalPoisoner(HypergradRegularizedLR(inner_steps=5), ratios=(0.1,),
                           batch_size=4, outer_steps=1)


def test_a_backend_of_processes_chosen_by_the_caller_still_prepares_in_threads():
    # The preparation sets the attacks up (classes_, the box): in loky's processes
    # it set up copies, and fit_batched failed with an AttributeError.
    datasets = repetitions([0, 8], 40, 20)
    poisoner = _poisoner()
    with parallel_config(backend="loky", n_jobs=2):
        batched = fit_batched(poisoner, datasets, random_states=SEEDS)
    assert_same_attacks(batched, sequential(poisoner, datasets, SEEDS))


def _bad(dataset, how):
    X, y, X_val, y_val = dataset
    if how == "outside the box":
        return X * 16, y, X_val, y_val
    if how == "NaN":
        X = X.copy()
        X[0, 0] = np.nan
        return X, y, X_val, y_val
    return X, y, X_val[:2], y_val[:2]        # too few points to clone: the plan fails


def test_the_first_data_set_at_fault_is_named_whatever_the_threads(monkeypatch):
    datasets = repetitions([0, 8], 40, 20)
    datasets[0] = _bad(datasets[0], "outside the box")
    datasets[2] = _bad(datasets[2], "outside the box")
    checked = _batched._checked

    def slow_first(attack, dataset, index, check_scale):
        if index == 0:
            time.sleep(0.5)          # (data set 2 fails first)
        return checked(attack, dataset, index, check_scale)
    monkeypatch.setattr(_batched, "_checked", slow_first)
    with pytest.raises(ValueError, match="^data set 0: .* values of X lie outside"):
        fit_batched(_poisoner(), datasets, n_jobs=3)


@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device set-up"])
def test_the_error_is_the_one_the_fits_in_a_row_meet_first(on_device, monkeypatch):
    # Data set 0's plan fails, data set 1's inputs: fits one after another stop at
    # data set 0 (the inputs of all were checked before any plan).
    if on_device:
        monkeypatch.setattr(_spectral, "HOST_LANCZOS_DEVICES", frozenset())
    datasets = repetitions([0, 8], 40, 20)
    datasets[0] = _bad(datasets[0], "few to clone")
    datasets[1] = _bad(datasets[1], "NaN")
    X, y, X_val, y_val = datasets[0]
    with pytest.raises(ValueError) as own:
        _poisoner().fit(X, y, X_val=X_val, y_val=y_val)
    for n_jobs in (None, 3):
        with pytest.raises(type(own.value), match="^data set 0: The largest ratio needs") as got:
            fit_batched(_poisoner(), datasets, n_jobs=n_jobs)
        assert str(got.value) == f"data set 0: {own.value}"


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_the_preparations_warnings_reach_the_caller_once_per_attack(backend):
    # Each attack warns as its own fit does, n_jobs threads or not (none lost in a
    # worker process, none repeated).
    datasets = repetitions([0, 8], 40, 20)
    poisoner = _poisoner().set_params(ratios=(0.1, 0.1), fixed_lambda=-2.0)

    def messages(run):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
        return sorted(str(w.message) for w in caught)
    separate = messages(lambda: sequential(poisoner, datasets, SEEDS))
    assert len(separate) == 6                  # (two per attack)
    with parallel_config(backend=backend, n_jobs=3):
        assert messages(lambda: fit_batched(poisoner, datasets, random_states=SEEDS)) \
            == separate


def test_the_preparations_warnings_name_the_callers_line_from_threads():
    # (in n_jobs threads they named skpoison's line, so that a filter by the
    # caller's module missed them; each attack's own fit names the caller's)
    datasets = repetitions([0, 8], 40, 20)
    poisoner = _poisoner().set_params(ratios=(0.1, 0.1), fixed_lambda=-2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_batched(poisoner, datasets, random_states=SEEDS, n_jobs=3)
    assert len(caught) == 6
    assert {w.filename for w in caught} == {__file__}
