"""Shared machinery of the poisoners: the sampler protocol, input checks, results."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from .._constraints import NumberInterval, is_real_array
from .._torch_utils import make_generator
from .._warn import warn_user
from ..estimators._base import unfitted_on_error
from ..estimators._labels import encode_classes
from ..estimators._trusted_set import check_trusted_set
from ._compat import SamplerBase
from ._result import PoisoningResult
from ._schedule import draw_schedule, largest_batch, poison_counts

_SEED_MAX = 2**31 - 1


def check_ratios(ratios, *, warn=True):
    """Sorted, distinct poisoning ratios, each in ``[0, 1)``.

    A ratio given twice warns (unless ``warn`` is False): ``results_`` holds
    one result per distinct ratio, and a caller pairing it with ``ratios``
    item by item would pair them wrongly.

    Examples
    --------
    >>> check_ratios([0.2, 0.0, 0.1]).tolist()
    [0.0, 0.1, 0.2]
    """
    if not is_real_array(ratios):
        raise ValueError(f"ratios must be numbers in [0, 1) (no strings or bools); got "
                         f"{ratios!r}.")
    values = np.asarray(ratios, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"ratios must be a 1-d sequence of poisoning ratios; got an array of "
                         f"shape {values.shape}.")
    if values.size == 0:
        raise ValueError("ratios is empty; give at least one poisoning ratio in [0, 1).")
    bad = values[~((values >= 0) & (values < 1))]
    if bad.size:
        raise ValueError(f"ratios must lie in [0, 1) (a fraction of the training set); "
                         f"got {bad.tolist()}.")
    distinct, counts = np.unique(values, return_counts=True)
    if warn and distinct.size < values.size:
        warn_user(f"ratios {distinct[counts > 1].tolist()} are given more than once; the "
                  "attack runs each ratio once (results_: one result per distinct ratio, "
                  "ascending).")
    return distinct


def _is_pandas(data, kind):
    return type(data).__name__ == kind and type(data).__module__.startswith("pandas")


def _like_input(X_in, y_in, X_out, y_out):
    """``X_out, y_out`` as a DataFrame / Series where the input was one.

    As imbalanced-learn's samplers do, so that a pipeline's next step still
    sees the feature names. The features stay floating point (poisoning
    points are not integers); the labels keep the caller's dtype. When no row
    was added (``mode="replace"``: the poisoning points take the place of the
    rows they replace) the rows keep the input's index (``X``'s, which ``y``
    then shares, when both carry one), so that the output aligns with the
    input; added rows (``"inject"``) get a fresh range index, as
    imbalanced-learn's oversamplers give.
    """
    frame = _is_pandas(X_in, "DataFrame")
    series, y_frame = _is_pandas(y_in, "Series"), _is_pandas(y_in, "DataFrame")
    if not (frame or series or y_frame):
        return X_out, y_out
    import pandas as pd   # (only when the caller uses it: pandas is optional)

    source = X_in if frame else y_in
    index = source.index if len(X_out) == len(source) else None
    if frame:
        X_out = pd.DataFrame(X_out, columns=X_in.columns, index=index)
    if series or y_frame:   # (a one-column frame of labels comes back as one)
        column = y_in if series else y_in.iloc[:, 0]
        y_out = pd.Series(y_out, name=column.name, dtype=column.dtype,
                          index=X_out.index if frame else index)
        if y_frame:
            y_out = y_out.to_frame()
    return X_out, y_out


class BasePoisoner(SamplerBase):
    """A dataset-changing step: ``fit_resample`` returns a poisoned training set.

    Follows imbalanced-learn's sampler protocol: ``fit_resample`` validates its
    inputs and calls ``_fit_resample``, which subclasses implement and which
    returns the list of :class:`PoisoningResult`, one per ratio. The trusted
    validation set ``X_val, y_val`` is required metadata: both ``fit`` and
    ``fit_resample`` request it by default, so that with scikit-learn's
    metadata routing enabled ``imblearn.pipeline.Pipeline.fit(X, y, X_val=...,
    y_val=...)`` delivers it (imbalanced-learn 0.14 does not forward
    ``step__param`` fit parameters to ``fit_resample`` without routing).
    Put the poisoner first in a pipeline: imbalanced-learn passes a sampler
    the raw ``X_val`` even when ``transform_input`` transforms it for later
    steps. A DataFrame / Series input gives a DataFrame / Series output.
    """

    _sampling_type = "bypass"
    __metadata_request__fit = {"X_val": True, "y_val": True}
    __metadata_request__fit_resample = {"X_val": True, "y_val": True}

    _parameter_constraints: dict = {
        "ratios": ["array-like"],
        "batch_size": [NumberInterval(Integral, 1, None, closed="left")],
        "mode": [StrOptions({"replace", "inject"})],
        "label_strategy": [StrOptions({"random", "next"})],
        "reuse_validation": ["boolean"],
        "random_state": ["random_state"],
    }

    # -- the protocol ---------------------------------------------------------
    def fit(self, X, y, X_val=None, y_val=None):
        """Run the attack; the poisoned sets are in ``results_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Clean training set.
        y : array-like of shape (n_samples,)
        X_val : array-like of shape (n_val, n_features)
            The trusted validation set (required): poisoning points start as
            clones of its points and the attacker maximizes its loss.
        y_val : array-like of shape (n_val,)

        Returns
        -------
        self
        """
        self.fit_resample(X, y, X_val=X_val, y_val=y_val)
        return self

    def fit_resample(self, X, y, X_val=None, y_val=None):
        """Run the attack and return the training set poisoned at the largest ratio.

        Parameters
        ----------
        X, y, X_val, y_val
            As in :meth:`fit`.

        Returns
        -------
        X_poisoned : ndarray or DataFrame of shape (n_rows, n_features)
            A copy of ``results_[-1].X``; a DataFrame with ``X``'s columns
            when ``X`` is one (and its index, where no row was added).
        y_poisoned : ndarray or Series of shape (n_rows,), or DataFrame of shape (n_rows, 1)
            With the caller's label values; a Series when ``y`` is one, a
            one-column DataFrame when ``y`` is one.
        """
        with unfitted_on_error(self):
            self._validate_params()
            data = self._check_inputs(X, y, X_val, y_val)
            self.results_ = self._fit_resample(*data)
        last = self.results_[-1]
        # Copies: a later step that edits its input in place must not edit results_.
        return _like_input(X, y, last.X.copy(), last.y.copy())

    # -- checks ---------------------------------------------------------------
    def _check_inputs(self, X, y, X_val, y_val, *, check_scale=True):
        """Validate data and budgets; returns ``(X, y, y_enc, X_val, y_val_enc)``
        (``check_scale=False``: the caller checks the trusted set's scale)."""
        name = type(self).__name__
        if X_val is None or y_val is None:
            raise ValueError(
                f"{name} needs the trusted validation set: pass X_val and y_val to fit / "
                "fit_resample (in an imblearn Pipeline, enable scikit-learn's metadata "
                "routing and pass them to Pipeline.fit)."
            )
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, y_enc = encode_classes(y, name, labels="the training set")
        # (X_val keeps its own precision: a float64 trusted set beside float32
        # features is read at float64, as the estimators read it)
        X_val, y_val_enc = check_trusted_set(self, X, X_val, y_val, check_scale=check_scale,
                                             dtype=[np.float64, np.float32])
        self._read_box(X, X_val)
        return X, y, y_enc, X_val, y_val_enc

    def _read_box(self, X, X_val):
        """Subclasses with a feasible box read it (into ``self._box``, which their
        attacks use) and check the data lies in it."""

    def _make_schedule(self, n_train, y_val_enc):
        """Ratios, cumulative targets and the drawn :class:`Schedule`."""
        ratios = check_ratios(self.ratios)
        targets = poison_counts(ratios, n_train)
        empty = [float(r) for r, n in zip(ratios, targets) if r > 0 and n == 0]
        if empty:
            warn_user(f"ratios {empty} give no poisoning point for {n_train} training points "
                      "(round(ratio * n_train) == 0): their results are the clean model's.")
        same = [(float(r), float(ratios[i - 1]), int(n))
                for i, (r, n) in enumerate(zip(ratios, targets))
                if i and n > 0 and n == targets[i - 1]]
        if same:
            listed = ", ".join(f"{r} as {earlier} ({n})" for r, earlier, n in same)
            warn_user(f"Some ratios give as many poisoning points as the ratio before them for "
                      f"{n_train} training points: {listed}; their results are the same.")
        total, n_val = targets[-1], y_val_enc.shape[0]
        biggest = largest_batch(targets, self.batch_size)
        # (first: without reuse, a lower batch_size alone cannot help)
        if total > n_val and not self.reuse_validation:
            raise ValueError(
                f"The largest ratio needs {total} poisoning points but the validation set "
                f"has {n_val} to clone without duplicates; lower the ratios or set "
                "reuse_validation=True."
            )
        if biggest > n_val:
            raise ValueError(f"Batches of {biggest} poisoning points are larger than "
                             f"the validation set ({n_val} points) they are cloned from; "
                             "lower batch_size.")
        if self.mode == "replace" and total >= n_train:
            raise ValueError(f"Replacing {total} of {n_train} training points leaves no "
                             "clean point; lower the ratios, or add the points instead of "
                             "replacing (mode='inject'; the experiment sweeps replace).")
        rng = check_random_state(self.random_state)
        generator = make_generator(int(rng.randint(_SEED_MAX)), "cpu")
        schedule = draw_schedule(
            targets, self.batch_size, n_train, y_val_enc, self.classes_.size,
            mode=self.mode, label_strategy=self.label_strategy,
            reuse_validation=self.reuse_validation, generator=generator,
        )
        return ratios, schedule, rng

    # -- results --------------------------------------------------------------
    def _make_result(self, index, ratio, schedule, X, y, poison, log_lambda, val_loss,
                     loss_path, lambda_path):
        """The :class:`PoisoningResult` of ratio ``index`` (poison rows: numpy)."""
        n = schedule.targets[index]
        features = poison[:n].astype(X.dtype, copy=False)
        labels = self.classes_[schedule.labels[:n]]
        if self.mode == "replace":
            X_res, y_res = X.copy(), np.asarray(y).copy()
            rows = schedule.replace_index[:n]
            X_res[rows], y_res[rows] = features, labels
            mask = np.zeros(X.shape[0], dtype=bool)
            mask[rows] = True
        else:
            X_res = np.concatenate([X, features])
            y_res = np.concatenate([y, labels])
            mask = np.arange(X_res.shape[0]) >= X.shape[0]
        return PoisoningResult(float(ratio), int(n), X_res, y_res, mask, log_lambda,
                               float(val_loss), loss_path, lambda_path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
