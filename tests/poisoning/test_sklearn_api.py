"""scikit-learn API checks that apply to a sampler with required metadata.

The poisoners need the trusted validation set (``X_val``, ``y_val``) in every
fit, which scikit-learn's generic checks never pass, so the checks that fit on
plain ``(X, y)`` cannot apply; the ones below (construction, parameters,
cloning, tags, parameter validation) do.
"""

import pytest
import sklearn.utils.estimator_checks as checks

from skpoison import HypergradRegularizedLR, LabelFlipPoisoner, OptimalPoisoner

CHECKS = [
    "check_parameters_default_constructible",
    "check_no_attributes_set_in_init",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_repr",
    "check_estimator_cloneable",
    "check_valid_tag_types",
    "check_estimator_tags_renamed",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_param_validation",
]
POISONERS = [
    OptimalPoisoner(HypergradRegularizedLR(inner_steps=5), ratios=(0.1,), batch_size=2,
                    outer_steps=1),
    LabelFlipPoisoner(ratios=(0.1,), batch_size=2),
]


@pytest.mark.parametrize("poisoner", POISONERS, ids=lambda p: type(p).__name__)
@pytest.mark.parametrize("check", CHECKS)
def test_sklearn_api(poisoner, check):
    getattr(checks, check)(type(poisoner).__name__, poisoner)
