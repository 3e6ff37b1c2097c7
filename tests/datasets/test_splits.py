import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skpoison.datasets import make_poisoning_splits


def _pool(counts, labels=None, d=3):
    labels = labels if labels is not None else list(range(len(counts)))
    y = np.repeat(np.array(labels), counts)
    X = np.arange(len(y) * d, dtype=float).reshape(len(y), d)
    return X, y


def _check(s, X, y, sizes):
    idx = [s.idx_train, s.idx_val, s.idx_test]
    assert [len(i) for i in idx] == list(sizes)
    all_idx = np.concatenate(idx)
    assert len(np.unique(all_idx)) == len(all_idx)  # disjoint
    for name, i in zip(("train", "val", "test"), idx):
        np.testing.assert_array_equal(s[f"X_{name}"], X[i])
        np.testing.assert_array_equal(s[f"y_{name}"], y[i])
    classes = np.unique(y)
    for i in idx:  # balanced within each split
        counts = np.array([(y[i] == c).sum() for c in classes])
        assert counts.max() - counts.min() <= 1
    totals = np.array([(y[all_idx] == c).sum() for c in classes])
    assert totals.max() - totals.min() <= 1  # and over the three splits


def test_sizes_disjoint_balanced_original_labels():
    X, y = _pool([50, 60], labels=[0, 8])
    s = make_poisoning_splits(X, y, n_train=40, n_val=10, n_test=30, random_state=0)
    _check(s, X, y, (40, 10, 30))
    assert set(s.y_train.tolist()) == {0, 8}
    assert np.bincount(s.y_val, minlength=9)[[0, 8]].tolist() == [5, 5]


def test_odd_sizes_stay_balanced_overall():
    X, y = _pool([20, 20, 20])
    s = make_poisoning_splits(X, y, n_train=7, n_val=7, n_test=7, random_state=3)
    _check(s, X, y, (7, 7, 7))


def test_reproducible_and_random_state_matters():
    X, y = _pool([30, 30])
    a = make_poisoning_splits(X, y, n_train=10, n_val=4, n_test=10, random_state=1)
    b = make_poisoning_splits(X, y, n_train=10, n_val=4, n_test=10,
                              random_state=np.random.RandomState(1))
    c = make_poisoning_splits(X, y, n_train=10, n_val=4, n_test=10, random_state=2)
    np.testing.assert_array_equal(a.idx_train, b.idx_train)
    assert not np.array_equal(a.idx_train, c.idx_train)


def test_inputs_not_modified_and_outputs_are_copies():
    X, y = _pool([10, 10])
    X0, y0 = X.copy(), y.copy()
    X.flags.writeable = False
    s = make_poisoning_splits(X, y, n_train=6, n_val=2, n_test=4, random_state=0)
    s.X_train[:] = -1
    s.y_train[:] = -1
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_lists_and_zero_sizes():
    s = make_poisoning_splits([[0], [1], [2], [3]], ["a", "b", "a", "b"],
                              n_train=2, n_val=0, n_test=2, random_state=0)
    assert sorted(s.y_train.tolist()) == ["a", "b"] and s.X_val.shape == (0, 1)


def test_pool_too_small():
    X, y = _pool([5, 5])
    with pytest.raises(ValueError, match="= 11 exceeds the 10 samples available"):
        make_poisoning_splits(X, y, n_train=5, n_val=3, n_test=3)


def test_class_too_small_for_balance():
    X, y = _pool([40, 6], labels=[0, 8])
    with pytest.raises(ValueError) as info:
        make_poisoning_splits(X, y, n_train=10, n_val=2, n_test=4, random_state=0)
    msg = str(info.value)
    assert "{0: 8, 8: 8}" in msg and "{0: 40, 8: 6}" in msg and "at most 13" in msg


def test_extra_sample_goes_to_the_larger_class():
    X, y = _pool([5, 6])
    s = make_poisoning_splits(X, y, n_train=5, n_val=3, n_test=3, random_state=0)
    _check(s, X, y, (5, 3, 3))


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_train=-1, n_val=1, n_test=1), "n_train must be an integer >= 0, got -1"),
    (dict(n_train=2, n_val=1.0, n_test=1), "n_val must be"),
    (dict(n_train=2, n_val=1, n_test=True), "n_test must be"),
])
def test_bad_sizes(kwargs, match):
    X, y = _pool([10, 10])
    with pytest.raises(ValueError, match=match):
        make_poisoning_splits(X, y, **kwargs)


def test_bad_shapes():
    with pytest.raises(ValueError, match="same number of rows"):
        make_poisoning_splits(np.zeros((4, 2)), [0, 1, 0], n_train=1, n_val=1, n_test=1)
    with pytest.raises(ValueError, match="1-D"):
        make_poisoning_splits(np.zeros((4, 2)), np.zeros((4, 1)), n_train=1, n_val=1, n_test=1)
    with pytest.raises(ValueError, match="pool .* is empty"):   # (was a ZeroDivisionError)
        make_poisoning_splits(np.zeros((0, 2)), np.zeros(0), n_train=0, n_val=0, n_test=0)
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="dense X .* X.toarray"):
        make_poisoning_splits(sparse.csr_matrix(np.eye(4)), [0, 1, 0, 1], n_train=1, n_val=1,
                              n_test=1)


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(1, 30), min_size=1, max_size=4),
       sizes=st.tuples(*[st.integers(0, 25)] * 3), seed=st.integers(0, 2**16))
def test_property_balanced_or_clear_error(counts, sizes, seed):
    X, y = _pool(counts)
    try:
        s = make_poisoning_splits(X, y, n_train=sizes[0], n_val=sizes[1],
                                  n_test=sizes[2], random_state=seed)
    except ValueError as exc:
        assert "available" in str(exc)
        # refused only when a draw balanced to within 1 is really impossible
        total, k = sum(sizes), len(counts)
        demand = [total // k + (j < total % k) for j in range(k)]
        assert any(d > a for d, a in zip(demand, sorted(counts, reverse=True)))
    else:
        _check(s, X, y, sizes)


def test_rows_within_each_split_are_shuffled():
    # D5: not grouped by class.
    from skpoison.datasets import make_poisoning_splits
    X, y = np.arange(200.0).reshape(100, 2), np.repeat([0, 1], 50)
    split = make_poisoning_splits(X, y, n_train=40, n_val=10, n_test=20, random_state=0)
    for labels in (split.y_train, split.y_test):
        assert not (np.diff(labels) >= 0).all()


@pytest.mark.parametrize("y", [np.r_[np.zeros(20), np.ones(19), np.nan],
                               np.array(["a"] * 20 + ["b"] * 19 + [None], dtype=object)],
                         ids=["NaN", "None"])
def test_missing_labels_are_refused(y):
    # (np.unique made the NaNs a class of their own: a split with a class "nan")
    X = np.random.RandomState(0).rand(40, 3)
    with pytest.raises(ValueError, match="y holds 1 missing labels .* row 39"):
        make_poisoning_splits(X, y, n_train=10, n_val=6, n_test=6, random_state=0)


def test_pandas_missing_labels_are_refused_as_missing():
    # pandas' NA has no truth value (NA != NA is NA): it raised TypeError ("boolean
    # value of NA is ambiguous") from the check meant to name it.
    pd = pytest.importorskip("pandas")
    y = np.array(["a"] * 20 + ["b"] * 19 + [pd.NA], dtype=object)
    X = np.random.RandomState(0).rand(40, 3)
    with pytest.raises(ValueError, match="y holds 1 missing labels .* row 39"):
        make_poisoning_splits(X, y, n_train=10, n_val=6, n_test=6, random_state=0)


def _with(values, shape=(40, 3), dtype=float):
    """A pool of ``shape`` whose rows 7 and 30 hold ``values`` in column 1."""
    X = np.random.RandomState(0).rand(*shape).astype(dtype)
    X[7, 1], X[30, 1] = values
    return X, np.repeat([0, 1], shape[0] // 2)


@pytest.mark.parametrize("X, y, first", [
    (*_with((np.nan, 0.5)), 7), (*_with((np.inf, -np.inf)), 7),
    (*_with((0.5, np.nan), dtype=np.float32), 30), (*_with((np.nan, 0.5), shape=(40, 3, 2)), 7),
    (*_with((complex(np.inf, 0), 0.5), dtype=complex), 7),
    (*_with((0.5, None), dtype=object), 30), (*_with((np.inf, 0.5), dtype=object), 7),
], ids=["nan", "inf", "float32", "images", "complex", "None", "object-inf"])
def test_non_finite_X_is_refused_naming_X_and_the_row(X, y, first):
    # The pool's NaN or inf passed into the splits (in the drawn rows or not, as
    # the draw fell) and surfaced later as a NaN loss, or never.
    with pytest.raises(ValueError, match=rf"^X holds \d NaN, infinite or missing value\(s\), "
                                         rf"in \d row\(s\), the first at row {first}: drop"):
        make_poisoning_splits(X, y, n_train=4, n_val=2, n_test=2, random_state=0)


def test_finite_X_of_any_kind_still_splits():
    y = np.repeat([0, 1], 10)
    for X in (np.full((20, 2), 1e308),                  # (its sum overflows: no NaN for all that)
              np.arange(20), np.ones((20, 2), dtype=bool), np.array([["a"]] * 20),
              np.array([[1.0, "a"]] * 20, dtype=object)):
        s = make_poisoning_splits(X, y, n_train=4, n_val=2, n_test=2, random_state=0)
        np.testing.assert_array_equal(s.X_train, X[s.idx_train])
