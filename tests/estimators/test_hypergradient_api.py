"""The public ``skpoison.hypergradient`` against finite differences and itself."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.base import clone

from skpoison import HypergradMLP, HypergradRegularizedLR, hypergradient


@pytest.fixture(scope="module")
def problem():
    X, y = load_digits(n_class=3, return_X_y=True)
    X = X / 16.0
    return dict(X_train=X[:120], y_train=y[:120], X_val=X[120:170], y_val=y[120:170],
                X_poison=X[170:173], y_poison=(y[170:173] + 1) % 3)


ESTIMATORS = [
    HypergradRegularizedLR(inner_steps=25, inner_lr=0.5),
    HypergradRegularizedLR(penalty="l1", lambda_mode="per_feature", inner_steps=25, inner_lr=0.5),
    HypergradMLP((5,), lambda_mode="per_layer", inner_steps=25, inner_lr=0.5, random_state=0),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_matches_finite_differences(estimator, problem):
    rng = np.random.RandomState(0)
    n_hyper = {"single": 1, "per_feature": 64, "per_layer": 2}[estimator.lambda_mode]
    log_lambda = rng.uniform(-4, -2, size=n_hyper)
    res = hypergradient(estimator, **problem, log_lambda=log_lambda)
    eps = 1e-5

    def loss(lam=log_lambda, X_poison=problem["X_poison"]):
        args = {**problem, "X_poison": X_poison}
        return hypergradient(estimator, **args, log_lambda=lam).val_loss

    direction = rng.normal(size=n_hyper)
    fd = (loss(log_lambda + eps * direction) - loss(log_lambda - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(res.grad_log_lambda @ direction, fd, rtol=1e-5, atol=1e-10)
    direction = rng.normal(size=problem["X_poison"].shape)
    fd = (loss(X_poison=problem["X_poison"] + eps * direction)
          - loss(X_poison=problem["X_poison"] - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(np.sum(res.grad_X_poison * direction), fd, rtol=1e-5,
                               atol=1e-10)


def test_auto_rate_above_the_bounds_is_reported_and_held_fixed(problem):
    # Above lambda_bounds the auto rate is computed for the λ asked (stability):
    # it changes with λ there, and the result says which rate it used, so a
    # finite difference at that fixed rate matches the hypergradient.
    auto = HypergradRegularizedLR(inner_steps=25)            # bounds (-12, 0)
    inside = hypergradient(auto, **problem, log_lambda=-1.0)
    above = hypergradient(auto, **problem, log_lambda=0.5)
    assert above.inner_lr < inside.inner_lr
    assert inside.inner_lr == HypergradRegularizedLR(inner_steps=25).fit(
        problem["X_train"], problem["y_train"], problem["X_val"], problem["y_val"]).inner_lr_
    fixed = HypergradRegularizedLR(inner_steps=25, inner_lr=above.inner_lr)
    eps = 1e-5
    fd = (hypergradient(fixed, **problem, log_lambda=0.5 + eps).val_loss
          - hypergradient(fixed, **problem, log_lambda=0.5 - eps).val_loss) / (2 * eps)
    np.testing.assert_allclose(above.grad_log_lambda, [fd], rtol=1e-5)
    assert hypergradient(fixed, **problem, log_lambda=0.5).inner_lr == above.inner_lr


def test_methods_agree_and_shapes(problem):
    est = HypergradRegularizedLR(inner_steps=25, inner_lr=0.5)
    rmd = hypergradient(est, **problem, method="rmd")
    fmd = hypergradient(est, **problem, method="fmd")
    np.testing.assert_allclose(rmd.grad_log_lambda, fmd.grad_log_lambda, rtol=1e-9)
    np.testing.assert_allclose(rmd.grad_X_poison, fmd.grad_X_poison, rtol=1e-9, atol=1e-14)
    assert rmd.grad_X_poison.shape == problem["X_poison"].shape
    no_poison = {k: v for k, v in problem.items() if "poison" not in k}
    assert hypergradient(est, **no_poison).grad_X_poison is None


def test_bad_arguments(problem):
    est = HypergradRegularizedLR(inner_steps=5)
    with pytest.raises(ValueError, match="method"):
        hypergradient(est, **problem, method="newton")
    with pytest.raises(ValueError, match="together"):
        hypergradient(est, **{**problem, "y_poison": None})
    with pytest.raises(ValueError, match="absent"):
        hypergradient(est, **{**problem, "y_val": np.full(50, 7)})
    with pytest.raises(ValueError, match="the model has 1 hyperparameter:"):
        hypergradient(est, **problem, log_lambda=[0.0, 1.0])
    with pytest.raises(ValueError, match="log_lambda=True .* not a bool"):
        hypergradient(est, **problem, log_lambda=True)
    with pytest.raises(ValueError, match=r"log_lambda=\[-4.0, True\] .* not a bool"):
        hypergradient(est, **problem, log_lambda=[-4.0, True])
    with pytest.raises(ValueError, match="lambda_init=True .* not a bool"):   # (its default)
        hypergradient(HypergradRegularizedLR(inner_steps=5, lambda_init=True), **problem)


@pytest.mark.parametrize("value, message", [
    ([], r"must be a number or a non-empty 1-D array; got shape \(0,\)"),   # (was NumPy's error)
    ([[-4.0]], r"must be a number or a non-empty 1-D array; got shape \(1, 1\)"),
    (np.nan, "must not be NaN"),
])
def test_a_bad_lambda_is_named_where_it_came_from(problem, value, message):
    # The same rule as fit's lambda_init and the poisoner's fixed_lambda; the
    # error names the argument that held the value (the estimator's
    # lambda_init when log_lambda is not given).
    est = HypergradRegularizedLR(inner_steps=5)
    with pytest.raises(ValueError, match="log_lambda " + message):
        hypergradient(est, **problem, log_lambda=value)
    with pytest.raises(ValueError, match="lambda_init " + message):
        hypergradient(clone(est).set_params(lambda_init=value), **problem)
    with pytest.raises(ValueError, match="lambda_init " + message):
        clone(est).set_params(lambda_init=value).fit(problem["X_train"], problem["y_train"])


def test_inputs_are_read_as_fit_reads_them(problem):
    pd = pytest.importorskip("pandas")
    est = HypergradRegularizedLR(inner_steps=5)
    frame = {name: pd.DataFrame(problem[name], columns=[f"c{i}" for i in range(64)])
             for name in ("X_train", "X_val", "X_poison")}
    named = {**problem, **frame}
    reordered = frame["X_val"][frame["X_val"].columns[::-1]]
    with pytest.raises(ValueError, match="X_val's columns do not match"):
        hypergradient(est, **{**named, "X_val": reordered})
    with pytest.raises(ValueError, match="X_poison's columns do not match"):
        hypergradient(est, **{**named, "X_poison": frame["X_poison"][reordered.columns]})
    for name in ("X_train", "X_val", "X_poison"):
        with_nan = problem[name].copy()
        with_nan[0, 0] = np.nan
        with pytest.raises(ValueError, match=f"Input {name} contains NaN"):
            hypergradient(est, **{**problem, name: with_nan})
    with pytest.raises(ValueError, match="X_poison has 63 features, but the training set "
                                         "X_train has 64"):
        hypergradient(est, **{**problem, "X_poison": problem["X_poison"][:, 1:]})
    with pytest.raises(ValueError, match=r"^X_poison: Found array with 0 sample\(s\)"):
        hypergradient(est, **{**problem, "X_poison": problem["X_poison"][:0],
                              "y_poison": problem["y_poison"][:0]})
    with pytest.raises(ValueError, match=r"^X_train: Found array with dim 3"):
        hypergradient(est, **{**problem, "X_train": problem["X_train"][:, :, None]})
    # The same values by name as by position; the caller's estimator stays unfitted.
    assert hypergradient(est, **named).val_loss == hypergradient(est, **problem).val_loss
    assert not hasattr(est, "n_features_in_")


def test_a_differently_scaled_trusted_set_warns_as_in_fit(problem):
    from skpoison import TrustedSetWarning

    est = HypergradRegularizedLR(inner_steps=5)
    raw = {**problem, "X_val": problem["X_val"] * 16.0}    # digits' raw pixels, X in [0, 1]
    with pytest.warns(TrustedSetWarning, match="X_val does not look like"):
        hypergradient(est, **raw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrustedSetWarning)
        hypergradient(est, **problem)


def test_the_estimator_is_checked_as_fit_checks_it(problem):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="HypergradRegularizedLR or HypergradMLP"):
        hypergradient(LogisticRegression(), **problem)
    forward_checkpointed = HypergradRegularizedLR(inner_steps=10, hypergrad="fmd",
                                                  checkpoint_every=5)
    with pytest.raises(ValueError, match="checkpoint_every"):
        forward_checkpointed.fit(problem["X_train"], problem["y_train"])
    with pytest.raises(ValueError, match="checkpoint_every"):
        hypergradient(forward_checkpointed, **problem)
    # Asked for reverse mode, whose option checkpointing is, the call is valid.
    checkpointed = hypergradient(forward_checkpointed, **problem, method="rmd")
    plain = hypergradient(forward_checkpointed.set_params(checkpoint_every=None), **problem,
                          method="rmd")
    np.testing.assert_allclose(checkpointed.grad_X_poison, plain.grad_X_poison, rtol=1e-12)


def test_lambda_init_outside_the_bounds_is_projected_onto_them(problem):
    est = HypergradRegularizedLR(inner_steps=5, inner_lr=0.5, lambda_init=3.0,
                                 lambda_bounds=(-6.0, -1.0))
    with pytest.warns(UserWarning, match="lambda_init=3 lies outside lambda_bounds"):
        above = hypergradient(est, **problem)
    np.testing.assert_array_equal(above.log_lambda, [-1.0])
    assert above.val_loss == hypergradient(est, **problem, log_lambda=-1.0).val_loss
    with pytest.warns(UserWarning, match="lambda_init=-9 lies outside lambda_bounds"):
        below = hypergradient(est.set_params(lambda_init=-9.0), **problem)
    np.testing.assert_array_equal(below.log_lambda, [-6.0])


def test_a_fitted_estimator_is_evaluated_at_lambda_init_with_a_warning(problem):
    # A user handing in a fitted model expects its learned λ; the call (documented)
    # uses lambda_init, which now says so.
    est = HypergradRegularizedLR(inner_steps=5, inner_lr=0.5, outer_steps=2).fit(
        problem["X_train"], problem["y_train"], X_val=problem["X_val"], y_val=problem["y_val"])
    with pytest.warns(UserWarning, match=r"is fitted, but hypergradient evaluates at its "
                                         r"lambda_init .*log_lambda=estimator\.lambda_"):
        at_init = hypergradient(est, **problem)
    np.testing.assert_array_equal(at_init.log_lambda, [est.lambda_init])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        learned = hypergradient(est, **problem, log_lambda=est.lambda_)
    np.testing.assert_array_equal(learned.log_lambda, est.lambda_)


def test_the_reported_log_lambda_is_not_the_callers_array(problem):
    est = HypergradRegularizedLR(inner_steps=5, inner_lr=0.5)
    log_lambda = np.array([-3.0])
    res = hypergradient(est, **problem, log_lambda=log_lambda)
    assert res.log_lambda is not log_lambda
    res.log_lambda[:] = 0.0
    np.testing.assert_array_equal(log_lambda, [-3.0])


def test_plus_infinity_is_refused_and_minus_infinity_is_no_regularization(problem):
    est = HypergradRegularizedLR(inner_steps=5, inner_lr=0.5)
    with pytest.raises(ValueError, match=r"must not be NaN or \+inf"):
        hypergradient(est, **problem, log_lambda=np.inf)
    with pytest.raises(ValueError, match=r"must not be NaN or \+inf"):
        hypergradient(HypergradRegularizedLR(lambda_mode="per_feature", inner_steps=5,
                                             inner_lr=0.5), **problem,
                      log_lambda=np.r_[np.full(63, -3.0), np.inf])
    free = hypergradient(est, **problem, log_lambda=-np.inf)
    assert np.isfinite(free.val_loss) and np.isneginf(free.log_lambda).all()


def test_features_of_another_dtype_are_read_in_float64(problem):
    # As fit reads them: features neither float64 nor float32 (here an object
    # array) become float64, not float32 (1/3 is not a float32).
    est = HypergradRegularizedLR(inner_steps=5, inner_lr=0.5)
    X_train = problem["X_train"] / 3.0
    plain = hypergradient(est, **{**problem, "X_train": X_train})
    boxed = hypergradient(est, **{**problem, "X_train": X_train.astype(object)})
    assert boxed.val_loss == plain.val_loss
    np.testing.assert_array_equal(boxed.grad_X_poison, plain.grad_X_poison)


def test_poisoning_points_far_outside_the_clean_range_warn_of_the_rate():
    # The "auto" rate comes from the clean set; points 30 standard deviations out
    # make it unstable for the poisoned set, and the run oscillated silently.
    import warnings

    rng = np.random.RandomState(0)
    X, X_val = rng.randn(60, 5), rng.randn(20, 5)
    y, y_val = (X[:, 0] > 0).astype(int), (X_val[:, 0] > 0).astype(int)
    with pytest.warns(UserWarning, match="only guarantees descent below"):
        hypergradient(HypergradRegularizedLR(), X, y, X_val, y_val,
                      X_poison=30 * np.ones((6, 5)), y_poison=np.zeros(6, int))
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # points from the clean range: silent
        hypergradient(HypergradRegularizedLR(), X, y, X_val, y_val,
                      X_poison=X[:6], y_poison=1 - y[:6])


def test_the_callers_random_state_is_not_advanced(problem):
    # (it drew the network's initial weights from the caller's estimator)
    random_state = np.random.RandomState(0)
    before = random_state.get_state()[2]
    estimator = HypergradMLP(hidden_layer_sizes=(3,), inner_steps=3, random_state=random_state)
    data = {k: problem[k] for k in ("X_train", "y_train", "X_val", "y_val")}
    first = hypergradient(estimator, **data)
    assert random_state.get_state()[2] == before
    assert hypergradient(estimator, **data).val_loss == first.val_loss


def test_the_rate_check_bound_never_passes_an_unstable_rate(monkeypatch):
    # check_rate_with_poison decides most calls from a bound read off the clean
    # rate (no second spectral norm); where it passes, the exact check must too.
    from skpoison.estimators import _setup

    rng = np.random.RandomState(0)
    exact = _setup.auto_inner_lr
    decided_by_bound = 0
    for _ in range(60):
        n, d, m, k = rng.randint(70, 150), rng.randint(65, 100), rng.randint(1, 30), 2
        X = rng.rand(n, d)
        estimator = HypergradRegularizedLR(lambda_bounds=(-12.0, float(rng.choice([-2, 0]))))
        lr = exact(estimator, X, k)
        X_all = np.vstack([X, rng.rand(m, d) * rng.choice([0.5, 1.0, 3.0, 10.0])])
        top = estimator.lambda_bounds[1]
        calls = []
        monkeypatch.setattr(_setup, "auto_inner_lr",
                            lambda *a, **kw: calls.append(1) or exact(*a, **kw))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _setup.check_rate_with_poison(estimator, lr, X_all, k, max_log_lambda=None,
                                          poison_rows=np.arange(n + m) >= n, n_clean=n,
                                          described="it")
        unstable = lr >= 2 * exact(estimator, X_all, k, max_log_lambda=top)
        assert bool(caught) == unstable
        decided_by_bound += not calls
        assert calls or not unstable
    assert decided_by_bound > 20


@pytest.mark.parametrize("name", ["y_train", "y_val", "y_poison"])
def test_labels_of_the_wrong_shape_are_named(name):
    # (scikit-learn's message said "y should be a 1d array", naming no argument)
    X, y = load_digits(n_class=2, return_X_y=True)
    X = X / 16
    sets = dict(X_train=X[:40], y_train=y[:40], X_val=X[40:60], y_val=y[40:60],
                X_poison=X[60:61], y_poison=y[60:61])
    sets[name] = 1 if name == "y_poison" else sets[name].reshape(-1, 2)
    with pytest.raises(ValueError, match=f"{name} must be a 1-D array of labels; got shape"):
        hypergradient(HypergradRegularizedLR(inner_steps=3), **sets)



@pytest.mark.parametrize("name", ["y_train", "y_val", "y_poison"])
def test_a_column_of_labels_warns_as_fit_warns(name):
    # fit warns (DataConversionWarning) of a column-vector y or y_val;
    # hypergradient, documented to check its inputs as fit does, raveled one silently.
    from sklearn.exceptions import DataConversionWarning

    X, y = load_digits(n_class=2, return_X_y=True)
    X = X / 16
    sets = dict(X_train=X[:40], y_train=y[:40], X_val=X[40:60], y_val=y[40:60],
                X_poison=X[60:61], y_poison=1 - y[60:61])
    estimator = HypergradRegularizedLR(inner_steps=3)
    reference = hypergradient(estimator, **sets)
    sets[name] = sets[name][:, None]
    with pytest.warns(DataConversionWarning,
                      match=f"A column-vector {name} was passed") as caught:
        column = hypergradient(estimator, **sets)
    assert [record.filename for record in caught] == [__file__]   # (once, at this line)
    assert column.val_loss == reference.val_loss
    np.testing.assert_array_equal(column.grad_X_poison, reference.grad_X_poison)

def test_the_exact_solve_warns_alike_in_float32_and_float64(digits08_pool):
    # The solve runs in float64 for both; float32 judged its residual against
    # float32's tolerance and stayed silent on a singular L1 Hessian (review).
    from skpoison.hypergrad import HessianSolveWarning, InnerNotConvergedWarning

    X, y = digits08_pool
    for dtype in ("float64", "float32"):
        estimator = HypergradRegularizedLR(penalty="l1", inner_steps=200, dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnerNotConvergedWarning)
            with pytest.warns(HessianSolveWarning, match="exact solve .* singular"):
                hypergradient(estimator, X[:150], y[:150], X[150:200], y[150:200],
                              log_lambda=-4.0, method="exact")


def test_an_overflow_from_too_large_an_inner_rate_says_so():
    # Features in [0, 1], inner_lr 20 times 'auto': the run oscillates, the
    # reverse pass grows, float32 overflows. The message blamed the features
    # and advised float64, which returns a meaningless -1.9e37 here (review).
    from skpoison.hypergrad import HypergradientOverflowError

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    estimator = HypergradRegularizedLR(penalty="l1", inner_lr=3.0, inner_steps=200,
                                       dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(HypergradientOverflowError, match="lower inner_lr"):
            hypergradient(estimator, X[:150], y[:150], X[150:200], y[150:200],
                          log_lambda=-1.0, X_poison=X[200:203], y_poison=y[203:206])


@pytest.mark.parametrize("with_poison", [False, True])
def test_forward_mode_in_float32_on_large_features(digits08_pool, with_poison):
    # lr * dg/dλ per step underflowed float32 (lr ~ 1e-30 here): the λ
    # hypergradient came back exactly 0, silently (a float32 review)
    X, y = digits08_pool
    X = X * 1e15
    poison = dict(X_poison=X[200:203], y_poison=8 - y[200:203]) if with_poison else {}
    results = {method: hypergradient(HypergradRegularizedLR(inner_steps=100, dtype="float32"),
                                     X[:150], y[:150], X[150:200], y[150:200],
                                     log_lambda=-4.0, method=method, **poison)
               for method in ("rmd", "fmd")}
    assert results["rmd"].grad_log_lambda[0] != 0
    np.testing.assert_allclose(results["fmd"].grad_log_lambda, results["rmd"].grad_log_lambda,
                               rtol=1e-4)
