"""Size of a model's weights per parameter (private)."""

import numpy as np

from ._numbers import as_numbers

__all__ = ["weight_norm_per_parameter"]


def weight_norm_per_parameter(coef):
    """Squared Euclidean norm of the weights divided by their number, ``||w||^2 / p``.

    The paper plots this against the poisoning ratio to show how learned
    regularization shrinks the weights. Pass the weights only (``coef_``),
    not the intercepts, which are not regularized.

    Parameters
    ----------
    coef : array-like, or sequence of array-like
        The weights: one array of any shape, or a list of arrays (e.g. the
        weight matrices of every layer of a network), counted together. A
        sparse matrix (a ``coef_`` that ``sparsify()`` made sparse) counts
        all its entries, stored or not.

    Returns
    -------
    value : float
        ``sum(w**2) / p`` where ``p`` is the total number of weights.

    Examples
    --------
    >>> import numpy as np
    >>> from skpoison.metrics import weight_norm_per_parameter
    >>> weight_norm_per_parameter([1.0, -1.0, 2.0, 0.0])
    1.5
    >>> weight_norm_per_parameter([np.ones((2, 3)), np.zeros(2)])
    0.75
    """
    parts = coef if isinstance(coef, (list, tuple)) else [coef]
    arrays = [as_numbers(p, "coef", "weights") for p in parts]
    size = sum(a.size for a in arrays)
    if size == 0:
        raise ValueError("coef holds no weights.")
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise ValueError("coef contains NaN or infinite values.")
    # Scaled by a power of two near the largest magnitude (exact): the square of
    # a weight beyond 1e154 overflowed to inf though the mean may be finite.
    largest = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    if largest == 0.0:
        return 0.0
    exponent = np.frexp(largest)[1]
    scaled = sum(float(np.sum(np.square(np.ldexp(a, -exponent)))) for a in arrays) / size
    with np.errstate(over="ignore"):   # (inf only where the value itself overflows)
        return float(np.ldexp(scaled, 2 * exponent))
