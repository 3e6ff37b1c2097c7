"""set_up_on_device: the K training sets' scale checks and rates, made together,
warn and rate as the host checks of each set do."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skpoison.estimators import _spectral, _trusted_scale
from skpoison.estimators._device_setup import set_up_on_device
from skpoison.estimators._feature_scales import check_feature_scales, feature_scale_problem
from skpoison.estimators._trusted_scale import check_trusted_scale

STEPS = 50


@pytest.fixture(autouse=True)
def device_code_on_cpu_tensors(monkeypatch):
    monkeypatch.setattr(_spectral, "HOST_LANCZOS_DEVICES", frozenset())


def _caught(run):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run()
    return result, [(w.category, str(w.message)) for w in caught]


def _on_host(pairs):
    def run():
        for X, X_val in pairs:
            check_trusted_scale(X, X_val, sampler=True)
            check_feature_scales(X, inner_steps=STEPS)
    return _caught(run)[1]


def _together(pairs, rated=None, device="cpu"):
    Xs, X_vals = [X for X, _ in pairs], [X_val for _, X_val in pairs]
    return _caught(lambda: set_up_on_device(
        Xs, X_vals, torch.device(device), rated=rated or [True] * len(Xs), inner_steps=STEPS,
        names=[f"data set {k}" for k in range(len(Xs))]).squared_norms)


def _digits():
    X = load_digits().data
    return X / 16, X


def _cases():
    scaled, raw = _digits()
    standardized = (raw - raw.mean(0)) / np.where(raw.std(0) > 0, raw.std(0), 1)
    rng = np.random.RandomState(0)
    wide = rng.rand(300, 80) * np.r_[np.ones(79), 1e4]
    small = rng.rand(300, 80) * 1e-3
    one_hot = np.eye(80)[rng.randint(0, 80, 300)] * 1.0
    one_hot[:, :20] = rng.rand(300, 20) * 1e-3
    return {
        "honest": [(scaled[:300], scaled[300:360]), (scaled[400:700], scaled[700:760])],
        "raw trusted set": [(standardized[:300], raw[300:360]),
                            (scaled[400:700], scaled[700:760])],
        "wide and small features": [(wide, wide[:40]), (small, small[:40])],
        "indicators beside small features": [(one_hot, one_hot[:40])] * 2,
        "squares beyond float64": [(scaled[:300] * 1e200, scaled[300:360] * 1e200),
                                   (scaled[:300] * np.r_[np.ones(32), np.full(32, 1e-200)],
                                    scaled[300:360])],
        "few trusted rows": [(standardized[:300], raw[300:305])] * 2,
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_warns_as_the_host_checks_of_each_set(case):
    pairs = _cases()[case]
    expected = _on_host(pairs)
    if case not in ("honest", "few trusted rows"):
        assert expected       # (these cases warn: the test compares something)
    _, caught = _together(pairs, rated=[False] * len(pairs))
    assert caught == expected


def test_checks_the_host_would_read_rows_of(monkeypatch):
    # Sets beyond _SCALE_CHECK_MAX_ROWS: the same rows, drawn at random, on both sides.
    monkeypatch.setattr(_trusted_scale, "_SCALE_CHECK_MAX_ROWS", 50)
    scaled, raw = _digits()
    standardized = (raw - raw.mean(0)) / np.where(raw.std(0) > 0, raw.std(0), 1)
    pairs = [(standardized[:300], standardized[300:360] * 3.5),
             (standardized[400:700], standardized[700:760] * 6.0)]
    expected = _on_host(pairs)
    assert expected
    assert _together(pairs, rated=[False, False])[1] == expected


def test_rates_the_rated_sets_only():
    scaled, _ = _digits()
    pairs = [(scaled[k * 300:(k + 1) * 300], scaled[1000:1040]) for k in range(3)]
    norms, caught = _together(pairs, rated=[True, False, True])
    assert caught == [] and norms[1] is None
    for k in (0, 2):
        assert norms[k] == pytest.approx(_spectral.squared_spectral_norm(pairs[k][0]),
                                         rel=1e-13)


def test_batches_of_bounded_memory_warn_and_rate_as_one(monkeypatch, device_lanczos_runs):
    # One limit, _spectral's, bounds the batches of the set-up as of the Lanczos.
    pairs = _cases()["raw trusted set"] * 2 + _cases()["honest"][:1]
    one_batch = _together(pairs)
    monkeypatch.setattr(_spectral, "_BATCH_BYTES", 2 * 8 * pairs[0][0].size)
    norms, caught = _together(pairs)
    assert device_lanczos_runs == [5, 2, 2, 1]    # (the batches did run)
    assert caught == one_batch[1]
    assert norms == pytest.approx(one_batch[0], rel=1e-13)
    # Each batch's designs, cast before its Lanczos scales it in place.
    designs = set_up_on_device([X for X, _ in pairs], [X_val for _, X_val in pairs],
                               torch.device("cpu"), rated=[True] * len(pairs),
                               inner_steps=STEPS, names=[""] * len(pairs),
                               dtype=torch.float32).designs
    assert len(designs) == len(pairs)
    for (X, _), design in zip(pairs, designs):
        assert torch.equal(design, torch.tensor(X, dtype=torch.float32))



@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("rows", [300, 40])        # (the Lanczos; the host's dense SVD)
def test_the_designs_are_the_sets_as_given_whatever_the_norms_scale(monkeypatch, dtype,
                                                                    rows):
    # The Lanczos scales its float64 stack in place (by a power of two: 64 here);
    # the designs, a float64 one too, must not see it.
    rng = np.random.RandomState(0)
    Xs = [rng.rand(rows, 64) * 100, (rng.rand(rows, 64) * 100).astype(np.float32),
          rng.rand(rows, 64) * 100]
    monkeypatch.setattr(_spectral, "_BATCH_BYTES", 2 * 8 * Xs[0].size)   # (two batches)
    for rated in ([True] * 3, [True, False, True]):
        designs = set_up_on_device(Xs, [X[:20] for X in Xs], torch.device("cpu"),
                                   rated=rated, inner_steps=STEPS, names=[""] * 3,
                                   dtype=dtype).designs
        for X, design in zip(Xs, designs):
            assert design.dtype == dtype
            assert torch.equal(design, torch.tensor(X, dtype=dtype))

def test_a_rate_error_names_its_data_set():
    scaled, _ = _digits()
    pairs = [(scaled[:300], scaled[300:360]), (scaled[400:700] * 1e300, scaled[300:360])]
    with pytest.raises(ValueError, match="data set 1: The squared spectral norm"):
        _together(pairs, rated=[True, True])


@pytest.mark.parametrize("constant", [0.5, 0.1])
def test_a_constant_column_is_constant_whatever_its_mean_rounds_to(constant):
    # The mean of 300 copies of 0.1 is 0.1 plus an ulp: a deviation of 1e-17,
    # which counted the column as varying (0.5 sums exactly and did not), and a
    # trusted set 1e-9 off in it lay 1e8 such deviations away: a false warning.
    rng = np.random.RandomState(0)
    X = np.hstack([rng.rand(300, 3), np.full((300, 5), constant)])
    X_val = np.hstack([rng.rand(60, 3), np.full((60, 5), constant + 1e-9)])
    assert _caught(lambda: check_trusted_scale(X, X_val))[1] == []


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", list(_cases()))
def test_on_a_gpu_warns_and_rates_as_the_host_checks(case):
    pairs = _cases()[case]
    rated = [bool(np.abs(X).max() < 1e100) for X, _ in pairs]     # (1e200: no rate)
    norms, caught = _together(pairs, rated=rated, device="cuda")
    assert caught == _on_host(pairs)
    for (X, _), rate, norm in zip(pairs, rated, norms):
        if rate:
            assert norm == pytest.approx(_spectral.squared_spectral_norm(X), rel=1e-12)


@pytest.mark.parametrize("shape", [(300, 5), (40, 70)])
def test_small_designs_are_rated_as_a_single_fit_rates_them(shape):
    # At most _DENSE_UP_TO rows or columns: a single fit takes a dense SVD on the
    # host, whatever its device; fit_batched's rates are then that fit's, to the bit.
    rng = np.random.RandomState(0)
    pairs = [(rng.rand(*shape), rng.rand(20, shape[1])) for _ in range(2)]
    norms, _ = _together(pairs)
    assert norms == [_spectral.squared_spectral_norm(X, device="cpu") for X, _ in pairs]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_features_whose_squares_are_subnormal_warn_with_their_true_scale(dtype):
    # Float32 features of 4e-23 square to subnormals, which keep a digit or two:
    # the host's root mean square was 10 % off (the device's, in float64, was not).
    scale = 4e-23 if dtype == np.float32 else 1e-160
    X = (np.random.RandomState(0).rand(300, 4) * scale).astype(dtype)
    exact = np.sqrt(np.mean((X.astype(np.float64) / scale) ** 2, axis=0)) * scale
    assert f"root mean square, {np.median(exact):.3g}," in feature_scale_problem(X)
    pairs = [(X, X[:40])]
    assert _together(pairs, rated=[False])[1] == _on_host(pairs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standardized_columns_beside_small_ones_warn_alike(dtype):
    # Standardized columns' root mean squares are 1 to rounding, which differs between
    # the host's sums (in X's dtype) and the device's (float64): it picked the column
    # the warning named, and whether its largest column counted as below the 1s.
    from sklearn.preprocessing import StandardScaler

    for seed in range(10):
        rng = np.random.RandomState(seed)
        X = np.hstack([StandardScaler().fit_transform(rng.rand(300, 5)),
                       rng.rand(300, 20) * 1e-3]).astype(dtype)
        pairs = [(X, X[:60])]
        expected = _on_host(pairs)
        assert [message[:63] for _, message in expected] == [
            "The features' scales differ widely: column 0's root mean square"]
        assert _together(pairs, rated=[False])[1] == expected


def test_means_equal_but_for_rounding_lie_no_distance_apart():
    # Symmetric sets (x and -x) have means of 0 to rounding: the distance the
    # warning printed was that rounding (1.6e-16 on the host, 1.57e-16 on the device).
    rng = np.random.RandomState(1)
    a, b = rng.standard_normal((150, 8)), rng.standard_normal((30, 8))
    pairs = [(np.vstack([a, -a])[rng.permutation(300)], 5 * np.vstack([b, -b]))]
    expected = _on_host(pairs)
    assert len(expected) == 1 and "a median 0 standard deviations" in expected[0][1]
    assert _together(pairs, rated=[False])[1] == expected


def test_a_spread_at_the_limit_to_rounding_is_not_past_it():
    # A median column of float32 0.1s: its root mean square, summed in float32 on the
    # host, was 0.09999996 (10.000004 times below the 1s: a warning), the device's
    # 0.100000001 (silent).
    X = np.hstack([np.full((213, 1), 0.1), np.full((213, 1), 0.5), np.full((213, 1), 1e-3),
                   np.random.RandomState(0).randint(0, 2, (213, 2))]).astype(np.float32)
    pairs = [(X, X[:40])]
    assert _on_host(pairs) == []
    assert _together(pairs, rated=[False])[1] == []
