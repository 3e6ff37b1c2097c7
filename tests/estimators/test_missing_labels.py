"""Missing class labels in the training labels are refused by name, as in ``y_val``.

scikit-learn's own checks fail on None among strings with ``TypeError: '<' not
supported between instances of 'NoneType' and 'str'`` and on pandas' NA with
``TypeError: boolean value of NA is ambiguous``; the trusted set's labels already
had a message of their own ("y_val has missing labels").
"""

import numpy as np
import pytest

from skpoison import HypergradMLP, HypergradRegularizedLR, hypergradient

pd = pytest.importorskip("pandas")

X = np.random.RandomState(0).rand(20, 2)
LABELS = {
    "None among strings": np.array(["a", "b", None, "b"] * 5, dtype=object),
    "None among ints": np.array([0, 1, None, 1] * 5, dtype=object),
    "NaN among strings": np.array(["a", "b", np.nan, "b"] * 5, dtype=object),
    "pandas NA, string dtype": pd.Series(["a", "b", pd.NA, "b"] * 5, dtype="string"),
    "pandas NA, categorical": pd.Series(pd.Categorical(["a", "b", None, "b"] * 5)),
    "list with None": ["a", "b", None, "b"] * 5,
}
MISSING = r"^y has missing labels \(NaN, None or NA\): every point needs its class\.$"


@pytest.mark.parametrize("cls", [HypergradRegularizedLR, HypergradMLP])
@pytest.mark.parametrize("labels", LABELS.values(), ids=LABELS.keys())
def test_fit_names_missing_labels(cls, labels):
    with pytest.raises(ValueError, match=MISSING):
        cls(inner_steps=5, outer_steps=1, random_state=0).fit(X, labels)


@pytest.mark.parametrize("labels", LABELS.values(), ids=LABELS.keys())
def test_hypergradient_names_missing_training_labels(labels):
    with pytest.raises(ValueError, match=MISSING.replace("^y ", "^y_train ")):
        hypergradient(HypergradRegularizedLR(inner_steps=5), X, labels, X[:4],
                      np.array(["a", "b"] * 2))


def test_labels_that_are_all_present_still_fit():
    # (object labels, a pandas string column and a categorical one without NA)
    for labels in (np.array(["a", "b"] * 10, dtype=object),
                   pd.Series(["a", "b"] * 10, dtype="string"),
                   pd.Series(pd.Categorical(["a", "b"] * 10))):
        model = HypergradRegularizedLR(inner_steps=5, outer_steps=1, random_state=0)
        assert model.fit(X, labels).classes_.tolist() == ["a", "b"]


@pytest.mark.parametrize("cls", [HypergradRegularizedLR, HypergradMLP])
def test_no_labels_at_all_keep_scikit_learn_s_message(cls):
    # (check_requires_y_none: y=None is not a missing label but a missing y)
    with pytest.raises(ValueError, match="requires y to be passed, but the target y is None"):
        cls(inner_steps=5, outer_steps=1, random_state=0).fit(X, None)


def test_labels_that_are_lists_keep_scikit_learn_s_message():
    # (the missing-label check hashed the labels: a TypeError "unhashable type: 'list'"
    # hid scikit-learn's message about sequences of sequences)
    labels = np.empty(len(X), dtype=object)
    for index in range(len(X)):
        labels[index] = [index % 2]
    with pytest.raises(ValueError, match="legacy multi-label data representation"):
        HypergradRegularizedLR(inner_steps=5, outer_steps=1, random_state=0).fit(X, labels)


def test_trusted_labels_that_are_lists_are_named():
    # (a TypeError "unhashable type: 'list'" from the unseen-label check)
    labels = np.empty(6, dtype=object)
    for index in range(6):
        labels[index] = [index % 2]
    with pytest.raises(ValueError, match="^y_val must hold one class label per row"):
        HypergradRegularizedLR(inner_steps=5, outer_steps=1, random_state=0).fit(
            X, ["a", "b"] * (len(X) // 2), X_val=X[:6], y_val=labels)
