"""Linear solvers with one signature: ``solve(matvec, b, ...) -> (x, residual, n_iter)``."""

from __future__ import annotations

import torch
from torch.func import vmap


def solve_cg(matvec, b, *, tol=1e-10, maxiter=None):
    """Conjugate gradient for a symmetric positive-definite operator.

    Parameters
    ----------
    matvec : callable
        ``v -> A v``.
    b : Tensor of shape (n,)
    tol : float
        Stop when ``||A x - b|| <= tol * ||b||``.
    maxiter : int, default=10 * n

    Returns
    -------
    x : Tensor
    residual : Tensor, 0-d
        ``||A x - b||`` (the recursive residual).
    n_iter : int

    Examples
    --------
    >>> A = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> x, res, it = solve_cg(lambda v: A @ v, torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> torch.allclose(A @ x, torch.tensor([1.0, 2.0], dtype=torch.float64)), it
    (True, 2)
    """
    maxiter = 10 * b.numel() if maxiter is None else maxiter
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = r @ r
    threshold = (tol * torch.linalg.vector_norm(b)) ** 2
    n_iter = 0
    # One host synchronization per iteration (the stopping test); CG runs once
    # per hypergradient, outside the training loops.
    while n_iter < maxiter and bool(rs > threshold):
        Ap = matvec(p)
        step = rs / (p @ Ap)
        x = x + step * p
        r = r - step * Ap
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
        n_iter += 1
    return x, torch.sqrt(rs), n_iter


def dense_operator(matvec, n, *, dtype, device):
    """The matrix of ``matvec`` (``n x n``), built with one batched call."""
    eye = torch.eye(n, dtype=dtype, device=device)
    return vmap(matvec)(eye).T


def solve_exact(matvec, b, *, max_size=5000):
    """Dense solve of ``A x = b`` (small problems only).

    Returns ``(x, residual, 0)``, like :func:`solve_cg`.

    Examples
    --------
    >>> A = torch.tensor([[2.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    >>> x, res, _ = solve_exact(lambda v: A @ v, torch.ones(2, dtype=torch.float64))
    >>> x
    tensor([0.5000, 0.2500], dtype=torch.float64)
    """
    if b.numel() > max_size:
        raise ValueError(
            f"The exact solve builds a dense {b.numel()} x {b.numel()} Hessian, larger "
            f"than max_size={max_size}; use method='cg' for a model this size."
        )
    A = dense_operator(matvec, b.numel(), dtype=b.dtype, device=b.device)
    x = torch.linalg.solve(A, b)
    return x, torch.linalg.vector_norm(A @ x - b), 0
