"""The linear solvers: conjugate gradient, dense solve, dense operator."""

from __future__ import annotations

import pytest
import torch

from skpoison.hypergrad import dense_operator, solve_cg, solve_exact
from skpoison.hypergrad._linear_solve import default_tol

DT = torch.float64


def spd_matrix(n, eigenvalues, seed=0):
    gen = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=DT))
    return Q @ torch.diag(torch.as_tensor(eigenvalues, dtype=DT)) @ Q.T


def test_cg_solves_to_tolerance_and_reports_the_true_residual():
    A = spd_matrix(40, torch.linspace(0.1, 10.0, 40))
    b = torch.randn(40, generator=torch.Generator().manual_seed(1), dtype=DT)
    for tol in (1e-4, 1e-8, 1e-12):
        x, residual, n_iter = solve_cg(lambda v: A @ v, b, tol=tol)
        true_residual = torch.linalg.vector_norm(A @ x - b)
        assert float(residual) == pytest.approx(float(true_residual), rel=1e-6, abs=1e-14)
        assert float(true_residual) <= 10 * tol * float(torch.linalg.vector_norm(b))
        assert 0 < n_iter <= 40 + 10
    torch.testing.assert_close(x, torch.linalg.solve(A, b), rtol=1e-10, atol=1e-12)


def test_cg_needs_one_iteration_per_distinct_eigenvalue():
    A = spd_matrix(30, [1.0] * 10 + [2.0] * 10 + [5.0] * 10)
    b = torch.randn(30, generator=torch.Generator().manual_seed(2), dtype=DT)
    _, residual, n_iter = solve_cg(lambda v: A @ v, b, tol=1e-10)
    assert n_iter == 3
    assert float(residual) < 1e-9


def test_cg_respects_maxiter_and_zero_rhs():
    A = spd_matrix(30, torch.logspace(-3, 3, 30))
    b = torch.ones(30, dtype=DT)
    _, residual, n_iter = solve_cg(lambda v: A @ v, b, tol=1e-14, maxiter=4)
    assert n_iter == 4 and float(residual) > 1e-6
    x, residual, n_iter = solve_cg(lambda v: A @ v, torch.zeros(30, dtype=DT))
    assert n_iter == 0 and not torch.any(x) and float(residual) == 0.0


def test_default_tolerance_follows_the_dtype():
    assert default_tol(torch.float64) == 1e-10
    assert default_tol(torch.float32) == 1e-5
    A = spd_matrix(20, torch.linspace(1.0, 4.0, 20)).float()
    b = torch.ones(20)
    x, residual, n_iter = solve_cg(lambda v: A @ v, b)
    assert n_iter < 20 and float(residual) < 1e-4


def test_exact_solve_and_its_size_guard():
    A = spd_matrix(6, [1.0, 2, 3, 4, 5, 6])
    b = torch.arange(6, dtype=DT)
    x, residual, n_iter = solve_exact(lambda v: A @ v, b)
    torch.testing.assert_close(A @ x, b)
    assert n_iter == 0 and float(residual) < 1e-12
    with pytest.raises(ValueError, match="method='cg'"):
        solve_exact(lambda v: A @ v, b, max_size=5)


def test_exact_solve_of_a_singular_consistent_system_is_minimum_norm():
    A = torch.diag(torch.tensor([2.0, 1.0, 0.0], dtype=DT))
    b = torch.tensor([2.0, 3.0, 0.0], dtype=DT)
    x, residual, _ = solve_exact(lambda v: A @ v, b)
    torch.testing.assert_close(x, torch.tensor([1.0, 3.0, 0.0], dtype=DT))
    assert float(residual) < 1e-12


@pytest.mark.parametrize("seed", range(5))
def test_exact_solve_is_minimum_norm_where_lu_misses_the_singularity(seed):
    # Q diag(2, 1, 0) Q^T in floating point: no pivot is exactly 0, so LU "solved"
    # it with a residual at rounding level and an O(1) null-space component.
    A = spd_matrix(3, [2.0, 1.0, 0.0], seed=seed)
    Q = torch.linalg.eigh(A).eigenvectors
    assert int(torch.linalg.solve_ex(A, A[:, 0])[1]) == 0      # (LU sees no singularity)
    x_true = torch.linalg.pinv(A, hermitian=True) @ (A @ torch.ones(3, dtype=DT))
    x, residual, _ = solve_exact(lambda v: A @ v, A @ torch.ones(3, dtype=DT))
    torch.testing.assert_close(x, x_true, rtol=1e-12, atol=1e-12)
    assert float(residual) < 1e-13
    assert abs(float(Q[:, 0] @ x)) < 1e-12                      # nothing along the null space


def test_dense_operator_uses_a_closed_form_matrix_when_offered():
    A = spd_matrix(5, [1.0, 2, 3, 4, 5])

    def matvec(v):
        return A @ v

    torch.testing.assert_close(dense_operator(matvec, 5, dtype=DT, device="cpu"), A)
    matvec.matrix = lambda: 2 * A
    torch.testing.assert_close(dense_operator(matvec, 5, dtype=DT, device="cpu"), 2 * A)


def test_cg_stops_on_singular_or_indefinite_operators():
    singular = torch.diag(torch.tensor([3.0, 1.0, 0.0], dtype=DT))
    b = torch.ones(3, dtype=DT)               # not in the range: no solution
    x, residual, _ = solve_cg(lambda v: singular @ v, b)
    assert torch.isfinite(x).all() and float(residual) >= 1.0 - 1e-12  # min over x is 1
    indefinite = torch.diag(torch.tensor([1.0, -1.0], dtype=DT))
    x, residual, n_iter = solve_cg(lambda v: indefinite @ v, torch.ones(2, dtype=DT))
    assert torch.isfinite(x).all() and n_iter == 0 and float(residual) > 1.0


CG_SYSTEMS = {
    "spd": (spd_matrix(40, torch.linspace(0.1, 10.0, 40)), {}),
    "three-eigenvalues": (spd_matrix(30, [1.0] * 10 + [2.0] * 10 + [5.0] * 10), {}),
    "maxiter": (spd_matrix(30, torch.logspace(-3, 3, 30)), {"tol": 1e-14, "maxiter": 11}),
    "singular": (torch.diag(torch.tensor([3.0, 1.0, 0.0, 2.0], dtype=DT)), {}),
    "indefinite": (torch.diag(torch.tensor([1.0, 2.0, -1.0, 4.0], dtype=DT)), {}),
}


@pytest.mark.parametrize("check_every", [2, 3, 8, 1000])
@pytest.mark.parametrize("system", list(CG_SYSTEMS))
def test_cg_result_does_not_depend_on_how_often_the_host_checks(system, check_every):
    A, options = CG_SYSTEMS[system]
    b = torch.randn(A.shape[0], generator=torch.Generator().manual_seed(3), dtype=DT)
    x1, residual1, n1 = solve_cg(lambda v: A @ v, b, check_every=1, **options)
    x, residual, n = solve_cg(lambda v: A @ v, b, check_every=check_every, **options)
    assert torch.equal(x, x1)                 # masked iterations change nothing
    assert n == n1 and torch.equal(residual, residual1)
    assert torch.isfinite(x).all()


def test_cg_past_a_nan_direction_keeps_the_last_finite_iterate():
    A = spd_matrix(10, torch.linspace(1.0, 5.0, 10))
    b = torch.ones(10, dtype=DT)
    calls = []

    def matvec(v):   # the third product (and every one after it) is NaN
        calls.append(1)
        return A @ v if len(calls) < 3 else torch.full_like(v, float("nan"))

    x, _, n_iter = solve_cg(matvec, b, check_every=8)
    assert n_iter == 2 and torch.isfinite(x).all()


@pytest.mark.parametrize("check_every", [0, -1, 2.0, True])
def test_cg_rejects_a_bad_check_interval(check_every):
    A = torch.eye(3, dtype=DT)
    with pytest.raises(ValueError, match="check_every=.* must be a positive int"):
        solve_cg(lambda v: A @ v, torch.ones(3, dtype=DT), check_every=check_every)


@pytest.mark.parametrize("magnitude", [1e-30, 1e20, 1e30])
def test_cg_is_scale_invariant_where_float32_squares_overflow(magnitude):
    # b's squares overflow (or underflow) float32: unscaled, CG stopped at once with x = 0.
    A = spd_matrix(20, torch.linspace(1.0, 4.0, 20)).float()
    b = torch.linspace(-1.0, 1.0, 20)
    x_unit, _, n_unit = solve_cg(lambda v: A @ v, b)
    x, residual, n_iter = solve_cg(lambda v: A @ v, b * magnitude)
    assert n_iter == n_unit > 0
    torch.testing.assert_close(x / magnitude, x_unit, rtol=1e-5, atol=0)
    assert 0 < float(residual) < 1e-4 * magnitude


@pytest.mark.parametrize("magnitude", [1.0, 1e20])
def test_exact_solve_of_an_inconsistent_singular_system_is_least_squares_in_float32(magnitude):
    # At 1e20, ||b|| was inf in float32 unscaled: any residual passed, and the
    # garbage of the singular solve came back instead of the least-squares solution.
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0),
                                       dtype=DT))
    A = (Q @ torch.diag(torch.tensor([2.0, 1.0, 0.0], dtype=DT)) @ Q.T).float()
    b = (Q @ torch.tensor([2.0, 3.0, 1.0], dtype=DT)).float()     # not in A's range
    x, residual, _ = solve_exact(lambda v: A @ v, b * magnitude)
    least_squares = (Q @ torch.tensor([1.0, 3.0, 0.0], dtype=DT)).float()
    torch.testing.assert_close(x / magnitude, least_squares, rtol=1e-4, atol=1e-5)
    assert float(residual / magnitude) == pytest.approx(1.0, rel=1e-4)


def test_cg_stops_at_a_curvature_at_rounding_level():
    # A direction of curvature ~1e-17 is numerically flat: stepping along it
    # would send the iterate to ~1e17.
    A = torch.diag(torch.tensor([2.0, 1.0, 1e-17], dtype=DT))
    x, _, n_iter = solve_cg(lambda v: A @ v, torch.ones(3, dtype=DT))
    assert n_iter == 2 and float(x.abs().max()) < 1e3


def test_dense_operator_of_a_nonsymmetric_matvec_is_its_matrix():
    A = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=DT)
    torch.testing.assert_close(dense_operator(lambda v: A @ v, 2, dtype=DT, device="cpu"), A)


def test_the_exact_solve_takes_a_system_of_exactly_max_size():
    A = torch.diag(torch.tensor([2.0, 4.0], dtype=DT))
    x, _, _ = solve_exact(lambda v: A @ v, torch.ones(2, dtype=DT), max_size=2)
    torch.testing.assert_close(x, torch.tensor([0.5, 0.25], dtype=DT))
