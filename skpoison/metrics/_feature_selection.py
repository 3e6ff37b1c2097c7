"""Stability of embedded feature selection: Kuncheva's index, top-k (private)."""

from itertools import combinations

import numpy as np

from .._constraints import check_count, is_real_array
from ._numbers import host_values

__all__ = ["kuncheva_index", "top_k_features"]


def kuncheva_index(subsets, n_features):
    """Kuncheva's consistency index of feature subsets of equal size.

    For two subsets ``A`` and ``B`` of ``k`` features out of ``n`` sharing
    ``r`` features (Kuncheva, 2007)::

        I(A, B) = (r * n - k**2) / (k * (n - k))

    1 means identical subsets, 0 the overlap expected by chance, negative
    values less overlap than chance (down to -1). For more than two subsets
    the index is the mean over all pairs.

    Parameters
    ----------
    subsets : sequence of array-like of int or bool, or of sets, or ndarray of shape (n_subsets, k)
        At least two subsets of feature indices, all of the same size ``k``,
        without repeated indices, with ``0 < k < n_features``. A boolean
        mask of ``n_features`` entries (what a selector's ``get_support()``
        returns) stands for the indices it selects.
    n_features : int
        Total number of features ``n``; indices must be in ``[0, n)``.

    Returns
    -------
    index : float
        The (mean pairwise) consistency index, in [-1, 1].

    Raises
    ------
    ValueError
        Fewer than two subsets, unequal sizes, repeated or out-of-range
        indices, or ``k`` not in ``(0, n_features)``.

    References
    ----------
    L. I. Kuncheva, "A Stability Index for Feature Selection", 25th IASTED
    Int. Multi-Conf.: Artificial Intelligence and Applications, 2007,
    pp. 390-395.

    Examples
    --------
    >>> import numpy as np
    >>> from skpoison.metrics import kuncheva_index
    >>> kuncheva_index([[0, 1, 2], [0, 1, 2]], n_features=10)
    1.0
    >>> round(kuncheva_index([[0, 1, 2], [0, 1, 5]], n_features=10), 4)  # 11/21
    0.5238
    >>> mask = np.arange(10) < 3                  # features 0, 1, 2
    >>> kuncheva_index([mask, [0, 1, 2]], n_features=10)
    1.0
    """
    n = check_count(n_features, "n_features", 2)
    sets = [_as_subset(s, i, n) for i, s in enumerate(subsets)]
    if len(sets) < 2:
        raise ValueError(f"kuncheva_index needs at least two subsets, got {len(sets)}.")
    sizes = {s.size for s in sets}
    if len(sizes) != 1:
        raise ValueError(f"All subsets must have the same size, got sizes {sorted(sizes)}.")
    k = sizes.pop()
    if not 0 < k < n:
        raise ValueError(f"The subset size k must satisfy 0 < k < n_features={n}, got k={k}.")
    for i, s in enumerate(sets):
        if s.ndim != 1 or not np.issubdtype(s.dtype, np.integer):
            raise ValueError(f"Subset {i} must be a 1-D sequence of integer indices, "
                             f"got dtype {s.dtype} and shape {s.shape}.")
        if s.min() < 0 or s.max() >= n:
            raise ValueError(f"Subset {i} has indices outside [0, {n}), got "
                             f"{s[(s < 0) | (s >= n)].tolist()}.")
        if np.unique(s).size != k:
            raise ValueError(f"Subset {i} repeats a feature index.")
    # Overlaps from the indices themselves: a dense membership matrix would take
    # n_subsets * n_features memory, however few features the subsets hold.
    r = np.array([np.intersect1d(sets[i], sets[j], assume_unique=True).size
                  for i, j in combinations(range(len(sets)), 2)], dtype=np.float64)
    return float(np.mean((r * n - k * k) / (k * (n - k))))


def _as_subset(subset, i, n):
    """One subset as an array of indices (a set sorted; a boolean mask, see _as_indices)."""
    if isinstance(subset, (set, frozenset)):
        subset = sorted(subset)
    array = np.asarray(subset)
    if array.ndim == 0:   # (one subset of indices given alone: its indices read as subsets)
        raise ValueError(f"subsets must be a sequence of subsets, each a sequence of feature "
                         f"indices or a boolean mask; its item {i} is the single value "
                         f"{subset!r}. Pass [subset_a, subset_b, ...].")
    # NumPy reads [True, 2] as the indices [1, 2]: booleans are a mask's, or no index
    if array.dtype != bool and not isinstance(subset, np.ndarray) and any(
            isinstance(v, (bool, np.bool_)) for v in np.asarray(subset, dtype=object).flat):
        raise ValueError(f"Subset {i} mixes booleans with feature indices, got "
                         f"{subset!r}: give integer indices, or a boolean mask of "
                         f"n_features={n} entries.")
    return _as_indices(array, i, n)


def _as_indices(subset, i, n):
    """A boolean mask as the indices it selects; anything else as given."""
    if subset.dtype != bool:
        return subset
    if subset.shape != (n,):
        raise ValueError(f"Subset {i} is a boolean mask of shape {subset.shape}; a mask "
                         f"needs one entry per feature, n_features={n}.")
    return np.flatnonzero(subset)


def top_k_features(coef, k):
    """Indices of the ``k`` features with the largest weight magnitude.

    Parameters
    ----------
    coef : array-like or sparse matrix of shape (n_features,) or (n_outputs, n_features)
        Weights of a linear model (e.g. ``coef_``, also once ``sparsify()``
        made it a sparse matrix). With several outputs a feature is scored
        by the Euclidean norm of its weights over outputs.
    k : int
        Number of features to keep, ``1 <= k <= n_features``.

    Returns
    -------
    indices : ndarray of shape (k,), int64
        Feature indices by decreasing score; ties keep the lower index first.

    Examples
    --------
    >>> from skpoison.metrics import top_k_features
    >>> top_k_features([0.1, -3.0, 2.0, 0.0], k=2)
    array([1, 2])
    """
    coef = host_values(coef)   # (a tensor, a sparsified coef_)
    if not is_real_array(coef):   # (strings, bools; ragged: a network's coefs_)
        raise ValueError("coef must be one array of numbers of shape (n_features,) or "
                         "(n_outputs, n_features), such as a linear model's coef_ (a "
                         f"network's coefs_ is a list of layers); got {_head(coef)}.")
    coef = np.asarray(coef, dtype=np.float64)
    if coef.ndim not in (1, 2) or 0 in coef.shape:
        raise ValueError(f"coef must have shape (n_features,) or (n_outputs, "
                         f"n_features), got {coef.shape}.")
    if not np.all(np.isfinite(coef)):
        raise ValueError("coef contains NaN or infinite values.")
    k = check_count(k, "k", 1)
    if k > coef.shape[-1]:
        raise ValueError(f"k={k} exceeds the number of features {coef.shape[-1]}.")
    if coef.ndim == 1 or coef.shape[0] == 1:
        return np.argsort(-np.abs(coef).ravel(), kind="stable")[:k].astype(np.int64)
    # Each feature's weights scaled by a power of two near their largest
    # magnitude (exact: ties stay ties), so that squares neither overflow
    # (beyond 1e154) nor underflow (below 1e-154) into ties; the norms are
    # then compared as (exponent, mantissa) pairs, never scaled back (norms
    # near float64's largest value would overflow to inf, another tie).
    _, exponent = np.frexp(np.max(np.abs(coef), axis=0))
    mantissa, extra = np.frexp(np.linalg.norm(np.ldexp(coef, -exponent), axis=0))
    # (a zero feature has the lowest exponent of all)
    order_of_magnitude = np.where(mantissa > 0, exponent + extra, -(2 ** 20))
    order = np.lexsort((np.arange(coef.shape[1]), -mantissa, -order_of_magnitude))
    return order[:k].astype(np.int64)


def _head(values):
    """``repr(values)``, cut short."""
    text = repr(values)
    return text if len(text) <= 80 else text[:77] + "..."
