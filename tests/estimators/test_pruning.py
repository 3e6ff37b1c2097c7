"""Linear fits skip all-zero columns (estimators/_pruning.py): the same model, sooner."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skpoison import HypergradRegularizedLR
from skpoison.estimators._pruning import kept_columns

FIELDS = ("coef_", "intercept_", "lambda_", "lambda_path_", "val_loss_path_")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    assert (~np.any(X[:300] != 0, axis=0)).sum() >= 3     # (digits' border pixels)
    return X, y


def _fit_both(monkeypatch, X, y, X_val=None, y_val=None, **params):
    settings = dict(inner_steps=60, outer_steps=3, random_state=0)
    fits = []
    for prune in (True, False):
        monkeypatch.setattr(HypergradRegularizedLR, "_prune_zero_columns", prune)
        fits.append(HypergradRegularizedLR(**{**settings, **params}).fit(
            X, y, X_val=X_val, y_val=y_val))
    return fits


def _assert_same_model(pruned, full):
    for field in FIELDS:
        np.testing.assert_allclose(getattr(pruned, field), getattr(full, field),
                                   rtol=1e-10, atol=1e-13, err_msg=field)


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize(("penalty", "l1_step"), [("l2", "subgradient"), ("l1", "subgradient"),
                                                  ("l1", "proximal")])
@pytest.mark.parametrize("lambda_mode", ["single", "per_feature"])
def test_pruned_fits_are_the_full_fits(digits, monkeypatch, classes, penalty, l1_step,
                                       lambda_mode):
    X, y = digits
    keep = y < classes
    X, y = X[keep][:300], y[keep][:300]
    X_val, y_val = X[200:], y[200:]
    X, y = X[:200], y[:200]
    zero = ~np.any(X != 0, axis=0)
    assert zero.any()
    pruned, full = _fit_both(monkeypatch, X, y, X_val, y_val, penalty=penalty,
                             l1_step=l1_step, lambda_mode=lambda_mode, lambda_init=-3.0)
    _assert_same_model(pruned, full)
    assert np.all(pruned.coef_[:, zero] == 0)
    if lambda_mode == "per_feature":   # (a dropped column's λ keeps its start)
        assert np.all(pruned.lambda_path_[:, zero] == -3.0)


@pytest.mark.filterwarnings("ignore::skpoison.hypergrad.InnerNotConvergedWarning")
@pytest.mark.parametrize("hypergrad", ["fmd", "cg"])
def test_other_methods_prune_alike(digits, monkeypatch, hypergrad):
    X, y = digits
    keep = y < 2
    X, y = X[keep][:200], y[keep][:200]
    pruned, full = _fit_both(monkeypatch, X[:150], y[:150], X[150:], y[150:],
                             hypergrad=hypergrad, lambda_mode="per_feature")
    _assert_same_model(pruned, full)


def test_the_final_fit_on_all_of_x_keeps_the_columns_the_held_out_part_uses(digits,
                                                                             monkeypatch):
    # With the internal split, a column may be zero in the part λ is learned on
    # and not in the held-out rows the final model also trains on.
    X, y = digits
    keep = y < 2
    X, y = X[keep][:200].copy(), y[keep][:200]
    zero = np.flatnonzero(~np.any(X != 0, axis=0))[0]
    X[:, zero] = 0.0
    X[-3:, zero] = 0.5          # rows the split may hold out
    pruned, full = _fit_both(monkeypatch, X, y, validation_fraction=0.5)
    _assert_same_model(pruned, full)
    assert pruned.coef_[0, zero] != 0     # (trained by the final fit)


def test_nothing_to_prune_keeps_every_column():
    assert kept_columns(np.ones((3, 2))) is None
    assert kept_columns(np.zeros((3, 2))) is None     # (nothing would be left to train)


@pytest.mark.filterwarnings("ignore::skpoison.hypergrad.InnerNotConvergedWarning")
def test_implicit_l1_fits_solve_the_system_of_the_trained_weights(digits):
    # Under subgradient L1 the implicit system is the data Hessian's, 0 on the
    # weight of a column that is 0 in X. Where X_val has that column, the
    # unpruned right-hand side had a part the Hessian cannot reach: CG broke
    # down (and left λ elsewhere than the exact solve). The pruned system is
    # the trained weights' own, and the two methods agree.
    X, y = digits
    keep = y < 2
    X, y = X[keep], y[keep]
    X_fit, y_fit, X_val, y_val = X[:200], y[:200], X[200:300], y[200:300]
    assert (~np.any(X_fit != 0, axis=0) & np.any(X_val != 0, axis=0)).any()
    lambdas = {}
    for hypergrad in ("cg", "exact"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lambdas[hypergrad] = HypergradRegularizedLR(
                penalty="l1", hypergrad=hypergrad, inner_steps=300, outer_steps=3,
                random_state=0).fit(X_fit, y_fit, X_val=X_val, y_val=y_val).lambda_
        assert not [w for w in caught if "HessianSolveWarning" in type(w.message).__name__]
    np.testing.assert_allclose(lambdas["cg"], lambdas["exact"], rtol=1e-8)
