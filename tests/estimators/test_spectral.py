import warnings

import numpy as np
import pytest
import torch

from skpoison.estimators import _spectral


@pytest.fixture(params=["host", "device"])
def squared_spectral_norm(request, monkeypatch):
    """The function under test, with ARPACK on the host or the device Lanczos
    (run on CPU tensors: every device then counts as not the host's)."""
    if request.param == "host":
        return _spectral.squared_spectral_norm
    monkeypatch.setattr(_spectral, "HOST_LANCZOS_DEVICES", frozenset())

    def on_device(X):
        return _spectral.squared_spectral_norm(X, device="cpu")
    return on_device


def _dense(X):
    X1 = np.hstack([np.asarray(X, dtype=np.float64), np.ones((len(X), 1))])
    return np.linalg.norm(X1, 2) ** 2


@pytest.mark.parametrize("shape", [(30, 5), (64, 63), (300, 120), (90, 400)],
                         ids=["small", "dense-threshold", "tall", "wide"])
def test_matches_the_dense_svd(shape, squared_spectral_norm):
    X = np.random.RandomState(1).rand(*shape)
    np.testing.assert_allclose(squared_spectral_norm(X), _dense(X), rtol=1e-12)


def test_centred_data_with_close_top_singular_values(squared_spectral_norm):
    # No dominant mean direction: the top two singular values of [X, 1] are
    # close, which slows Lanczos down but must not change its answer.
    rng = np.random.RandomState(2)
    X = rng.standard_normal((500, 200))
    X -= X.mean(axis=0)
    np.testing.assert_allclose(squared_spectral_norm(X), _dense(X), rtol=1e-12)


def _spectra(name):
    rng = np.random.RandomState(7)
    U, _ = np.linalg.qr(rng.standard_normal((500, 200)))
    V, _ = np.linalg.qr(rng.standard_normal((200, 200)))
    if name == "orthonormal-columns":       # every singular value 1
        return U
    if name == "near-degenerate-top":
        return (U * np.r_[1.0, 1 - 1e-10, np.full(198, 0.5)]) @ V.T
    if name == "clustered":
        return (U * (1 + 1e-3 * rng.rand(200))) @ V.T
    if name == "rank-one":
        return np.outer(rng.rand(300), rng.rand(150))
    return np.full((300, 150), 0.5)        # constant


@pytest.mark.parametrize("name", ["orthonormal-columns", "near-degenerate-top", "clustered",
                                  "rank-one", "constant"])
def test_hard_spectra_for_a_small_krylov_basis(name, squared_spectral_norm):
    # Lanczos runs with 10 vectors (ARPACK's default is 20): equal or clustered
    # top values and rank-deficient designs cost restarts, never accuracy.
    X = _spectra(name)
    np.testing.assert_allclose(squared_spectral_norm(X), _dense(X), rtol=1e-12)


@pytest.mark.parametrize("kind", ["zeros", "one-column", "binary-column", "constant",
                                  "three-columns"])
def test_designs_whose_krylov_space_stops_growing(kind, squared_spectral_norm):
    # Zero columns make the Gram operator's Krylov space invariant after a step or
    # two. The device Lanczos normalized the rounding noise left then, and its
    # ghosts made the norm of an all-zero 200 x 150 design 7.8e6 instead of 200.
    rng = np.random.RandomState(0)
    for n, d in ((200, 150), (90, 300), (150, 70), (66, 66)):
        X = np.zeros((n, d))
        if kind == "one-column":
            X[:, 7] = rng.rand(n)
        elif kind == "binary-column":
            X[:, 3] = rng.randint(0, 2, n)
        elif kind == "constant":
            X[:] = 0.5
        elif kind == "three-columns":
            X[:, :3] = rng.rand(n, 3)
        np.testing.assert_allclose(squared_spectral_norm(X), _dense(X), rtol=1e-12)


def test_a_read_only_design_is_read_without_a_warning(squared_spectral_norm):
    X = np.random.RandomState(8).rand(120, 90)
    X.setflags(write=False)                     # (a memory map, say)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(squared_spectral_norm(X), _dense(X), rtol=1e-12)


def test_the_callers_memory_layout_does_not_change_a_bit(squared_spectral_norm):
    # Reversed rows of the digits: without a C-ordered copy first, the
    # products ran on the negative-stride view and the rate differed in its
    # last bits from that of the same values in C order.
    from sklearn.datasets import load_digits
    X = load_digits(n_class=2, return_X_y=True)[0] / 16
    view = X[::-1][:200]
    reference = squared_spectral_norm(np.ascontiguousarray(view))
    for layout in (view, np.asfortranarray(view)):
        assert squared_spectral_norm(layout) == reference


def test_float32_input_is_read_in_float64_and_left_alone(squared_spectral_norm):
    X = np.random.RandomState(3).rand(200, 100).astype(np.float32)
    before = X.copy()
    np.testing.assert_allclose(squared_spectral_norm(X), _dense(X), rtol=1e-12)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_input_is_refused(value, squared_spectral_norm):
    X = np.random.RandomState(4).rand(100, 80)
    X[3, 5] = value
    with pytest.raises(ValueError, match="NaN or inf"):
        squared_spectral_norm(X)


@pytest.mark.parametrize("shape", [(30, 5), (300, 120), (90, 400)], ids=["small", "tall", "wide"])
def test_magnitudes_beyond_the_squares_range_are_scaled(shape, squared_spectral_norm):
    # n (d + 1) max|x|^2 overflows float64, the squared norm does not.
    X = np.random.RandomState(5).rand(*shape) * 1e151
    scaled = np.hstack([X / 1e151, np.full((len(X), 1), 1e-151)])
    want = np.linalg.norm(scaled, 2) ** 2 * 1e302
    np.testing.assert_allclose(squared_spectral_norm(X), want, rtol=1e-12)
    one_point = np.zeros((200, 50))
    one_point[0, 0] = 1e153
    np.testing.assert_allclose(squared_spectral_norm(one_point), 1e306, rtol=1e-12)


def test_a_norm_beyond_float64_is_refused(squared_spectral_norm):
    X = np.random.RandomState(6).rand(100, 70) * 1e160
    with pytest.raises(ValueError, match=r"overflows float64 .* scale the features"):
        squared_spectral_norm(X)


def _reference_norm(X):
    """``||[X, 1]||_2^2`` by a dense SVD of the design scaled by its largest entry."""
    scale = np.abs(X).max()
    ones = np.full((X.shape[0], 1), 1 / scale)
    return np.linalg.norm(np.hstack([X / scale, ones]), 2) ** 2 * scale * scale


@pytest.mark.parametrize("shape", [(200, 100), (100, 200)], ids=["tall", "wide"])
def test_the_scaled_lanczos_paths_keep_the_intercept_column(shape, squared_spectral_norm):
    X = np.random.RandomState(0).rand(*shape) * 1.5e152
    np.testing.assert_allclose(squared_spectral_norm(X), _reference_norm(X), rtol=1e-12)


def test_the_overflow_bound_counts_the_intercept_column(squared_spectral_norm):
    with pytest.raises(ValueError, match="overflows float64"):
        squared_spectral_norm(np.full((10, 10), 3e153))


def test_a_model_off_the_host_gets_its_rate_from_the_device_lanczos(request):
    from sklearn.datasets import load_digits

    from skpoison import HypergradRegularizedLR

    X, y = load_digits(n_class=2, return_X_y=True)
    X = X / 16
    model = HypergradRegularizedLR(inner_steps=5, outer_steps=0, random_state=0)
    on_host = model.fit(X, y).inner_lr_
    runs = request.getfixturevalue("device_lanczos_runs")
    assert model.fit(X, y).inner_lr_ == pytest.approx(on_host, rel=1e-13)
    assert runs      # (every rate of the fit: its split, then the final refit)


def test_the_device_lanczos_reads_the_tridiagonal_every_few_steps(monkeypatch):
    # A basis that spans the whole space stops at once; one that must grow
    # (clustered values) comes back to the host only every _CHECK_EVERY steps.
    reads = []
    real = _spectral.eigh_tridiagonal

    def counted(*args, **kwargs):
        reads.append(len(args[0]))
        return real(*args, **kwargs)
    monkeypatch.setattr(_spectral, "eigh_tridiagonal", counted)
    X = torch.as_tensor(_spectra("clustered"))
    top, = _spectral._device_squared_norms(X[None], [1.0])
    assert top == pytest.approx(_dense(X.numpy()), rel=1e-12)
    assert reads and all(size % _spectral._CHECK_EVERY == 0 for size in reads)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["orthonormal-columns", "near-degenerate-top", "clustered",
                                  "rank-one", "constant"])
def test_the_gpus_lanczos_matches_the_dense_svd(name):
    X = _spectra(name)
    on_gpu = _spectral.squared_spectral_norm(X.astype(np.float32), device="cuda")
    np.testing.assert_allclose(on_gpu, _dense(X.astype(np.float32)), rtol=1e-12)


@pytest.mark.parametrize("names", [("orthonormal-columns", "near-degenerate-top", "clustered"),
                                   ("rank-one", "constant")])
def test_batched_device_lanczos_gives_each_design_its_own_value(names, monkeypatch):
    # Designs of one shape whose Lanczos runs stop at different reads: each keeps
    # the value it has alone, and the dense SVD's.
    monkeypatch.setattr(_spectral, "HOST_LANCZOS_DEVICES", frozenset())
    Xs = [_spectra(name) * scale for name, scale in zip(names, (1.0, 3.0, 0.25))]
    batched = _spectral.squared_spectral_norms(Xs, device="cpu")
    alone = [_spectral.squared_spectral_norm(X, device="cpu") for X in Xs]
    np.testing.assert_allclose(batched, alone, rtol=1e-13)
    np.testing.assert_allclose(batched, [_dense(X) for X in Xs], rtol=1e-12)


def test_batched_device_lanczos_scales_and_stops_each_design_alone(monkeypatch):
    # One shape, but scales 10^300 apart and Krylov spaces that stop growing at
    # different steps (all-zero, rank-one) beside ones that do not: each design
    # is scaled by its own power of two, and its basis ends at its own breakdown.
    monkeypatch.setattr(_spectral, "HOST_LANCZOS_DEVICES", frozenset())
    rng = np.random.RandomState(0)
    Xs = [rng.rand(150, 100) * 1e150, np.zeros((150, 100)), rng.rand(150, 100),
          np.outer(rng.rand(150), rng.rand(100)) * 1e-150, rng.randn(150, 100)]
    batched = _spectral.squared_spectral_norms(Xs, device="cpu")
    np.testing.assert_allclose(batched, [_dense(X) for X in Xs], rtol=1e-12)


def test_batched_norms_on_the_host_are_the_single_calls():
    Xs = [np.random.RandomState(seed).rand(120, 80) for seed in range(3)]
    assert _spectral.squared_spectral_norms(Xs) == [
        _spectral.squared_spectral_norm(X) for X in Xs]


def test_batched_device_lanczos_names_the_design_at_fault(monkeypatch):
    monkeypatch.setattr(_spectral, "HOST_LANCZOS_DEVICES", frozenset())
    Xs = [np.random.RandomState(seed).rand(120, 80) for seed in range(3)]
    Xs[1][3, 4] = np.nan
    with pytest.raises(ValueError, match="design 1: X holds NaN or inf"):
        _spectral.squared_spectral_norms(Xs, device="cpu")
    Xs[1][3, 4] = 1e300
    with pytest.raises(ValueError, match="design 1: The squared spectral norm .* 1e"):
        _spectral.squared_spectral_norms(Xs, device="cpu")


def test_batched_device_lanczos_takes_designs_in_batches_of_bounded_memory(monkeypatch,
                                                                           request):
    # Designs beyond _BATCH_BYTES of float64 run in several batches: the device
    # holds a bounded number of designs, whatever their count.
    runs = request.getfixturevalue("device_lanczos_runs")
    Xs = [np.random.RandomState(seed).rand(100, 70) for seed in range(5)]
    together = _spectral.squared_spectral_norms(Xs, device="cpu")
    monkeypatch.setattr(_spectral, "_BATCH_BYTES", 2 * 8 * 100 * 70)
    assert _spectral.squared_spectral_norms(Xs, device="cpu") == pytest.approx(together,
                                                                               rel=1e-13)
    assert runs == [5, 2, 2, 1]
    Xs[3][0, 0] = np.inf     # (an error names the design by its place among all)
    with pytest.raises(ValueError, match="design 3: X holds NaN or inf"):
        _spectral.squared_spectral_norms(Xs, device="cpu")
