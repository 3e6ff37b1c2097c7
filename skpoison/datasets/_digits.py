"""Binary (or k-class) selections of scikit-learn's bundled digits (private)."""

import numpy as np
from sklearn.datasets import load_digits

from ._common import check_classes, make_bunch, select_classes

__all__ = ["load_digits_pair"]


def load_digits_pair(classes=(0, 8)):
    """Load a selection of classes of scikit-learn's bundled 8x8 digits.

    No download and no file: this is the library's offline default data set.
    Digits 0 and 8 give 178 + 174 = 352 samples of 64 features.

    Parameters
    ----------
    classes : sequence of int or None, default=(0, 8)
        Digits to keep (at least two); ``None`` keeps all ten.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data`` float64 (n, 64) in [0, 1] (pixel / 16); ``target`` int64
        original digits; ``feature_range`` (0.0, 1.0); ``name`` "digits";
        ``classes``; ``target_names``; ``description``; ``caveat`` None
        (exact data).

    Examples
    --------
    >>> from skpoison.datasets import load_digits_pair
    >>> digits = load_digits_pair()
    >>> digits.data.shape, digits.feature_range
    ((352, 64), (0.0, 1.0))
    >>> sorted(set(digits.target.tolist()))
    [0, 8]
    """
    classes = check_classes(classes, range(10), "digits")
    raw = load_digits()
    X, y = select_classes([(raw.data, raw.target)], classes, "digits")
    data = np.asarray(X, dtype=np.float64) / 16.0
    names = [str(i) for i in range(10)]
    desc = ("scikit-learn's bundled 8x8 digits (UCI optical recognition, test "
            f"part), digits {' vs '.join(names[c] for c in classes)}: "
            f"{len(y)} samples, 64 features, pixels scaled to [0, 1] (/16).")
    return make_bunch(data, y, feature_range=(0.0, 1.0), name="digits",
                      classes=classes, target_names=names, description=desc)
