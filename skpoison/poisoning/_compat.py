"""The sampler base class: imbalanced-learn's when it is installed.

imbalanced-learn is an optional dependency. When it is importable the
poisoners derive from :class:`imblearn.base.BaseSampler` (so ``is_sampler``,
its tags and its pipeline recognize them) and, because importing it registers
``fit_resample`` as a routable method, scikit-learn generates
``set_fit_resample_request`` for them. It must therefore be imported *before*
the poisoner classes are defined, which is why this module imports it eagerly
(guarded). Without it a minimal stand-in keeps ``import skpoison`` working and
``fit_resample`` usable on its own.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator

try:  # pragma: no cover - exercised in both environments by CI, not here
    from imblearn.base import BaseSampler as SamplerBase

    HAS_IMBLEARN = True
except ImportError:  # pragma: no cover
    HAS_IMBLEARN = False

    class SamplerBase(BaseEstimator):
        """Stand-in for :class:`imblearn.base.BaseSampler` (no imbalanced-learn)."""

        _estimator_type = "sampler"
        _sampling_type = "bypass"

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.estimator_type = "sampler"
            return tags


__all__ = ["HAS_IMBLEARN", "SamplerBase"]
