"""scikit-learn's estimator checks over both estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skpoison import HypergradMLP, HypergradRegularizedLR

# Small inner/outer loops keep the ~50 checks fast; the checks exercise the
# API, not the quality of the learned λ.
ESTIMATORS = [
    HypergradRegularizedLR(inner_steps=10, outer_steps=1, random_state=0),
    HypergradMLP(hidden_layer_sizes=(5,), inner_steps=60, inner_lr=0.3, outer_steps=1,
                 random_state=0),
]

# These three checks fit features drawn from N(100, 1), unscaled. A network
# with a fixed inner_lr (0.3 here; "auto" is for the linear model) diverges on
# them: its training objective rises ~100-fold. The estimator now raises
# InnerDivergenceError there instead of returning a meaningless model.
_UNSCALED = ("fits unscaled N(100, 1) features, on which a fixed inner_lr diverges: the "
             "estimator raises InnerDivergenceError instead of returning a garbage model")
EXPECTED_FAILURES = {
    "HypergradMLP": {name: _UNSCALED for name in (
        "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in")},
}


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILURES.get(type(est).__name__, {}))
def test_sklearn_compatible(estimator, check):
    check(estimator)
