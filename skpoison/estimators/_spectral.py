"""The largest singular value of the augmented design ``[X, 1]``, for ``inner_lr="auto"``.

A full SVD costs ~0.1 s on a 1000 x 785 matrix on the CPU, and more on a GPU
(cuSOLVER's dense SVD), once per fit and once per attacked data set. Only the
top singular value is needed: Lanczos (ARPACK's ``eigsh``) on the Gram
operator ``v -> X1^T (X1 v)`` reaches it to machine precision in about ten
matrix-vector products (~1.5 ms for the same matrix).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

# Below this size a dense SVD is as cheap, and ARPACK needs room for its
# Krylov basis (its dimension must exceed the number of Lanczos vectors).
_DENSE_UP_TO = 64
_BASIS = 10   # Lanczos vectors (< _DENSE_UP_TO + 1, as ARPACK requires ncv <= size)


def squared_spectral_norm(X):
    """``||[X, 1]||_2^2``: the largest eigenvalue of ``[X, 1]^T [X, 1]``.

    Computed on the host in float64, whatever the device of the model.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.RandomState(0).rand(200, 100)
    >>> X1 = np.hstack([X, np.ones((200, 1))])
    >>> bool(np.isclose(squared_spectral_norm(X), np.linalg.norm(X1, 2) ** 2, rtol=1e-12))
    True
    """
    # C order whatever the caller's layout: the products, so the rate, are then
    # bitwise the same for the same values (no copy for C-ordered float64).
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, d = X.shape
    # The extremes propagate NaN and inf: one check for both, with no copy of X.
    high, low = (float(X.max()), float(X.min())) if X.size else (0.0, 0.0)
    if not (np.isfinite(high) and np.isfinite(low)):
        raise ValueError("X holds NaN or inf: its spectral norm is undefined.")
    # ||X1||^2 <= ||X1||_F^2 <= n (d + 1) max|x|^2 bounds every product below;
    # beyond float64's range, the norm of X1 / max|x| is scaled back instead.
    largest = np.float64(max(high, -low, 1.0))
    if largest <= np.sqrt(np.finfo(np.float64).max / (n * (d + 1))):
        return _squared_norm(X, 1.0)
    with np.errstate(over="ignore"):
        squared = float(_squared_norm(X / largest, 1.0 / largest) * largest * largest)
    if not np.isfinite(squared):
        raise ValueError(
            f"The squared spectral norm of [X, 1] overflows float64 (X's largest feature "
            f"magnitude is {largest:.3g}): scale the features (e.g. StandardScaler or "
            "MinMaxScaler).")
    return squared


def _squared_norm(X, ones):
    """``||[X, ones * 1]||_2^2`` (``X`` float64, finite)."""
    n, d = X.shape
    if min(n, d + 1) <= _DENSE_UP_TO:
        return float(np.linalg.norm(np.hstack([X, np.full((n, 1), ones)]), 2)) ** 2
    # The Gram operator of X1 = [X, 1] on its smaller side, without forming X1
    # (a float64 copy of MNIST's 60000 x 784 training set is 376 MB).
    if n < d + 1:       # X1 X1^T z = X (X^T z) + c^2 1 (1^T z), c = ones
        size = n

        def gram(z):
            return X @ (X.T @ z) + ones * ones * z.sum()
    else:               # X1^T X1 v = [X^T u; c 1^T u] with u = X v[:-1] + c v[-1]
        size = d + 1

        def gram(v):
            u = X @ v[:-1] + ones * v[-1]
            return np.append(X.T @ u, ones * u.sum())
    operator = LinearOperator((size, size), matvec=gram, dtype=np.float64)
    start = np.random.RandomState(0).standard_normal(size)  # reproducible Krylov start
    # A 10-vector basis (ARPACK's default: 20) reaches the same eigenvalue, to
    # machine precision, in about half the products for one eigenvalue
    # (MNIST-sized: 11 instead of 21); harder spectra only cost restarts.
    return float(eigsh(operator, k=1, which="LA", v0=start, tol=0.0, ncv=_BASIS,
                       return_eigenvectors=False)[0])
