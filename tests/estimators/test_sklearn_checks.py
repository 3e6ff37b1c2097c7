"""scikit-learn's estimator checks over both estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skpoison import HypergradMLP, HypergradRegularizedLR

# Small inner/outer loops keep the ~50 checks fast; the checks exercise the
# API, not the quality of the learned λ.
ESTIMATORS = [
    HypergradRegularizedLR(inner_steps=10, outer_steps=1, random_state=0),
    HypergradMLP(hidden_layer_sizes=(5,), inner_steps=60, inner_lr=0.3, outer_steps=1, random_state=0),
]

EXPECTED_FAILURES = {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_sklearn_compatible(estimator, check):
    check(estimator)
