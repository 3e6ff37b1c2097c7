from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skpoison.metrics import kuncheva_index, top_k_features


def test_identical_subsets_give_one():
    assert kuncheva_index([[3, 1, 4], [4, 3, 1]], n_features=10) == 1.0
    assert kuncheva_index(np.array([[0, 1]] * 5), n_features=784) == 1.0


def test_hand_computed_values():
    # n=10, k=3, r=2: (2*10 - 9) / (3 * 7) = 11/21
    assert kuncheva_index([[0, 1, 2], [0, 1, 5]], 10) == pytest.approx(11 / 21)
    # disjoint, n=4, k=2: (0 - 4) / (2 * 2) = -1 (minimum)
    assert kuncheva_index([[0, 1], [2, 3]], 4) == -1.0
    # chance overlap r = k^2/n gives 0: n=9, k=3, r=1
    assert kuncheva_index([[0, 1, 2], [2, 3, 4]], 9) == pytest.approx(0.0)


def test_mean_over_all_pairs():
    subsets = [[0, 1, 2], [0, 1, 5], [6, 7, 8], [0, 7, 9]]
    pairs = [kuncheva_index([a, b], 10) for a, b in combinations(subsets, 2)]
    assert kuncheva_index(subsets, 10) == pytest.approx(np.mean(pairs))
    assert kuncheva_index(tuple(np.array(s) for s in subsets), np.int64(10)) == \
        pytest.approx(np.mean(pairs))


@pytest.mark.parametrize("subsets, n, match", [
    ([[0, 1]], 5, "at least two"),
    ([[0, 1], [0, 1, 2]], 5, "same size"),
    ([[], []], 5, "0 < k < n_features"),
    ([[0, 1, 2], [2, 3, 4]], 3, "0 < k < n_features"),
    ([[0, 5], [0, 1]], 5, r"outside \[0, 5\)"),
    ([[0, -1], [0, 1]], 5, "outside"),
    ([[0, 0], [0, 1]], 5, "repeats"),
    ([[0.0, 1.0], [0, 1]], 5, "integer indices"),
    ([[0, 1], [0, 1]], 1, "n_features"),
    ([[0, 1], [0, 1]], 5.0, "n_features"),
    # one subset alone: its indices were read as subsets ("Subset 0 must be 1-D")
    (np.array([0, 1, 2]), 5, r"sequence of subsets.* item 0 is the single value"),
    ([3, 1], 5, "sequence of subsets"),
    # NumPy read [True, 2] as [1, 2]: the index was 1.0, silently
    ([[True, 2], [1, 2]], 5, "Subset 0 mixes booleans with feature indices"),
    ([[0, 1], {np.True_, 3}], 5, "Subset 1 mixes booleans"),
])
def test_kuncheva_validation(subsets, n, match):
    with pytest.raises(ValueError, match=match):
        kuncheva_index(subsets, n)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(3, 40), data=st.data())
def test_kuncheva_bounds_and_symmetry(n, data):
    k = data.draw(st.integers(1, n - 1))
    perm = st.permutations(range(n))
    a = data.draw(perm)[:k]
    b = data.draw(perm)[:k]
    value = kuncheva_index([a, b], n)
    assert -1.0 - 1e-12 <= value <= 1.0 + 1e-12
    assert value == kuncheva_index([b, a], n)


def test_top_k_features_1d_and_ties():
    np.testing.assert_array_equal(top_k_features([0.5, -2.0, 1.0, -0.5], 3), [1, 2, 0])
    out = top_k_features(np.zeros(4), 2)
    np.testing.assert_array_equal(out, [0, 1])
    assert out.dtype == np.int64


def test_top_k_features_multi_output_norm():
    coef = np.array([[3.0, 0.0, 1.0], [0.0, 2.5, 1.5]])  # norms 3, 2.5, 1.80
    np.testing.assert_array_equal(top_k_features(coef, 2), [0, 1])
    np.testing.assert_array_equal(top_k_features(coef[None, 0], 1), [0])


@pytest.mark.parametrize("scale", [1e-300, 1e200])
def test_top_k_features_multi_output_norm_of_huge_or_tiny_weights(scale):
    # Squares beyond float64's range made both norms inf (or 0): a tie, index 0 first.
    coef = np.array([[1.0, 0.0], [1.0, 1e100 if scale > 1 else 2.0]]) * scale
    np.testing.assert_array_equal(top_k_features(coef, 1), [1])


def test_top_k_features_ranks_norms_near_float64s_largest_value():
    # Scaled back, both norms overflowed to inf: a tie, index 0 first (a review).
    coef = np.array([[1.5e308, 1.7e308], [1.5e308, 1.7e308]])
    np.testing.assert_array_equal(top_k_features(coef, 2), [1, 0])


def test_top_k_features_matches_numpys_norms_and_ranks_zero_features_last():
    rng = np.random.RandomState(0)
    for _ in range(100):
        coef = rng.randn(3, 20) * np.exp(3 * rng.randn(20))
        coef[:, rng.rand(20) < 0.2] = 0.0
        coef[:, 5] = coef[:, 6]                         # (an exact tie)
        expected = np.argsort(-np.linalg.norm(coef, axis=0), kind="stable")
        np.testing.assert_array_equal(top_k_features(coef, 20), expected)
    np.testing.assert_array_equal(top_k_features([[0, 1e-300, 3], [0, 0, 4]], 3), [2, 1, 0])


def test_top_k_features_keeps_exact_ties_in_index_order():
    # Columns 0 and 1 have the same norm, sqrt(37), whatever their largest weights.
    coef = np.array([[-1, 1, -2, -3, -2, -3, 2, -2, 0, -1],
                     [-2, -1, -2, -3, 0, -3, -1, 1, 2, -2]], dtype=float).T
    assert np.linalg.norm(coef[:, 0]) == np.linalg.norm(coef[:, 1])
    np.testing.assert_array_equal(top_k_features(coef, 2), [0, 1])


@pytest.mark.parametrize("coef", [[[1.0, 1e-170, 2e-170]],
                                  [[1.0, 1e-170, 2e-170], [0.0, 1e-170, 2e-170]]])
def test_top_k_features_ranks_tiny_weights_next_to_large_ones(coef):
    # (scaled by the largest weight of all, the tiny ones' squares underflowed to a tie)
    np.testing.assert_array_equal(top_k_features(coef, 3), [0, 2, 1])


@pytest.mark.parametrize("coef, k, match", [
    ([1.0, 2.0], 3, "exceeds"), ([1.0, 2.0], 0, "k must be"),
    ([1.0, np.nan], 1, "NaN"), (np.zeros((2, 2, 2)), 1, "shape"),
    ([], 1, "shape"), ([1.0, 2.0], 1.0, "k must be"),
    (["1", "2"], 1, "must be one array of numbers"),       # (NumPy read them as numbers)
    ([True, False], 1, "must be one array of numbers"),
    ([1.0, True], 1, "must be one array of numbers"),      # (NumPy reads that as floats)
])
def test_top_k_features_validation(coef, k, match):
    with pytest.raises(ValueError, match=match):
        top_k_features(coef, k)


def test_pipeline_with_top_k():
    rng = np.random.default_rng(0)
    w = rng.normal(size=50)
    noisy = [w + 0.01 * rng.normal(size=50) for _ in range(4)]
    subsets = [top_k_features(c, 10) for c in noisy]
    assert kuncheva_index(subsets, 50) > 0.7


def test_boolean_masks_stand_for_the_features_they_select():
    from sklearn.feature_selection import SelectKBest, f_classif

    rng = np.random.RandomState(0)
    X, y = rng.rand(40, 10), rng.randint(0, 2, 40)
    masks = [SelectKBest(f_classif, k=3).fit(X[half], y[half]).get_support()
             for half in (slice(0, 20), slice(20, 40))]
    indices = [np.flatnonzero(m) for m in masks]
    assert kuncheva_index(masks, 10) == kuncheva_index(indices, 10)
    assert kuncheva_index([masks[0], indices[0]], 10) == 1.0
    with pytest.raises(ValueError, match="Subset 1 is a boolean mask of shape \\(9,\\)"):
        kuncheva_index([masks[0], masks[1][:9]], 10)


def test_kuncheva_does_not_allocate_per_feature():
    # n_features is only a count: the index needs the subsets' overlaps, not an
    # (n_subsets, n_features) int64 matrix: 160 GB here (a MemoryError under a 4 GB
    # limit), and at 10**18 numpy's "array is too big".
    n = 10**10
    assert kuncheva_index([[0, 1], [1, 2]], n) == pytest.approx((n - 4) / (2 * (n - 2)))
    assert kuncheva_index([[0, 1], [1, 2]], 10**18) == pytest.approx(0.5)


def test_top_k_features_of_a_sparsified_coef():
    # sparsify() makes coef_ a sparse matrix; it was refused ("one array of numbers").
    import scipy.sparse as sp
    coef = np.array([[0.0, 1.5, 0.0, -3.0, 0.5, 0.0]])     # (an L1 model's coef_)
    for matrix in (sp.csr_matrix(coef), sp.csc_matrix(coef)):
        np.testing.assert_array_equal(top_k_features(matrix, 3), top_k_features(coef, 3))
    coef = sp.csr_matrix(np.array([[0.0, 3.0, -4.0], [0.0, 4.0, 3.0]]))
    np.testing.assert_array_equal(top_k_features(coef, 3), [1, 2, 0])


def test_python_sets_are_subsets():
    # (np.asarray of a set is a 0-d object array: NumPy's error, before)
    assert kuncheva_index([{0, 1, 2}, frozenset({5, 1, 0})], 10) == kuncheva_index(
        [[0, 1, 2], [0, 1, 5]], 10)


def test_top_k_features_says_it_takes_one_array():
    # A network's coefs_ (a list of layers) failed with NumPy's "inhomogeneous shape".
    with pytest.raises(ValueError, match="coef must be one array .* list of layers"):
        top_k_features([np.ones((3, 2)), np.ones((2, 1))], 1)
