"""Shared machinery of the hypergradient-regularized classifiers."""

from __future__ import annotations

from abc import abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._constraints import NumberInterval
from .._messages import shown
from .._progress import progress_bar
from .._torch_utils import to_numpy, to_tensor
from .._warn import warn_user
from ..hypergrad import METHODS, make_hypergradient, train
from ..models import PENALTIES
from ._labels import encode_classes, encode_targets, refuse_missing_labels
from ._log_lambda import initial_lambda, warn_if_lambda_stays
from ._outer import OUTER_OPTIMIZERS, LambdaOptimizer, ValidationPlateau
from ._pruning import full_lambda, full_weights, pruned_lambda, pruned_setup
from ._settings import check_settings
from ._setup import build_setup, proximal_steps, warn_if_auto_rate_is_too_small
from ._trusted_set import check_trusted_set
from ._warnings import engine_warnings_once
from ._warnings import issue as issue_warning

__all__ = ["BaseHypergradClassifier", "unfitted_on_error", "warn_if_lambda_never_moved"]


@contextmanager
def unfitted_on_error(estimator):
    """Remove ``estimator``'s fitted attributes if the block raises (any exception).

    A failed (re)fit, an interrupted one included, must not leave the
    estimator looking fitted, with attributes of an earlier fit or half of
    this one's. Fitted attributes are scikit-learn's: public names ending in
    ``_``.
    """
    try:
        yield
    except BaseException:
        for name in [k for k in vars(estimator) if k.endswith("_") and not k.startswith("_")]:
            delattr(estimator, name)
        raise


def _columns(X, kept, tensor):
    """``X``'s ``kept`` columns (None: all) as a tensor with ``tensor``'s device and dtype."""
    return to_tensor(X if kept is None else X[:, kept], **tensor)


def warn_if_lambda_never_moved(lambda_path, low, high, method,
                               consequence="lambda_ is where it started, not a learned value",
                               during=None):
    """Warn when no outer step changed λ, though some of it started inside its bounds.

    Every hypergradient was then 0 (or too small to change λ): an implicit
    method's solve that made no step on a network's indefinite Hessian
    returns exactly 0 (with a ``HessianSolveWarning``), and the fit came back
    with ``lambda_ == lambda_init``, which reads as a learned value. λ held at
    a bound, or at -inf (warned of before the loop), is no such case.
    ``consequence`` says what that means for the caller's result, ``during``
    the steps λ had (default: ``"<n> outer steps"``, the path's after its start).
    """
    start = lambda_path[0]
    during = f"{len(lambda_path) - 1} outer steps" if during is None else during
    inside = np.isfinite(start) & (start > low) & (start < high)
    if len(lambda_path) < 2 or not inside.any() or not (lambda_path[1:] == start).all():
        return
    advice = (" An implicit method's hypergradient is exactly 0 where its solve makes no "
              "step (a network's indefinite Hessian: a HessianSolveWarning says so); "
              "hypergrad='rmd' differentiates the steps taken." if method in ("cg", "exact")
              else " The trained model barely depends on λ here (inner steps too few or "
              "too small: one step from zero weights ignores the penalty), or the "
              "trusted loss is flat in λ.")
    values = shown(start[0] if start.size == 1 else start)
    issue_warning(f"λ never moved from its start ({values}) in {during}: "
                  f"every hypergradient was 0, or too small to change λ, so {consequence}."
                  f"{advice}", ConvergenceWarning)


def _warn_no_plateau(tol, n_iter_no_change, outer_steps):
    """Warn that ``outer_steps`` ran out before the stopping rule of a ``tol`` stopped."""
    if outer_steps <= n_iter_no_change:
        # The first step always improves on no loss at all: no plateau could be seen.
        why = (f"outer_steps={outer_steps} are too few for the rule to stop at all: it "
               f"stops after n_iter_no_change={n_iter_no_change} steps without a gain "
               "that follow a first step; raise outer_steps (or lower n_iter_no_change)")
    else:
        why = (f"the validation loss still improved by more than tol={tol:g} within the "
               f"last n_iter_no_change={n_iter_no_change} of outer_steps={outer_steps} "
               "steps on λ; raise outer_steps (or tol)")
    warn_user(f"The descent on λ reached no plateau: {why} to learn λ to a plateau.",
              ConvergenceWarning)


class BaseHypergradClassifier(ClassifierMixin, BaseEstimator):
    """Classifier whose ``fit`` learns its regularization on a trusted set.

    Subclasses define the model (:meth:`_make_problem`), how to choose
    ``inner_lr="auto"``, how the fitted parameters are stored
    (:meth:`_store_params`) and scored (:meth:`decision_function`);
    everything else (validation, the outer loop of projected hypergradient
    descent on λ, the final fit, prediction from the scores) is here.
    """

    _parameter_constraints: dict = {
        "penalty": [StrOptions(set(PENALTIES))],
        "lambda_init": [Real, "array-like"],
        "lambda_bounds": ["array-like"],
        "hypergrad": [StrOptions(set(METHODS))],
        "checkpoint_every": [None, NumberInterval(Integral, 1, None, closed="left"),
                             StrOptions({"sqrt", "cbrt"}), tuple, list],
        "inner_steps": [NumberInterval(Integral, 1, None, closed="left")],
        "inner_lr": [NumberInterval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "outer_steps": [NumberInterval(Integral, 0, None, closed="left")],
        "outer_lr": [NumberInterval(Real, 0, None, closed="neither")],
        "outer_optimizer": [StrOptions(set(OUTER_OPTIMIZERS))],
        "tol": [NumberInterval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [NumberInterval(Integral, 1, None, closed="left")],
        "final_steps": [NumberInterval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [NumberInterval(Real, 0, 1, closed="neither")],
        "device": [str, torch.device],
        "dtype": [StrOptions({"float64", "float32"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    @abstractmethod
    def _make_problem(self, n_features, n_outputs, device):
        """The engine's inner problem for this estimator's settings."""

    #: Whether ``_auto_inner_lr`` reads ``[X, 1]``'s squared spectral norm (which
    #: ``fit_batched`` then computes for its ``K`` data sets at once).
    _auto_rate_reads_spectral_norm = False

    @abstractmethod
    def _auto_inner_lr(self, X, n_outputs, max_alpha, squared_norm=None):
        """Step size for ``inner_lr="auto"`` from the training features (a host
        array), stable for penalties up to ``max_alpha``; ``squared_norm``:
        ``X``'s :func:`squared_spectral_norm` if known."""

    @abstractmethod
    def _store_params(self, problem, w):
        """Turn the flat parameter tensor into the fitted (numpy) attributes."""

    # -- fit ------------------------------------------------------------------
    def fit(self, X, y, X_val=None, y_val=None):
        """Learn λ on the trusted set, then fit the model with it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels (any values scikit-learn accepts; 2 classes or more).
        X_val, y_val : array-like, optional
            The trusted validation set on which λ is learned. Without it a
            stratified ``validation_fraction`` of ``X`` is held out to learn λ
            and the final model is then trained on all of ``X`` (with
            ``outer_steps=0`` none is: there is no λ to learn). In a
            :class:`~sklearn.pipeline.Pipeline` it must pass through the
            preceding transformers like ``X`` (``transform_input=["X_val"]``
            with metadata routing): ``clf__X_val=`` hands the model raw features.

        Returns
        -------
        self
        """
        with unfitted_on_error(self):
            return self._fit(X, y, X_val, y_val)

    def _fit(self, X, y, X_val, y_val):
        low, high = check_settings(self)
        refuse_missing_labels(y, "y")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, y_encoded = encode_classes(y, type(self).__name__)
        learns = self.outer_steps > 0
        internal_split = X_val is None and learns
        if X_val is None and y_val is None and not learns:
            # No λ to learn, so no trusted set to hold out: a fixed-λ fit on all of X,
            # whatever random_state (its inner_lr="auto" is all of X's).
            X_fit, y_fit = X, y_encoded
        else:
            X_fit, y_fit, X_val, y_val_encoded = self._training_and_trusted_sets(
                X, y_encoded, X_val, y_val)

        n_classes = self.classes_.size
        setup = build_setup(self, X_fit, n_classes)
        if internal_split and self.inner_lr == "auto":
            # The final fit trains on all of X: the rate must be stable there too.
            on_all = build_setup(self, X, n_classes, check_scales=False)
            setup = setup._replace(lr=min(setup.lr, on_all.lr))
        tensor = dict(device=setup.device, dtype=setup.dtype)
        log_lambda = initial_lambda(self.lambda_init, setup.problem.n_hyper, low, high, **tensor)
        warn_if_lambda_stays(log_lambda, self.outer_steps,
                             "set outer_steps=0 to train without regularization")
        # Linear models skip the all-zero columns: the same model (_pruning.py), sooner.
        kept = self._kept_columns(X_fit)
        X_t, Y_t = _columns(X_fit, kept, tensor), encode_targets(y_fit, n_classes, **tensor)
        lambda_path, loss_path = [log_lambda], []
        if learns:
            lambda_path, loss_path = self._learn_lambda(
                pruned_setup(self, setup, kept),
                pruned_lambda(log_lambda, kept, self.lambda_mode), (low, high), X_t, Y_t,
                _columns(X_val, kept, tensor), encode_targets(y_val_encoded, n_classes, **tensor))
            lambda_path = [full_lambda(lam, kept, log_lambda, self.lambda_mode)
                           for lam in lambda_path]
        log_lambda = lambda_path[-1]
        learned = to_numpy(log_lambda)
        if self.inner_lr == "auto" and not proximal_steps(self):   # (λ-free rate: 1 / L)
            warn_if_auto_rate_is_too_small(setup.lr, high, learned)

        if internal_split:   # (the final model trains on all of X: its own columns)
            kept = self._kept_columns(X)
            X_t, Y_t = _columns(X, kept, tensor), encode_targets(y_encoded, n_classes, **tensor)
        final_steps = setup.steps if self.final_steps is None else self.final_steps
        final = pruned_setup(self, setup, kept)
        w = train(final.problem, final.w0, pruned_lambda(log_lambda, kept, self.lambda_mode),
                  X_t, Y_t, steps=final_steps, lr=setup.lr)
        w = full_weights(w, kept, setup.problem.n_outputs)

        self.lambda_ = learned
        self.alpha_ = np.exp(self.lambda_)
        self.lambda_path_ = to_numpy(torch.stack(lambda_path))
        warn_if_lambda_never_moved(self.lambda_path_, low, high, self.hypergrad)
        self.val_loss_path_ = (to_numpy(torch.stack(loss_path)).astype(np.float64) if loss_path
                               else np.empty(0))
        self.inner_lr_ = setup.lr
        self.n_iter_ = len(loss_path)
        self._store_params(setup.problem, w)
        return self

    def _training_and_trusted_sets(self, X, y_encoded, X_val, y_val):
        """``(X_fit, y_fit, X_val, y_val_encoded)``: the sets λ is learned on.

        The given trusted set, checked, or one held out of ``X`` (then
        ``X_fit`` is the rest of ``X``).
        """
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together (the trusted set).")
        if X_val is None:
            X_fit, X_val, y_fit, y_val_encoded = self._internal_split(X, y_encoded)
            return X_fit, y_fit, X_val, y_val_encoded
        X_val, y_val_encoded = check_trusted_set(self, X, X_val, y_val,
                                                 dtype=[np.float64, np.float32])
        return X, y_encoded, X_val, y_val_encoded

    def _kept_columns(self, X):
        """The columns a fit trains on: None, all of them (linear models prune zeros)."""
        return None

    def _learn_lambda(self, setup, log_lambda, bounds, X_t, Y_t, X_val_t, Y_val_t):
        """The outer loop: up to ``outer_steps`` projected steps on λ from ``log_lambda``.

        Returns the λ path (one entry per step taken, and the start first; the
        last is the learned λ) and the validation losses (one per step, before
        its update). With a ``tol`` the loop stops at a plateau of the
        validation loss (:class:`ValidationPlateau`), and warns if it never
        reaches one.
        """
        optimizer = LambdaOptimizer(self.outer_optimizer, self.outer_lr, bounds)
        plateau = (None if self.tol is None
                   else ValidationPlateau(self.tol, self.n_iter_no_change))
        lambda_path, loss_path = [log_lambda], []
        steps = progress_bar(range(self.outer_steps), disable=not self.verbose,
                             desc=f"{type(self).__name__}: learning lambda")
        # One callable for the whole loop: on a GPU, reverse mode replays a CUDA graph.
        hypergradient = make_hypergradient(setup.problem, method=self.hypergrad,
                                           steps=setup.steps, lr=setup.lr,
                                           checkpoint_every=self.checkpoint_every)
        # An implicit method's warning (inner problem not converged, say) holds for
        # every step: issued once for the fit, then counted.
        at_plateau = False
        with engine_warnings_once("fit"), steps:
            for _ in steps:
                result = hypergradient(setup.w0, log_lambda, X_t, Y_t, X_val_t, Y_val_t)
                log_lambda = optimizer.step(log_lambda, result.grad_log_lambda)
                lambda_path.append(log_lambda)
                loss_path.append(result.val_loss)
                # (a plateau reads the loss on the host: one sync per step, with a tol only)
                at_plateau = plateau is not None and plateau.update(float(result.val_loss))
                if at_plateau:
                    break
        if plateau is not None and not at_plateau:   # (called with outer_steps > 0)
            _warn_no_plateau(self.tol, self.n_iter_no_change, self.outer_steps)
        return lambda_path, loss_path

    def _internal_split(self, X, y_encoded):
        counts = np.bincount(y_encoded)
        stratify = y_encoded if counts.min() >= 2 else None
        n_val = int(np.ceil(self.validation_fraction * len(X)))
        if n_val >= len(X):
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no training samples "
                f"out of {len(X)}; pass X_val/y_val or lower validation_fraction."
            )
        if stratify is not None:
            try:
                parts = train_test_split(X, y_encoded, test_size=n_val, stratify=stratify,
                                         random_state=self.random_state)
            except ValueError:  # fewer held-out (or kept) samples than classes
                pass
            else:
                # (classes_: fit sets them first; the encoded labels for a bare call)
                classes = getattr(self, "classes_", np.arange(counts.size))
                self._warn_if_a_part_lacks_a_class(parts[2:], classes, n_val)
                return parts
        warn_user(
            f"The split of X into a training part and a trusted set (validation_fraction="
            f"{self.validation_fraction}) cannot keep every class's share: "
            f"{len(X) - n_val} training and {n_val} held-out samples, the smallest class "
            f"has {counts.min()}. It is drawn at random, so a class may be missing from "
            "the part λ is learned on; pass a trusted set (X_val, y_val) for data this small.")
        return train_test_split(X, y_encoded, test_size=n_val, random_state=self.random_state)

    def _warn_if_a_part_lacks_a_class(self, labels, classes, n_val):
        """Warn where a stratified split left a class out of a part (its share rounds to 0
        rows: 2 samples of 52 in a trusted set of 11), as a random split may."""
        for part, encoded, consequence in zip(
                ("training part", "trusted set"), labels,
                ("the models λ is learned for never see it", "λ is learned without it")):
            missing = np.setdiff1d(np.arange(classes.size), encoded)
            if missing.size:
                warn_user(
                    f"The stratified split of X into a training part and a trusted set "
                    f"({n_val} of {sum(map(len, labels))} samples; validation_fraction="
                    f"{self.validation_fraction}) leaves no sample of class "
                    f"{', '.join(map(repr, classes[missing].tolist()))} in the "
                    f"{part}: its share rounds to 0, so {consequence}. Pass a trusted set "
                    "(X_val, y_val) with every class, or change validation_fraction.")

    # -- predict --------------------------------------------------------------
    @abstractmethod
    def decision_function(self, X):
        """Decision scores, raveled for binary problems (each model documents its own)."""

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to 1.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([expit(-scores), expit(scores)])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([log_expit(-scores), log_expit(scores)])
        return log_softmax(scores, axis=1)

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Values of ``classes_``.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _validate_for_predict(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.non_deterministic = False
        return tags
