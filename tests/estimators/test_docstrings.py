"""The estimators' docstrings as a scikit-learn user reads them (numpydoc): every
parameter documented, under its own name and with a description, every fitted
attribute documented and nothing else."""

import inspect

import numpy as np
import pandas as pd
import pytest

from numpydoc_sections import entries as _entries
from numpydoc_sections import names as _names
from numpydoc_sections import sections as _sections
from skpoison import HypergradMLP, HypergradRegularizedLR

ESTIMATORS = [HypergradRegularizedLR, HypergradMLP]
METHODS = ["fit", "predict", "predict_proba", "predict_log_proba", "decision_function"]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_parameters_are_the_signature_s_and_described(cls):
    entries = _entries(_sections(cls.__doc__)["Parameters"])
    signature = list(inspect.signature(cls.__init__).parameters)[1:]
    assert [name for names, _ in entries for name in names] == signature
    assert [names for names, description in entries if not description] == []


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("method", METHODS)
def test_methods_document_their_parameters(cls, method):
    function = getattr(cls, method)
    documented = _names(_sections(function.__doc__).get("Parameters", []))
    assert documented == list(inspect.signature(function).parameters)[1:]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_attributes_are_the_fitted_ones(cls):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.rand(40, 3), columns=["a", "b", "c"])
    y = np.arange(40) % 3
    model = cls(inner_steps=5, outer_steps=1, random_state=0).fit(X, y)
    fitted = {name for name in vars(model) if name.endswith("_") and not name.startswith("_")}
    entries = _entries(_sections(cls.__doc__)["Attributes"])
    assert {name for names, _ in entries for name in names} == fitted
    assert [names for names, description in entries if not description] == []


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_fitted_arrays_have_the_documented_dtype(cls):
    # (the dtype parameter's description lists them)
    X, y = np.random.RandomState(0).rand(30, 3), np.arange(30) % 3
    model = cls(inner_steps=5, outer_steps=1, random_state=0, dtype="float32").fit(X, y)
    weights = ([model.coef_, model.intercept_] if cls is HypergradRegularizedLR
               else model.coefs_ + model.intercepts_)
    for array in weights + [model.lambda_, model.alpha_, model.lambda_path_]:
        assert array.dtype == np.float32
    assert model.val_loss_path_.dtype == np.float64
