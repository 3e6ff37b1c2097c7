"""Whether the trusted set looks like the training set's features (private)."""

from __future__ import annotations

import numpy as np

from .._warn import warn_user

__all__ = ["TrustedSetWarning", "check_trusted_scale"]


class TrustedSetWarning(UserWarning):
    """The trusted set's features look like they are on another scale than ``X``'s.

    The usual cause is a :class:`~sklearn.pipeline.Pipeline` that hands the
    model the raw trusted set while ``X`` went through a scaler (see
    :func:`check_trusted_scale`); λ learned on such a set is meaningless.

    Examples
    --------
    Standardized training features next to a raw trusted set:

    >>> import warnings
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skpoison import HypergradRegularizedLR
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> X_scaled = StandardScaler().fit_transform(X[:100])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = HypergradRegularizedLR(inner_steps=20, outer_steps=2).fit(
    ...         X_scaled, y[:100], X_val=X[100:150], y_val=y[100:150])
    >>> [w.category.__name__ for w in caught]
    ['TrustedSetWarning']
    """


#: Fewer rows than this in either set, and the scale check does not judge.
_SCALE_CHECK_MIN_ROWS = 10
#: At most this many rows of each set enter the scale check (drawn at random
#: with a fixed seed): a heuristic needs no more, and a copy of a large X
#: would cost memory.
_SCALE_CHECK_MAX_ROWS = 2000
#: A column whose standard deviation is below this share of its mean's magnitude
#: is constant (rounding noise in its mean: a few ulps), not a varying feature.
_CONSTANT_BELOW = 1e-12
#: The factor by which the trusted set's typical feature may be wider than the
#: training set's, and the distance (in training standard deviations) its
#: mean may lie away, before the check warns.
_SCALE_CHECK_FACTOR = 4.0
#: The same for the features pooled (all variances summed): a far looser
#: bound, for sets whose typical feature is fine but whose large ones are not.
_SCALE_CHECK_POOLED_FACTOR = 100.0


def check_trusted_scale(X, X_val, *, name="X_val", sampler=False):
    """Warn when the trusted set looks unscaled (or otherwise rescaled) against ``X``.

    For every feature that varies in ``X``, the distance between the two
    sets' means in ``X``'s standard deviations, and the ratio of the trusted
    set's standard deviation to ``X``'s. A :class:`TrustedSetWarning` is
    issued when the median distance or the median ratio over the features
    exceeds ``_SCALE_CHECK_FACTOR`` (4). Medians, because a few features
    may legitimately differ a lot: a pixel almost always 0 in ``X`` that
    ``StandardScaler`` divides by a tiny deviation is far off in any trusted
    set that lights it. So that a majority of harmless features (one-hot
    columns, which scaling barely moves) cannot hide large raw ones, it also
    warns when the pooled distance or spread (over all features, in units of
    ``X``'s total standard deviation) exceeds ``_SCALE_CHECK_POOLED_FACTOR``
    (100; honest MNIST behind a ``StandardScaler`` reaches about 23 there).
    Sets of fewer than ``_SCALE_CHECK_MIN_ROWS`` (10) rows are not judged; at
    most ``_SCALE_CHECK_MAX_ROWS`` rows of each set, drawn at random with a
    fixed seed, are read.

    Honest trusted sets stay well inside, raw or standardized, even next to a
    training set with 20 % of its points poisoned onto the corners of the
    feature box (digits, MNIST, Fashion-MNIST, CIFAR-10 and the synthetic set,
    10 to 100 trusted points, 400 splits: median distance ≤ 0.5, ratio ≤ 1.2).
    Raw digits next to standardized training features give 5.5 and 4.2;
    next to min-max scaled ones 18 and 15, robust-scaled 12 and 6.3. Two
    limits of a heuristic: a set only narrower than ``X`` (pixels in [0, 1]
    against standardized ones) is not flagged, since a trusted set whose rare
    features happen to be constant is narrower too; and an honest set does get
    flagged behind a transform fitted to about as few rows as it has outputs
    (a whitening PCA keeping 99 % of the variance of 200 MNIST rows: ratios
    up to 17; a plain PCA fitted to as many rows as components, less often),
    whose unseen data is then indeed on another scale.

    ``sampler=True`` (the poisoners) names the usual cause for a sampler:
    imbalanced-learn hands it the raw ``X_val`` behind a transformer.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data
    >>> X_scaled = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1)
    >>> check_trusted_scale(X_scaled[:300], X_scaled[300:400])    # silent
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_trusted_scale(X_scaled[:300], X[300:400])       # the raw trusted set
    >>> caught[0].category.__name__
    'TrustedSetWarning'
    """
    if min(len(X), len(X_val)) < _SCALE_CHECK_MIN_ROWS:
        return
    # Features near float64's range overflow the squares (to inf, which the
    # medians below handle): the warning below then says what is wrong, not NumPy.
    with np.errstate(over="ignore", invalid="ignore"):
        _warn_if_unlike(X, X_val, name, sampler)


def check_trusted_scale_with(X_stats, X, X_val, *, name="X_val", sampler=False):
    """:func:`check_trusted_scale` with the column means and standard deviations
    of ``X``'s checked rows (:func:`checked_rows`) given, computed elsewhere (on
    a device, for ``K`` training sets at once); ``X`` itself is read only where
    they are not representable (squares beyond float64's range)."""
    if min(len(X), len(X_val)) < _SCALE_CHECK_MIN_ROWS:
        return
    mean, std = X_stats
    if not _representable(mean, std):
        check_trusted_scale(X, X_val, name=name, sampler=sampler)
        return
    with np.errstate(over="ignore", invalid="ignore"):
        warn_if_stats_unlike(mean, std, *_column_stats(_rows(X_val)), name, sampler)


def _warn_if_unlike(X, X_val, name, sampler):
    """:func:`check_trusted_scale`'s comparison and warning, once both sets are big enough."""
    X, X_val = _rows(X), _rows(X_val)
    (mean, std), (mean_val, spread) = _column_stats(X), _column_stats(X_val)
    if not _representable(mean, std):
        # X's squares beyond float64's range (features near 1e200, or near 1e-200,
        # whose deviations square to 0 and would pass for constant columns):
        # the statistics of both sets with X's largest magnitude scaled to about
        # 1, by a power of two (exactly: a constant column stays constant). A
        # trusted set far wider or narrower then overflows or vanishes, and warns.
        # (under check_trusted_scale's errstate: X_val's squares may overflow)
        _, exponent = np.frexp(np.max(np.abs(X)))
        if exponent:
            mean, std = _column_stats(np.ldexp(X, -exponent))
            mean_val, spread = _column_stats(np.ldexp(X_val, -exponent))
    warn_if_stats_unlike(mean, std, mean_val, spread, name, sampler)


def warn_if_stats_unlike(mean, std, mean_val, spread, name="X_val", sampler=False):
    """:func:`check_trusted_scale`'s verdict and warning from the two sets' column
    means and standard deviations (``X``'s representable: :func:`_representable`)."""
    # A column constant at c != 0 leaves a deviation of rounding noise (its mean
    # summed to c plus a few ulps: ~1e-15 |c|), which counted as a varying column
    # whose shift, in those units, was astronomic; which constant columns did
    # depended on the summation order.
    varying = (std > _CONSTANT_BELOW * np.abs(mean)) & np.isfinite(std)
    if not varying.any():
        return
    shift = np.abs(mean_val - mean)
    # Means equal but for their rounding (symmetric sets' 0s) lie 0 apart: their
    # difference of a few ulps depended on the summation order, as a distance of 1e-16.
    scale = np.maximum.reduce([np.abs(mean), std, np.abs(mean_val), spread])
    shift[shift <= _CONSTANT_BELOW * scale] = 0.0
    std, shift, spread = std[varying], shift[varying], spread[varying]
    distance, ratio = np.median(shift / std), np.median(spread / std)
    total = np.sqrt(np.sum(std ** 2))
    pooled = max(np.sqrt(np.sum(shift ** 2)), np.sqrt(np.sum(spread ** 2))) / total
    if (distance > _SCALE_CHECK_FACTOR or ratio > _SCALE_CHECK_FACTOR
            or pooled > _SCALE_CHECK_POOLED_FACTOR):
        warn_user(
            f"{name} does not look like it is on the scale of the training set X: its "
            f"features' means lie a median {distance:.3g} standard deviations of X away, "
            f"and their spreads are a median {ratio:.3g} times X's. The usual cause is "
            + (_SAMPLER_CAUSE if sampler else _ESTIMATOR_CAUSE)
            + "; a transform fitted to few rows (a PCA, whitening or not) does the same to "
            "honest data. λ learned on a set so unlike the training data may not mean much.",
            TrustedSetWarning)


_ESTIMATOR_CAUSE = ("a Pipeline that does not transform the trusted set (pass "
                    "Pipeline(..., transform_input=[\"X_val\"]) with metadata routing)")
_SAMPLER_CAUSE = ("a poisoner behind a transformer in an imbalanced-learn Pipeline, which "
                  "hands a sampler the raw X_val even with transform_input: put the "
                  "poisoner first, and scale X and X_val before the pipeline")


def _rows(X):
    """At most ``_SCALE_CHECK_MAX_ROWS`` rows of ``X`` drawn at random (a fixed
    seed: evenly spaced rows alias with periodic data), in float64."""
    rows = checked_rows(len(X))
    return np.asarray(X if rows is None else X[rows], dtype=np.float64)


def checked_rows(n_rows):
    """The rows of a set of ``n_rows`` that the check reads (sorted), None for all."""
    if n_rows <= _SCALE_CHECK_MAX_ROWS:
        return None
    return np.sort(np.random.default_rng(0).choice(n_rows, _SCALE_CHECK_MAX_ROWS,
                                                   replace=False))


def _representable(mean, std):
    """Whether ``X``'s column statistics are finite and not all below ~1e-100
    (features whose deviations square to 0 leave a deviation of 0, however
    the column varies)."""
    largest = max(float(np.max(std, initial=0.0)), float(np.max(np.abs(mean), initial=0.0)))
    return bool(np.isfinite(std).all()) and largest > 1e-100


def _column_stats(X):
    """The mean and standard deviation of every column of ``X`` (float64 rows).

    One centred copy of the rows, no more: the check runs in every fit and
    in the set-up of every attacked data set (``np.std`` after ``np.mean``
    would read the rows three times and copy them twice).
    """
    mean = X.mean(axis=0)
    squares = np.subtract(X, mean)
    np.multiply(squares, squares, out=squares)
    # (np.std's own sum, in its order: the same bits as X.std(axis=0))
    return mean, np.sqrt(np.add.reduce(squares, axis=0) / len(X))
