"""The 2-D two-Gaussian example of the paper's Fig. 1 (private)."""


import numpy as np
from sklearn.utils import check_random_state

from .._constraints import check_count, is_real_array

__all__ = ["make_synthetic_2d"]


def make_synthetic_2d(n_samples=100, *, mean0=(-1.0, -1.0), mean1=(1.0, 1.0),
                      cov=1.0, shuffle=True, random_state=None):
    """Draw the 2-D two-class Gaussian data of the paper's synthetic example.

    Fig. 1 of Carnerero-Cano et al. (TNNLS 2023) places a single poisoning
    point against logistic regression trained on two bivariate Gaussian
    classes. The paper's exact parameters were lost in our copy of it; the
    defaults here are the project's own choice: class 0 centred at
    (-1, -1), class 1 at (1, 1), both with identity covariance (Bayes error
    about 7.9 %), so that the classes overlap a little and a single point
    can visibly move an unregularized boundary.

    Parameters
    ----------
    n_samples : int, default=100
        Total number of points, split as evenly as possible (class 0 gets
        ``n_samples // 2``, class 1 the rest).
    mean0, mean1 : array-like of shape (2,), default=(-1, -1) and (1, 1)
        Means of class 0 and class 1.
    cov : float or array-like of shape (2, 2), default=1.0
        Covariance shared by both classes; a float ``s`` means ``s * I``.
    shuffle : bool, default=True
        Shuffle the rows; otherwise class 0 comes first.
    random_state : int, RandomState instance or None, default=None
        Seed or generator for reproducible draws.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), float64
    y : ndarray of shape (n_samples,), int64 with labels {0, 1}

    Examples
    --------
    >>> from skpoison.datasets import make_synthetic_2d
    >>> X, y = make_synthetic_2d(10, random_state=0)
    >>> X.shape, y.tolist().count(0), y.tolist().count(1)
    ((10, 2), 5, 5)
    """
    check_count(n_samples, "n_samples", 2)
    for name, value in (("mean0", mean0), ("mean1", mean1), ("cov", cov)):
        if not is_real_array(value):   # (NumPy would read "1" or True as 1.0)
            raise ValueError(f"{name} must hold numbers; got {value!r}.")
    means = [np.asarray(m, dtype=np.float64) for m in (mean0, mean1)]
    if any(m.shape != (2,) for m in means):
        raise ValueError(f"mean0 and mean1 must have shape (2,), got shapes "
                         f"{means[0].shape} and {means[1].shape}.")
    if not all(np.isfinite(m).all() for m in means):
        raise ValueError(f"mean0 and mean1 must be finite, got {mean0!r} and {mean1!r}.")
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim == 0:
        if not 0 < cov < np.inf:
            raise ValueError(f"A scalar cov must be finite and > 0, got {float(cov)}.")
        cov = cov * np.eye(2)
    # (a singular covariance's smallest eigenvalue comes out as -1e-17 now and then:
    # rounding errors, tolerated as numpy's multivariate_normal does)
    if cov.shape != (2, 2) or not np.isfinite(cov).all() or not np.allclose(cov, cov.T) \
            or np.linalg.eigvalsh(cov).min() < -1e-8 * max(1.0, np.abs(cov).max()):
        raise ValueError("cov must be a finite float > 0 or a finite, symmetric positive "
                         "semi-definite (2, 2) matrix.")
    rng = check_random_state(random_state)
    counts = (n_samples // 2, n_samples - n_samples // 2)
    X = np.vstack([rng.multivariate_normal(m, cov, size=n)
                   for m, n in zip(means, counts)])
    y = np.repeat(np.array([0, 1], dtype=np.int64), counts)
    if shuffle:
        order = rng.permutation(n_samples)
        X, y = X[order], y[order]
    return X, y
