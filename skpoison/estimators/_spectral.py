"""The largest singular value of the augmented design ``[X, 1]``, for ``inner_lr="auto"``.

A full SVD costs ~0.1 s on a 1000 x 785 matrix on the CPU, and more on a GPU
(cuSOLVER's dense SVD), once per fit and once per attacked data set. Only the
top singular value is needed: Lanczos on the Gram operator
``v -> X1^T (X1 v)`` reaches it to machine precision in about ten
matrix-vector products (~1.5 ms for the same matrix). For a model on the CPU
it is ARPACK's (``eigsh``); for a model on a GPU, a Lanczos of our own runs
there (:func:`_device_squared_norms`), where the design is going anyway: on the
host it would read a float64 copy of the design some twenty times (for MNIST's
60000 x 784 training set, 376 MB each time), while the GPU sat idle.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from scipy.sparse.linalg import LinearOperator, eigsh

from .._torch_utils import to_tensor

# Below this size a dense SVD is as cheap, and ARPACK needs room for its
# Krylov basis (its dimension must exceed the number of Lanczos vectors).
_DENSE_UP_TO = 64
#: Devices whose models get ARPACK's Lanczos on the host; the others, ours on
#: the device (tests empty it to run the device code on CPU tensors).
HOST_LANCZOS_DEVICES = frozenset({"cpu"})
_BASIS = 10   # Lanczos vectors (< _DENSE_UP_TO + 1, as ARPACK requires ncv <= size)


def squared_spectral_norm(X, *, device=None):
    """``||[X, 1]||_2^2``: the largest eigenvalue of ``[X, 1]^T [X, 1]``.

    Computed in float64: on the host (ARPACK) for ``device`` None or the CPU,
    else on ``device`` (:func:`_device_squared_norms`). The two agree to
    rounding (2-6e-16 relative on MNIST splits; the tests ask 1e-12 on hard
    spectra), not to the bit.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    device : str, torch.device or None, default=None
        The model's device.

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
    n, d = np.shape(X)
    if lanczos_on_host(device) or is_small_design(n, d):   # (small: as cheap on the host)
        # C order whatever the caller's layout: the products, so the rate, are then
        # bitwise the same for the same values (no copy for C-ordered float64).
        X = np.ascontiguousarray(X, dtype=np.float64)
        # The extremes propagate NaN and inf: one check for both, with no copy of X.
        high, low = (float(X.max()), float(X.min())) if X.size else (0.0, 0.0)
    else:
        return norms_of_stack(stack_on_device([X], device), None)[0]
    if not (np.isfinite(high) and np.isfinite(low)):
        raise ValueError("X holds NaN or inf: its spectral norm is undefined.")
    # ||X1||^2 <= ||X1||_F^2 <= n (d + 1) max|x|^2 bounds every product below;
    # beyond float64's range, the norm of X1 / max|x| is scaled back instead.
    largest = np.float64(max(high, -low, 1.0))
    if largest <= np.sqrt(np.finfo(np.float64).max / (n * (d + 1))):
        return _squared_norm(X, 1.0)
    with np.errstate(over="ignore"):
        squared = float(_squared_norm(X / largest, 1.0 / largest) * largest * largest)
    return _checked_square(squared, largest)


def squared_spectral_norms(Xs, *, device=None, names=None):
    """:func:`squared_spectral_norm` of each design, on a device in one batched Lanczos.

    The same values as ``[squared_spectral_norm(X, device=device) for X in
    Xs]`` (on the host, those very calls; on a device, to rounding), but on a
    device the designs of one shape share every launch and every read of the
    host: one Lanczos run instead of ``K`` (ten MNIST-sized designs: about
    ten times fewer waits for the device; ``fit_batched`` runs it through
    :func:`~skpoison.estimators._device_setup.set_up_on_device`). Designs run
    together up to :data:`_BATCH_BYTES` of float64 copies on the device, so
    the memory does not grow with their number.

    Parameters
    ----------
    Xs : sequence of array-like of shape (n_samples, n_features)
    device : str, torch.device or None, default=None
        The models' device.
    names : sequence of str or None, default=None
        What an error calls each design; None: ``"design 0"``, ``"design 1"``, ...

    Returns
    -------
    list of float

    Examples
    --------
    >>> import numpy as np
    >>> Xs = [np.random.RandomState(seed).rand(200, 100) for seed in (0, 1)]
    >>> tops = squared_spectral_norms(Xs, device="cpu")
    >>> tops == [squared_spectral_norm(X, device="cpu") for X in Xs]
    True
    """
    Xs = list(Xs)
    names = [f"design {k}" for k in range(len(Xs))] if names is None else list(names)
    shapes = {np.shape(X) for X in Xs}
    n, d = next(iter(shapes)) if shapes else (0, 0)
    if lanczos_on_host(device) or len(shapes) != 1 or is_small_design(n, d):
        norms = []
        for X, name in zip(Xs, names):
            try:
                norms.append(squared_spectral_norm(X, device=device))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from exc
        return norms
    per_batch = designs_per_batch(n, d)
    return [top for start in range(0, len(Xs), per_batch)
            for top in norms_of_stack(stack_on_device(Xs[start:start + per_batch], device),
                                      names[start:start + per_batch])]


def lanczos_on_host(device):
    """Whether models on ``device`` get ARPACK's Lanczos on the host (else ours there)."""
    return device is None or torch.device(device).type in HOST_LANCZOS_DEVICES


def is_small_design(n_samples, n_features):
    """Whether a design's ``[X, 1]`` is rated by the host's dense SVD on any device
    (at most :data:`_DENSE_UP_TO` rows or columns: as cheap there)."""
    return min(n_samples, n_features + 1) <= _DENSE_UP_TO


def designs_per_batch(n_samples, n_features):
    """How many float64 designs of this shape one batched device Lanczos takes
    (:data:`_BATCH_BYTES` of them; one at least)."""
    return max(1, _BATCH_BYTES // (8 * n_samples * n_features))


#: At most this many bytes of float64 designs run in one batched device Lanczos
#: (ten MNIST 0 vs 8 training sets of 1000 rows: 63 MB; a full 60000-row MNIST
#: set, 376 MB, runs alone, as a single fit's does).
_BATCH_BYTES = 1 << 28


def stack_on_device(Xs, device):
    """Same-shaped designs as one float64 tensor ``(K, n, d)`` on ``device``.

    Each is moved in its own dtype and widened there (half the transfer of a
    float32 design), into one buffer.
    """
    X = None
    for k, design in enumerate(Xs):
        moved = to_tensor(design, device=device)
        if X is None:
            X = moved.new_empty((len(Xs), *moved.shape), dtype=torch.float64)
        X[k] = moved
    return X


def norms_of_stack(X, names):
    """:func:`squared_spectral_norms` of the designs stacked in ``X`` (float64, on a
    device), which this scales in place (``names``: what errors call each design;
    None: errors name no design)."""
    low, high = (values.tolist() for values in torch.aminmax(X.flatten(1), dim=1))
    units, largests = [], []
    for k, extremes in enumerate(zip(low, high)):
        if not np.isfinite(extremes).all():
            raise ValueError(f"{_which(names, k)}X holds NaN or inf: its spectral norm "
                             "is undefined.")
        # Scaled by a power of two (exactly) on the device, always: its norms would
        # square the entries as they are. LAPACK's tridiagonal solver then sees
        # entries of moderate size too.
        largest = np.float64(max(extremes[1], -extremes[0], 1.0))
        largests.append(largest)
        units.append(np.float64(2.0) ** np.floor(np.log2(largest)))
    X /= torch.as_tensor(units, dtype=torch.float64, device=X.device).reshape(-1, 1, 1)
    tops = _device_squared_norms(X, [1.0 / unit for unit in units])
    with np.errstate(over="ignore"):
        return [_checked_square(float(top * unit * unit), largest, _which(names, k))
                for k, (top, unit, largest) in enumerate(zip(tops, units, largests))]


def _which(names, k):
    return "" if names is None else f"{names[k]}: "


def _checked_square(squared, largest, which=""):
    if not np.isfinite(squared):
        raise ValueError(
            f"{which}The squared spectral norm of [X, 1] overflows float64 (X's largest "
            f"feature magnitude is {largest:.3g}): scale the features (e.g. StandardScaler "
            "or MinMaxScaler).")
    return squared


def _squared_norm(X, ones):
    """``||[X, ones * 1]||_2^2`` by ARPACK (``X`` a finite float64 array)."""
    n, d = X.shape
    if is_small_design(n, d):
        return float(np.linalg.norm(np.hstack([X, np.full((n, 1), ones)]), 2)) ** 2
    # The Gram operator of X1 = [X, 1] on its smaller side, without forming X1
    # (a float64 copy of MNIST's 60000 x 784 training set is 376 MB). Its
    # products run in torch (on a view of X), on the threads the fit's own
    # products use: NumPy's OpenBLAS keeps threads of its own that spin, and
    # with another process on a core a product took 10-50 times longer (MNIST
    # 0 vs 8 sized, 2 cores, one busy: 4-24 ms against 0.4-0.5 ms). A
    # read-only X is copied: torch warns on a view of it, and silencing that
    # (catch_warnings) is not safe in a thread-based sweep.
    X = torch.from_numpy(X if X.flags.writeable else X.copy())
    if n < d + 1:       # X1 X1^T z = X (X^T z) + c^2 1 (1^T z), c = ones
        size = n

        def gram(z):
            z = torch.from_numpy(z)
            return (torch.mv(X, torch.mv(X.T, z)) + ones * ones * z.sum()).numpy()
    else:               # X1^T X1 v = [X^T u; c 1^T u] with u = X v[:-1] + c v[-1]
        size = d + 1

        def gram(v):
            v = torch.from_numpy(v)
            u = torch.mv(X, v[:-1]) + ones * v[-1]
            return torch.cat([torch.mv(X.T, u), (ones * u.sum()).reshape(1)]).numpy()
    operator = LinearOperator((size, size), matvec=gram, dtype=np.float64)
    start = np.random.RandomState(0).standard_normal(size)  # reproducible Krylov start
    # A 10-vector basis (ARPACK's default: 20) reaches the same eigenvalue, to
    # machine precision, in about half the products for one eigenvalue
    # (MNIST-sized: 11 instead of 21); harder spectra only cost restarts.
    return float(eigsh(operator, k=1, which="LA", v0=start, tol=0.0, ncv=_BASIS,
                       return_eigenvectors=False)[0])


#: Lanczos steps between two reads of the device's tridiagonal by the host.
_CHECK_EVERY = 8
#: A new Lanczos vector shorter than this share of the product it came from
#: (after its projections on the basis are removed) is a breakdown, not a direction.
_BREAKDOWN = 1e-10
#: At most this many Lanczos vectors (with full reorthogonalization, each step
#: costs one more product with the basis; MNIST 0 vs 8 splits and the digits
#: stop at the second read, after 16 steps).
_MAX_STEPS = 512


def _device_squared_norms(X, ones):
    """``||[X_k, ones_k * 1]||_2^2`` of each design by Lanczos on ``X``'s device.

    ``X`` is a float64 tensor of shape ``(K, n, d)``, ``ones`` ``K`` floats.
    The Gram operator of the smaller side, as in :func:`_squared_norm`, and
    the same start vector as ARPACK's there. Every Lanczos vector is kept and
    each new one orthogonalized against all of them, twice (a basis of a few
    dozen vectors costs little next to the products with ``X``), so that no
    restart is needed. The ``K`` problems step together, each product one
    batched product; the host reads their tridiagonal matrices every
    ``_CHECK_EVERY`` steps, and a problem's value is the top Ritz value at
    the first read where its residual bound is at machine precision
    (ARPACK's ``tol=0``), or its basis spans an invariant subspace: the read
    where it would stop alone (so the value it would have alone, to the
    rounding of batched products). The loop stops once every problem has its
    value.

    Examples
    --------
    >>> X = torch.rand(2, 300, 120, dtype=torch.float64)
    >>> X1 = torch.cat([X, torch.ones(2, 300, 1, dtype=torch.float64)], dim=2)
    >>> exact = torch.linalg.matrix_norm(X1, 2) ** 2
    >>> tops = torch.tensor(_device_squared_norms(X, [1.0, 1.0]), dtype=torch.float64)
    >>> bool(torch.allclose(tops, exact, rtol=1e-12))
    True
    """
    K, n, d = X.shape
    # (Python floats: a NumPy scalar times a tensor would be a NumPy array)
    ones = torch.tensor([float(c) for c in ones], dtype=X.dtype, device=X.device)
    XT = X.transpose(1, 2)
    if n < d + 1:
        size = n

        def gram(z):
            return (X @ (XT @ z[..., None]))[..., 0] + (ones * ones * z.sum(1))[:, None]
    else:
        size = d + 1

        def gram(v):
            u = (X @ v[:, :-1, None])[..., 0] + ones[:, None] * v[:, -1:]
            return torch.cat([(XT @ u[..., None])[..., 0], (ones * u.sum(1))[:, None]], dim=1)
    start = torch.as_tensor(np.random.RandomState(0).standard_normal(size), device=X.device)
    steps = min(size, _MAX_STEPS)
    basis = X.new_zeros((K, steps + 1, size))
    basis[:, 0] = start / torch.linalg.vector_norm(start)
    diagonal, off_diagonal = X.new_zeros((K, steps)), X.new_zeros((K, steps))
    eps = np.finfo(np.float64).eps
    tops = [None] * K
    for step in range(steps):
        current = basis[:, step]
        w = gram(current)
        diagonal[:, step] = (w * current).sum(1)
        before = torch.linalg.vector_norm(w, dim=1)
        kept = basis[:, :step + 1]
        for _ in range(2):      # ("twice is enough": Kahan, Parlett)
            w = w - (kept.transpose(1, 2) @ (kept @ w[..., None]))[..., 0]
        norm = torch.linalg.vector_norm(w, dim=1)
        # A breakdown (the basis spans an invariant subspace; the zero columns of a
        # design make one after a step or two) leaves rounding noise, which is not
        # orthogonal to the basis: normalized, it grew ghost copies of the top value
        # (10^4 times too large on all-zero designs). That basis ends there instead:
        # zero vectors from then on, and β = 0, on the device (no host read).
        alive = norm > _BREAKDOWN * before
        off_diagonal[:, step] = torch.where(alive, norm, torch.zeros_like(norm))
        basis[:, step + 1] = torch.where(alive[:, None],
                                         w / torch.where(alive, norm, 1.0)[:, None], 0.0)
        if (step + 1) % _CHECK_EVERY and step + 1 < steps:
            continue
        alphas = diagonal[:, :step + 1].tolist()     # (one read for the K problems)
        betas = off_diagonal[:, :step + 1].tolist()
        for k in range(K):
            if tops[k] is not None:
                continue
            values, vectors = eigh_tridiagonal(alphas[k], betas[k][:-1], select="i",
                                               select_range=(step, step))
            top = float(values[0])
            # |top - λ| <= β_k |s_k| for some eigenvalue λ (the Ritz pair's residual);
            # a vanishing β_k: the basis spans an invariant subspace, top is exact.
            beta = betas[k][-1]
            if beta * abs(vectors[-1, 0]) <= eps * top or beta <= eps * top or \
                    step + 1 == steps:
                tops[k] = top
        if all(top is not None for top in tops):
            break
    return tops
