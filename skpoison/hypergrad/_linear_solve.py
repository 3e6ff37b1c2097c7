"""Linear solvers with one signature: ``solve(matvec, b, ...) -> (x, residual, n_iter)``."""

from __future__ import annotations

from numbers import Integral

import torch
from torch.func import vmap

from ._checks import _as_int, _positive_real


DEFAULT_TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def default_tol(dtype):
    """Relative CG tolerance reachable in ``dtype`` (1e-10 float64, 1e-5 float32)."""
    return DEFAULT_TOL.get(dtype, 1e-3)


def stable_norm(v):
    """``||v||_2`` computed on ``v / max|v|``: its squares neither overflow nor underflow.

    ``torch.linalg.vector_norm`` sums the squares as they are: in float32 a
    vector of entries ~1e20 has the norm inf.

    Examples
    --------
    >>> v = torch.full((4,), 1e20)
    >>> float(torch.linalg.vector_norm(v)), float(stable_norm(v))
    (inf, 2.0000000400817547e+20)
    """
    unit = _unit(v)
    return unit * torch.linalg.vector_norm(v / unit)


def _unit(v):
    """``max|v|`` as a 0-d tensor (1 for a zero ``v``): the scale to divide ``v`` by."""
    largest = v.abs().amax()
    return torch.where(largest > 0, largest, torch.ones_like(largest))


def check_solver_options(tol, maxiter):
    """Refuse a CG tolerance outside ``(0, 1)`` or a non-positive / non-integer ``maxiter``.

    Squared into the stopping threshold, a negative tolerance would pass for
    a positive one, and NaN or ``maxiter=0`` would stop CG at ``x = 0``.
    """
    if tol is not None and not (_positive_real(tol) and float(tol) < 1.0):
        raise ValueError(f"tol must be a relative tolerance in (0, 1); got {tol!r}.")
    if maxiter is not None and (_as_int(maxiter) is None or _as_int(maxiter) < 1):
        raise ValueError(f"maxiter must be a positive int; got {maxiter!r}.")


def solve_cg(matvec, b, *, tol=None, maxiter=None, check_every=None):
    """Conjugate gradient for a symmetric positive-definite operator.

    Parameters
    ----------
    matvec : callable
        ``v -> A v``.
    b : Tensor of shape (n,)
    tol : float, default=None
        Stop when the recursive residual ``||r_k|| <= tol * ||b||``. None picks
        :func:`default_tol` of ``b.dtype``. CG also stops, short of the
        tolerance, at a direction of non-positive curvature (a singular or
        indefinite operator); the returned residual then shows it.
    maxiter : int or None, default=None
        None: ``10 * n``.
    check_every : int, default=None
        Iterations between two reads of the stopping tests by the host (each
        read waits for the device). An iteration past the stop changes
        nothing (its updates are masked out), so the result does not depend on
        it: only the number of wasted matrix-vector products (fewer than
        ``check_every``) and of host reads does. None: 1 on the CPU, where a
        read costs nothing, 8 on other devices.

    Returns
    -------
    x : Tensor
    residual : Tensor, 0-d
        The true residual ``||A x - b||``, recomputed with one more ``matvec``
        (in finite precision the recursive one keeps shrinking below it).
    n_iter : int
        Iterations that updated ``x``.

    Notes
    -----
    CG runs on ``b / max|b|`` (the solution is scaled back): its inner
    products square the right-hand side, which in float32 overflows for
    entries beyond ~1e19 and would stop CG at once with ``x = 0``.

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import solve_cg
    >>> A = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> x, res, it = solve_cg(lambda v: A @ v, torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> torch.allclose(A @ x, torch.tensor([1.0, 2.0], dtype=torch.float64)), it
    (True, 2)
    """
    check_solver_options(tol, maxiter)
    maxiter = 10 * b.numel() if maxiter is None else _as_int(maxiter)
    tol = float(tol) if isinstance(tol, torch.Tensor) else tol
    tol = default_tol(b.dtype) if tol is None else tol
    if check_every is None:
        check_every = 1 if b.device.type == "cpu" else 8
    elif isinstance(check_every, bool) or not isinstance(check_every, Integral) \
            or check_every < 1:
        raise ValueError(f"check_every={check_every!r} must be a positive int.")
    unit = _unit(b)
    b = b / unit
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = r @ r
    threshold = (tol * torch.linalg.vector_norm(b)) ** 2
    # A Rayleigh quotient p'Ap / p'p at rounding level of the largest one seen
    # means a (numerically) singular or an indefinite operator.
    flat = 100 * torch.finfo(b.dtype).eps
    largest = torch.zeros((), dtype=b.dtype, device=b.device)
    active = rs > threshold                  # 0-d bool: still iterating
    n_iter = torch.zeros((), dtype=torch.int64, device=b.device)
    done = 0
    # The stopping tests stay on the device; the host reads them every
    # check_every iterations (once per iteration on the CPU, where it is free).
    # Only x is masked: once stopped, CG never restarts, so whatever r, p and
    # rs become afterwards (NaN, even) is never used.
    while done < maxiter and bool(active):
        for _ in range(min(check_every, maxiter - done)):
            Ap = matvec(p)
            curvature = p @ Ap
            rayleigh = curvature / (p @ p)
            largest = torch.maximum(largest, rayleigh)
            active = active & (rayleigh > flat * largest)   # else stop where we are
            step = rs / curvature
            x = torch.where(active, x + step * p, x)
            r = r - step * Ap
            rs_new = r @ r
            p = r + (rs_new / rs) * p
            rs = rs_new
            n_iter = n_iter + active
            active = active & (rs > threshold)
        done += check_every
    return x * unit, unit * torch.linalg.vector_norm(matvec(x) - b), int(n_iter)


def dense_operator(matvec, n, *, dtype, device):
    """The matrix of ``matvec`` (``n x n``).

    An operator that knows its matrix in closed form exposes it as a
    ``matvec.matrix()`` attribute, which is used; otherwise the matrix is built
    with one batched (``vmap``) call on the identity.

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import dense_operator
    >>> A = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> dense_operator(lambda v: A @ v, 2, dtype=A.dtype, device="cpu")
    tensor([[2., 1.],
            [1., 3.]], dtype=torch.float64)
    """
    if hasattr(matvec, "matrix"):
        return matvec.matrix()
    eye = torch.eye(n, dtype=dtype, device=device)
    return vmap(matvec)(eye).T


def solve_exact(matvec, b, *, max_size=5000):
    """Dense solve of ``A x = b`` for a symmetric ``A`` (small problems only).

    A (numerically) singular ``A`` (for example the Hessian of a softmax
    model, flat along the shift of its unpenalized intercepts, or an L1
    model's data Hessian with collinear features) gets the minimum-norm
    least-squares solution, which is what conjugate gradient converges to
    from ``x = 0`` when ``b`` is orthogonal to the null space. Eigenvalues
    within ``n * eps`` of the largest in modulus count as zero, as in
    :func:`torch.linalg.pinv`: in float32 that is the rounding level of a
    Hessian of a few hundred parameters, and the smallest eigenvalues of an
    ill-conditioned (not singular) one may fall below it, so
    :func:`implicit_hypergradient` builds and solves its system in float64.
    The eigenvalues cost several LU solves (MNIST's 785 parameters: 50 ms
    against 10 ms on one CPU thread); a ``matvec`` that offers them cached,
    as ``matvec.eigenvalues()``, or its matrix, as ``matvec.matrix()``, is
    asked for them.

    Returns ``(x, residual, 0)``, like :func:`solve_cg`.

    Examples
    --------
    >>> import torch
    >>> from skpoison.hypergrad import solve_exact
    >>> A = torch.tensor([[2.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    >>> x, res, _ = solve_exact(lambda v: A @ v, torch.ones(2, dtype=torch.float64))
    >>> x
    tensor([0.5000, 0.2500], dtype=torch.float64)

    Singular: the component along ``(1, -1)`` is left out.

    >>> A = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    >>> solve_exact(lambda v: A @ v, torch.tensor([2.0, 2.0], dtype=torch.float64))[0]
    tensor([1.0000, 1.0000], dtype=torch.float64)
    """
    if b.numel() > max_size:
        raise ValueError(
            f"The exact solve builds a dense {b.numel()} x {b.numel()} Hessian, larger "
            f"than max_size={max_size}; use method='cg' for a model this size."
        )
    A = dense_operator(matvec, b.numel(), dtype=b.dtype, device=b.device)
    x, info = torch.linalg.solve_ex(A, b)
    residual = stable_norm(A @ x - b)
    loose = torch.finfo(b.dtype).eps ** 0.5 * stable_norm(b)
    solved = bool(info == 0) and bool(residual <= loose)
    # LU rarely meets an exactly zero pivot on a singular matrix: it then adds an
    # arbitrary multiple of the null space to x, with as small a residual. Only
    # the spectrum tells (its values cost half the eigenvectors: those only when
    # needed).
    values = matvec.eigenvalues() if hasattr(matvec, "eigenvalues") else \
        torch.linalg.eigvalsh(A)
    if solved and not bool(_flat(values).any()):
        return x, residual, 0
    values, vectors = torch.linalg.eigh(A)
    flat = _flat(values)
    inverse = torch.where(flat, torch.zeros_like(values), 1.0 / values)
    x = vectors @ (inverse * (vectors.mT @ b))
    return x, stable_norm(A @ x - b), 0


def _flat(values):
    """Eigenvalues within ``n * eps`` of the largest in modulus: zero, as in ``pinv``."""
    size = values.abs()
    return size <= values.numel() * torch.finfo(values.dtype).eps * size.amax()
