"""Evaluation metrics of the paper's experiments (numpy only).

Kuncheva's consistency index over the top-k features (stability of embedded
feature selection), the relative decrease of an error and ``||w||^2 / p``.
"""

from ._errors import relative_error_decrease
from ._feature_selection import kuncheva_index, top_k_features
from ._weights import weight_norm_per_parameter

__all__ = [
    "kuncheva_index",
    "relative_error_decrease",
    "top_k_features",
    "weight_norm_per_parameter",
]
