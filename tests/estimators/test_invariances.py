"""Invariances of the fitted models and of ``skpoison.hypergradient`` (hypothesis).

Random, well-conditioned problems (standard normal features, n <= 60 rows,
d <= 8 columns, 2 or 3 classes from a noisy linear rule), short loops.

Tolerances. Reordering rows or columns, or doubling the rows, changes only the
order of floating-point sums, and a single-precision fit rounds every
operation to float32: the results then differ by rounding, which the inner
gradient descent (contractive at ``inner_lr="auto"``) does not amplify.
Measured with these strategies at 400 examples per test, the largest
difference was 23 ulps of the quantity's scale (float64; 11 float32 ulps for
a float32 fit); ``ROUNDING`` (256 ulps) leaves ten times that. A broken
variant (a row, label or column out of place, a sign, data rounded to
float16) moved the results by more than 1000 ulps, most by 1e-4 or more.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from skpoison import HypergradMLP, HypergradRegularizedLR, hypergradient

ROUNDING = 256           # ulps of a quantity's scale; see the module docstring
EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps
# derandomize: the same examples in every run (CI must not depend on a draw).
FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def make_problem(n, d, n_classes, seed):
    """Training, trusted and test sets: N(0, 1) features, noisy linear labels.

    Every class occurs in the training and in the trusted set.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + 30 + 20, d))
    scores = X @ rng.normal(size=(d, n_classes)) + 0.5 * rng.normal(size=(len(X), n_classes))
    y = scores.argmax(1)
    y[:n_classes] = y[n:n + n_classes] = np.arange(n_classes)
    return X[:n], y[:n], X[n:n + 30], y[n:n + 30], X[n + 30:]


@st.composite
def problems(draw, classes=(2, 3)):
    n = draw(st.integers(8, 60))
    d = draw(st.integers(1, 8))
    n_classes = draw(st.sampled_from(classes))
    return make_problem(n, d, n_classes, draw(st.integers(0, 2**32 - 1)))


@st.composite
def linear_models(draw, **fixed):
    params = dict(
        penalty=draw(st.sampled_from(["l2", "l1"])),
        lambda_mode=draw(st.sampled_from(["single", "per_feature"])),
        inner_steps=draw(st.integers(1, 30)),
        outer_steps=draw(st.integers(0, 3)),
        outer_optimizer=draw(st.sampled_from(["adam", "gd", "sign"])),
        random_state=0)
    return HypergradRegularizedLR(**{**params, **fixed})


@st.composite
def networks(draw):
    return HypergradMLP(
        hidden_layer_sizes=tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))),
        penalty=draw(st.sampled_from(["l2", "l1"])),
        lambda_mode=draw(st.sampled_from(["single", "per_layer"])),
        inner_steps=draw(st.integers(1, 30)), inner_lr=0.1,
        outer_steps=draw(st.integers(0, 3)), random_state=draw(st.integers(0, 2**32 - 1)))


def assert_rounding(actual, expected, eps=EPS64, scale=None, what=""):
    """``|actual - expected| <= ROUNDING eps scale``; scale: max |expected| by default."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, what
    if scale is None:
        scale = np.abs(expected).max(initial=0.0)
    bound = ROUNDING * eps * (scale if scale > 0 else 1.0)
    error = np.abs(actual - expected).max(initial=0.0)
    assert error <= bound, f"{what}: {error:.3g} > {bound:.3g} ({error / (eps * scale):.0f} ulps)"


def weights(clf):
    """coef_ and intercept_ as one vector (they are computed together: one scale)."""
    return np.concatenate([clf.coef_.ravel(), clf.intercept_.ravel()])


def assert_same_linear_model(got, reference, X_test, eps=EPS64, columns=None):
    """Rounding-level equality; ``columns``: got's feature j is reference's columns[j]."""
    coef, lam, X_got = got.coef_, got.lambda_, X_test
    if columns is not None:
        inverse = np.argsort(columns)
        coef = coef[:, inverse]
        if lam.size > 1:
            lam = lam[inverse]
        X_got = X_test[:, columns]
    scale = np.abs(weights(reference)).max()
    assert_rounding(coef, reference.coef_, eps, scale, "coef_")
    assert_rounding(got.intercept_, reference.intercept_, eps, scale, "intercept_")
    assert_rounding(lam, reference.lambda_, eps, max(1.0, np.abs(reference.lambda_).max()),
                    "lambda_")
    assert_rounding(got.predict_proba(X_got), reference.predict_proba(X_test), eps, 1.0,
                    "predict_proba")


@FAST
@given(problems(), linear_models(), st.randoms(use_true_random=False))
def test_permuting_training_rows_changes_the_linear_fit_by_rounding_only(data, model, random):
    X, y, X_val, y_val, X_test = data
    order = list(range(len(X)))
    random.shuffle(order)
    reference = clone(model).fit(X, y, X_val=X_val, y_val=y_val)
    shuffled = clone(model).fit(X[order], y[order], X_val=X_val, y_val=y_val)
    assert_same_linear_model(shuffled, reference, X_test)


@FAST
@given(problems(), linear_models(), st.randoms(use_true_random=False))
def test_permuting_columns_permutes_coef(data, model, random):
    # (and a per-feature λ with them)
    X, y, X_val, y_val, X_test = data
    columns = list(range(X.shape[1]))
    random.shuffle(columns)
    reference = clone(model).fit(X, y, X_val=X_val, y_val=y_val)
    permuted = clone(model).fit(X[:, columns], y, X_val=X_val[:, columns], y_val=y_val)
    assert_same_linear_model(permuted, reference, X_test, columns=columns)


@FAST
@given(problems(), linear_models())
def test_duplicating_the_training_set_gives_the_same_linear_model(data, model):
    # The training loss is a mean: every row twice is the same loss.
    X, y, X_val, y_val, X_test = data
    reference = clone(model).fit(X, y, X_val=X_val, y_val=y_val)
    doubled = clone(model).fit(np.vstack([X, X]), np.concatenate([y, y]), X_val=X_val,
                               y_val=y_val)
    assert_same_linear_model(doubled, reference, X_test)


labels = st.one_of(
    st.lists(st.integers(-10**6, 10**6), min_size=3, max_size=3, unique=True),
    st.lists(st.text("abcxyz", min_size=1, max_size=4), min_size=3, max_size=3, unique=True))


# (tiny classes on purpose: the unstratified split's warning is not the point)
@pytest.mark.filterwarnings("ignore:The split of X:UserWarning")
@FAST
@given(problems(), st.one_of(linear_models(), networks()), labels, st.booleans())
def test_order_preserving_relabelling_gives_the_same_model_bitwise(data, model, values,
                                                                   internal_split):
    # Classes are sorted: mapping class i to the i-th smallest new label keeps
    # the encoding, so nothing may change, not even rounding.
    X, y, X_val, y_val, X_test = data
    new = np.sort(np.array(values))
    trusted = {} if internal_split else dict(X_val=X_val, y_val=y_val)
    relabelled = {} if internal_split else dict(X_val=X_val, y_val=new[y_val])
    reference = clone(model).fit(X, y, **trusted)
    other = clone(model).fit(X, new[y], **relabelled)
    np.testing.assert_array_equal(other.classes_, new[reference.classes_])
    for name in ("coef_", "intercept_", "coefs_", "intercepts_", "lambda_", "lambda_path_",
                 "val_loss_path_"):
        if hasattr(reference, name):
            np.testing.assert_equal(getattr(other, name), getattr(reference, name), name)
    np.testing.assert_array_equal(other.predict_proba(X_test), reference.predict_proba(X_test))
    np.testing.assert_array_equal(other.predict(X_test), new[reference.predict(X_test)])


@FAST
@given(problems(), linear_models(), st.data())
def test_reordering_the_classes_reorders_the_linear_model(data, model, draw):
    # Two classes: the order reversed negates coef_ and intercept_ (one score
    # row) and swaps the probabilities. Three: softmax rows follow their class.
    X, y, X_val, y_val, X_test = data
    n_classes = len(np.unique(y))
    if n_classes == 2:
        new_of = np.array([1, 0])
    else:
        new_of = np.array(draw.draw(st.permutations(range(n_classes)).filter(
            lambda p: list(p) != sorted(p))))
    reference = clone(model).fit(X, y, X_val=X_val, y_val=y_val)
    other = clone(model).fit(X, new_of[y], X_val=X_val, y_val=new_of[y_val])
    # other's class new_of[c] is reference's class c
    scale = np.abs(weights(reference)).max()
    if n_classes == 2:
        assert_rounding(other.coef_, -reference.coef_, scale=scale, what="coef_")
        assert_rounding(other.intercept_, -reference.intercept_, scale=scale, what="intercept_")
    else:
        assert_rounding(other.coef_[new_of], reference.coef_, scale=scale, what="coef_")
        assert_rounding(other.intercept_[new_of], reference.intercept_, scale=scale,
                        what="intercept_")
    assert_rounding(other.lambda_, reference.lambda_,
                    scale=max(1.0, np.abs(reference.lambda_).max()), what="lambda_")
    assert_rounding(other.predict_proba(X_test)[:, new_of], reference.predict_proba(X_test),
                    scale=1.0, what="predict_proba")


@FAST
@given(problems(), st.one_of(linear_models(), networks()),
       st.sampled_from(["float64", "float32"]), st.floats(0.1, 10.0))
def test_predict_is_the_argmax_of_predict_proba_whose_rows_sum_to_one(data, model, dtype,
                                                                      spread):
    X, y, X_val, y_val, X_test = data
    clf = clone(model).set_params(dtype=dtype).fit(X, y, X_val=X_val, y_val=y_val)
    X_test = X_test * spread        # (wider: saturated probabilities too)
    proba = clf.predict_proba(X_test)
    eps = np.finfo(proba.dtype).eps
    # Each probability carries a few ulps (exp, division); k of them are summed.
    assert np.abs(proba.sum(1) - 1.0).max() <= 8 * proba.shape[1] * eps
    top, second = np.sort(proba, axis=1)[:, :-3:-1].T
    clear = top - second > 4 * eps    # no tie, even within rounding of exp
    np.testing.assert_array_equal(clf.predict(X_test)[clear],
                                  clf.classes_[proba.argmax(1)][clear])


def fitted_state(clf):
    names = ("coef_", "intercept_", "coefs_", "intercepts_", "lambda_", "lambda_path_",
             "val_loss_path_", "inner_lr_", "classes_")
    return {name: getattr(clf, name) for name in names if hasattr(clf, name)}


@FAST
@given(problems(), st.one_of(linear_models(), networks()), st.integers(0, 2**32 - 1),
       st.booleans())
def test_the_same_random_state_gives_the_same_fit_bitwise(data, model, seed, internal_split):
    # random_state draws the initial network and the internal trusted split.
    X, y, X_val, y_val, X_test = data
    trusted = {} if internal_split else dict(X_val=X_val, y_val=y_val)
    first = clone(model).set_params(random_state=seed).fit(X, y, **trusted)
    second = clone(model).set_params(random_state=seed).fit(X, y, **trusted)
    np.testing.assert_equal(fitted_state(second), fitted_state(first))
    np.testing.assert_array_equal(second.predict_proba(X_test), first.predict_proba(X_test))


@FAST
@given(problems(), linear_models(penalty="l2", outer_optimizer="adam"))
def test_float32_fit_agrees_with_float64_to_float32_rounding(data, model):
    # L2 only: the L1 subgradient jumps at 0, so a weight passing within
    # float32 rounding of 0 may step the other way (a genuine, rare difference).
    X, y, X_val, y_val, X_test = data
    reference = clone(model).fit(X, y, X_val=X_val, y_val=y_val)
    single = clone(model).set_params(dtype="float32").fit(X, y, X_val=X_val, y_val=y_val)
    assert single.coef_.dtype == np.float32
    assert_same_linear_model(single, reference, X_test, eps=EPS32)


@FAST
@given(problems(), st.one_of(linear_models(), networks()), st.integers(1, 5),
       st.sampled_from(["rmd", "fmd"]), st.randoms(use_true_random=False))
def test_hypergradient_does_not_depend_on_the_order_of_rows(data, model, n_poison, method,
                                                            random):
    # Training, trusted and poisoning rows each reordered: the same loss and
    # λ-gradient; the poison gradient's rows follow their points.
    X, y, X_val, y_val, X_test = data
    X_poison = X_test[:n_poison]
    y_poison = np.resize(np.unique(y), n_poison)[::-1].copy()
    rows, trusted, poison = (random.sample(range(m), m) for m in (len(X), len(X_val), n_poison))
    reference = hypergradient(model, X, y, X_val, y_val, X_poison=X_poison, y_poison=y_poison,
                              method=method)
    other = hypergradient(model, X[rows], y[rows], X_val[trusted], y_val[trusted],
                          X_poison=X_poison[poison], y_poison=y_poison[poison], method=method)
    loss = abs(reference.val_loss)
    assert_rounding(other.val_loss, reference.val_loss, scale=loss, what="val_loss")
    # The λ-gradient sums terms that can cancel far below their size: its
    # rounding is measured against the loss it differentiates.
    assert_rounding(other.grad_log_lambda, reference.grad_log_lambda,
                    scale=max(loss, np.abs(reference.grad_log_lambda).max()),
                    what="grad_log_lambda")
    assert_rounding(other.grad_X_poison, reference.grad_X_poison[poison], what="grad_X_poison")
