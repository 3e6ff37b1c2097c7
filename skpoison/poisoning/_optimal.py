"""OptimalPoisoner: the hyperparameter-aware optimal poisoning attack."""

from __future__ import annotations

import os
from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._constraints import NumberInterval
from .._torch_utils import to_numpy, to_tensor, torch_seed
from .._warn import warn_user
from ..estimators._base import BaseHypergradClassifier
from ..estimators._labels import encode_targets
from ..estimators._log_lambda import (
    check_log_lambda,
    initial_lambda,
    lambda_vector,
    warn_if_lambda_stays,
)
from ..estimators._outer import OUTER_OPTIMIZERS
from ..estimators._settings import check_settings
from ..estimators._setup import build_setup, check_rate_with_poison
from ._attack import (AttackConfig, WeightDraws, warn_if_defender_stayed,
                      warn_if_lambda_steps_unused)
from ._base import _SEED_MAX, BasePoisoner
from ._cumulative import run_cumulative_attack
from ._feature_box import feature_box
from ._result import PoisoningResult
from ._resume import ResumeFile, attack_fingerprint, check_resume_path


class OptimalPoisoner(BasePoisoner):
    """Optimal poisoning against a model whose regularization is learned (Alg. 2).

    The attack of Carnerero-Cano et al. (2023): batches of poisoning points
    start as clones of trusted validation points with flipped labels and
    replace randomly chosen training points (or are appended). For
    ``outer_steps`` the attacker moves their features by projected
    hypergradient *ascent* on the validation loss, ``X_p <- clip(X_p +
    poison_lr * g_X / ||g_X||, feature_range)``, while the defender re-learns λ
    by projected hypergradient *descent*, exactly as the estimator's ``fit``
    learns it (its ``outer_optimizer`` and ``outer_lr`` unless ``lambda_step``
    / ``lambda_lr`` say otherwise; ``hyperparams="learn"``, the minimax of
    Eq. 3), or λ stays
    fixed (``"fixed"``, the classic attack). Batches are cumulative: once a
    batch is optimized it is frozen, λ is re-initialized and the next batch
    starts, until each ratio in ``ratios`` is reached.

    The victim ``estimator`` (an unfitted :class:`~skpoison.HypergradRegularizedLR`
    or :class:`~skpoison.HypergradMLP`) defines the model, the penalty and
    λ grouping, the inner solver (``inner_steps``, ``inner_lr``; ``"auto"`` is
    computed once from the clean training set and the estimator's
    ``lambda_bounds``, as the estimator itself would, and is kept stable for a
    ``fixed_lambda`` above them), the hypergradient
    method, ``lambda_bounds`` and ``lambda_init``. The defender re-learns λ
    with this attack's ``outer_steps``, ``lambda_step`` and ``lambda_lr``
    (defaults: the estimator's ``outer_optimizer`` and ``outer_lr``); the
    estimator's own ``outer_steps``, ``final_steps`` and stopping rule
    (``tol``, ``n_iter_no_change``) play no part. Its
    ``hypergrad`` sets the cost: forward mode (``"fmd"``) carries one tangent
    per poisoning feature and hyperparameter, about 70 times reverse mode's
    time on a 100 x 64 digits attack.

    Parameters
    ----------
    estimator : HypergradRegularizedLR or HypergradMLP
        The victim (not fitted; cloned).
    ratios : array-like of float, default=(0.04, 0.08, 0.12, 0.16, 0.2)
        Poisoning ratios in ``[0, 1)``; ratio ``r`` means ``round(r * n_train)``
        poisoning points (Python's rounding, half to even: 0.05 of 250 rows
        is 12 points). A ratio with no point (0) reports λ learned on the
        clean data (``"learn"``: λ-only outer steps) or the fixed λ.
    batch_size : int, default=20
        Poisoning points optimized together. The points between two ratios
        are split into equal batches of at most ``batch_size``.
    hyperparams : {"learn", "fixed"}, default="learn"
    fixed_lambda : float, array-like of shape (n_lambdas,) or None, default=None
        λ of the ``"fixed"`` attack (``-np.inf``: no regularization). A
        given value is not projected on ``lambda_bounds``; None takes the
        estimator's ``lambda_init``, projected on its ``lambda_bounds`` as
        its ``fit`` does.
    mode : {"replace", "inject"}, default="replace"
        Poisoning points replace random clean training points (the paper) or
        are appended to the training set.
    feature_range : (low, high), default=(0.0, 1.0)
        The feasible box: a pair (tuple, list or array) of floats or of
        arrays of shape (n_features,). The data must lie inside it, up to
        four rounding errors (``MinMaxScaler``'s output may exceed 1 by one).
        A box far wider than the data lets the points grow past what the
        victim's ``inner_lr="auto"``, chosen on the clean set, keeps stable:
        ``fit`` then warns (checked on the largest poisoned set).
    outer_steps : int, default=20
        Hypergradient steps per batch.
    poison_lr : float, default=0.5
        Euclidean length of a poisoning point's step before projection
        (``normalize="point"``), or of the whole batch's step (``"batch"``).
    lambda_lr : float or None, default=None
        Step size of the descent on λ; None: the estimator's ``outer_lr``
        (with ``hyperparams="fixed"``: ignored, with a warning, as ``lambda_step``).
    normalize : {"point", "batch"}, default="point"
        ``g_X / ||g_X||`` with the norm of each poisoning point's own gradient
        row (every point moves ``poison_lr``) or of the whole batch's gradient
        (one reading of the paper's "normalized with respect to their norm";
        points with small gradients then barely move).
    lambda_step : {"adam", "gd", "sign"} or None, default=None
        How the defender steps on λ (see ``outer_optimizer`` of the
        estimators); None: the estimator's ``outer_optimizer``, so the
        attacker models the defender's own learning rule.
    label_strategy : {"random", "next"}, default="random"
        Multiclass label flipping: a uniformly drawn other class, or the next
        class in ``classes_``' sorted order (the last wraps round to the
        first). Binary problems always take the other class.
    reinit_each_step : bool, default=False
        Draw fresh initial weights for every outer step (networks: the
        paper's ensemble over initializations); no effect on linear models.
        The evaluation that ends each batch (the last entry of its part of
        ``val_loss_path``, and a result's ``val_loss``) uses the estimator's
        own initial weights, as the victim does; λ on the clean data is then
        learned over fresh draws, not exactly as the estimator's ``fit``
        learns it.
    reuse_validation : bool, default=False
        When the attack needs more points than the validation set holds,
        clone its points again (never twice in one batch) instead of failing.
    random_state : int, RandomState instance or None, default=None
        Draws the cloned points, replaced rows, flipped labels and re-drawn
        initializations; also seeds the victim's initial weights when the
        estimator's own ``random_state`` is None.
    device : {"cpu", "cuda", "cuda:N", "auto"} or None, default=None
        Where the attack runs; None: the estimator's ``device``.
    dtype : {"float64", "float32"} or None, default=None
        None: the estimator's ``dtype``.
    verbose : int, default=0
        Progress bars over batches and outer steps.
    resume_file : path-like or None, default=None
        Save the attack's state to this file after a batch (at most once a
        second), so that an interrupted ``fit`` (Ctrl-C, a crash) run again
        with the same data and settings resumes after the last saved batch,
        with the same results as an uninterrupted run. A file left by another attack
        (other data, parameters, device or versions) is started over with a
        warning; a file that is no attack's resume file is refused (a
        ``ValueError``, before the attack starts), not overwritten; the file
        is removed when the attack ends. Needs an int
        ``random_state`` (and the estimator's None or an int);
        :func:`fit_batched` takes none. An existing folder holds one file
        per attack, named by its data and settings (``attack-<hash>.pt``):
        use one where the poisoner is cloned into several attacks (the
        folds of ``cross_validate`` or a grid search), which would
        otherwise share, and keep restarting, one file; an interrupted
        attack's file stays there until that attack is run again.

    Attributes
    ----------
    results_ : list of PoisoningResult
        One per ratio, ascending. ``val_loss_path`` / ``lambda_path`` list
        every evaluation of the attack up to that ratio: for each batch (and
        the clean λ-only phase) its ``outer_steps`` hypergradient evaluations
        (at the state *before* each update) followed by the evaluation of its
        final state (the fixed-λ clean phase has only the latter).
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    inner_lr_ : float
        The inner step size used.
    victim_ : HypergradRegularizedLR or HypergradMLP
        The estimator as the attack trained it (unfitted): the attack's
        ``device`` and ``dtype``, and the ``random_state`` it drew for the
        initial weights when the estimator's was None. :meth:`victim_for`
        sets it up to train the model the attack evaluated for one ratio.

    See Also
    --------
    fit_batched : the same attack on ``K`` data sets as one batched computation.
    LabelFlipPoisoner : the attack's starting points alone, as a baseline.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skpoison import HypergradRegularizedLR, OptimalPoisoner
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> X = X / 16
    >>> attack = OptimalPoisoner(HypergradRegularizedLR(inner_steps=30), ratios=(0, 0.05),
    ...                          outer_steps=5, random_state=0)
    >>> X_p, y_p = attack.fit_resample(X[:200], y[:200], X_val=X[200:250], y_val=y[200:250])
    >>> X_p.shape, int(attack.results_[-1].poison_mask.sum())
    ((200, 64), 10)
    >>> bool((X_p >= 0).all() and (X_p <= 1).all())
    True
    """

    _parameter_constraints: dict = {
        **BasePoisoner._parameter_constraints,
        "estimator": [BaseHypergradClassifier],
        "hyperparams": [StrOptions({"learn", "fixed"})],
        "fixed_lambda": [Real, "array-like", None],
        "feature_range": [tuple, list, np.ndarray],
        "outer_steps": [NumberInterval(Integral, 0, None, closed="left")],
        "poison_lr": [NumberInterval(Real, 0, None, closed="neither")],
        "lambda_lr": [NumberInterval(Real, 0, None, closed="neither"), None],
        "normalize": [StrOptions({"point", "batch"})],
        "lambda_step": [StrOptions(set(OUTER_OPTIMIZERS)), None],
        "reinit_each_step": ["boolean"],
        "device": [str, torch.device, None],
        "dtype": [StrOptions({"float64", "float32"}), None],
        "verbose": ["verbose"],
        "resume_file": [str, os.PathLike, None],
    }

    def __init__(self, estimator, *, ratios=(0.04, 0.08, 0.12, 0.16, 0.2), batch_size=20,
                 hyperparams="learn", fixed_lambda=None, mode="replace",
                 feature_range=(0.0, 1.0), outer_steps=20, poison_lr=0.5, lambda_lr=None,
                 normalize="point", lambda_step=None, label_strategy="random",
                 reinit_each_step=False, reuse_validation=False, random_state=None,
                 device=None, dtype=None, verbose=0, resume_file=None):
        self.estimator = estimator
        self.ratios = ratios
        self.batch_size = batch_size
        self.hyperparams = hyperparams
        self.fixed_lambda = fixed_lambda
        self.mode = mode
        self.feature_range = feature_range
        self.outer_steps = outer_steps
        self.poison_lr = poison_lr
        self.lambda_lr = lambda_lr
        self.normalize = normalize
        self.lambda_step = lambda_step
        self.label_strategy = label_strategy
        self.reinit_each_step = reinit_each_step
        self.reuse_validation = reuse_validation
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.resume_file = resume_file

    def _read_box(self, X, X_val):
        self._box = feature_box(self.feature_range, X, X_val)

    def _fit_resample(self, X, y, y_enc, X_val, y_val_enc):
        if self.resume_file is not None:
            self._check_resumable()
        plan = self._plan_attack(X, y_enc, X_val, y_val_enc)
        resume = None
        if self.resume_file is not None:
            fingerprint = attack_fingerprint(self, (X, y_enc, X_val, y_val_enc), plan.X.device,
                                             self._box)
            path = Path(self.resume_file)
            if path.is_dir():    # (one file per attack: the folds of a cross-validation)
                path = path / f"attack-{fingerprint[:20]}.pt"
            resume = ResumeFile(path, fingerprint)
        poison, states, losses, lambdas = run_cumulative_attack(
            plan.config, plan.schedule, plan.X, plan.Y, plan.X_poison, plan.Y_poison,
            plan.lambda0, learn=plan.learn, mode=self.mode, verbose=self.verbose,
            resume=resume,
        )
        results = self._collect(plan, X, y, poison, states, losses, lambdas)
        if resume is not None and not self._keep_resume_file:
            resume.remove()
        return results

    #: Whether ``fit`` leaves its ``resume_file`` behind when it ends: the sweeps
    #: remove it themselves once the cell's results are stored, so that no
    #: interruption between the attack's end and that write loses the attack.
    _keep_resume_file = False

    def _check_resumable(self):
        """A resumed attack must draw what the interrupted one drew: int seeds; and its
        file must be writable where it is named (found now, not at the first save)."""
        check_resume_path(self.resume_file)
        for owner, seed, may_be_none in (("random_state", self.random_state, False),
                                         ("the estimator's random_state",
                                          self.estimator.random_state, True)):
            if (seed is None and may_be_none) or (
                    isinstance(seed, Integral) and not isinstance(seed, bool)):
                continue
            raise ValueError(f"resume_file needs {owner} to be an int (a resumed attack "
                             f"must draw what the interrupted one drew); got {seed!r}.")

    def _validate_params(self):
        # (scikit-learn's own message names the private base class)
        if not isinstance(self.estimator, BaseHypergradClassifier):
            raise InvalidParameterError(
                "The 'estimator' parameter of OptimalPoisoner must be a "
                "HypergradRegularizedLR or a HypergradMLP, whose training the attack "
                "differentiates (a Pipeline is not one: scale the data before the attack). "
                f"Got {self.estimator!r} instead.")
        super()._validate_params()

    def victim_for(self, result=-1):
        """The model the attack evaluated for one ratio, unfitted.

        :attr:`victim_` set to train, without learning λ, with the ratio's
        final λ: ``lambda_init=result.log_lambda``, ``outer_steps=0``,
        ``inner_lr=inner_lr_``, ``final_steps=None`` (the attack's
        ``inner_steps``), and ``lambda_bounds`` opened to
        ``(-inf, max(upper bound, λ))`` so that ``fit`` does not clip a fixed
        λ outside them (``fixed_lambda=-np.inf``, no regularization,
        included). Fitted on ``result.X, result.y`` it is the model whose
        trusted-set loss is ``result.val_loss`` (to rounding: ~1e-10 for
        float32 features, which ``result.X`` holds rounded from the attack's
        float64 points). Re-learning λ on the poisoned
        set (the estimator's own ``fit``) is another model: it starts from
        ``lambda_init`` again, while the attack's defender moved λ step by
        step as the points moved.

        Parameters
        ----------
        result : PoisoningResult or int, default=-1
            One of :attr:`results_`, or its index (-1: the largest ratio).

        Returns
        -------
        estimator : HypergradRegularizedLR or HypergradMLP
            Unfitted.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.metrics import log_loss
        >>> from skpoison import HypergradRegularizedLR, OptimalPoisoner
        >>> X, y = load_digits(n_class=2, return_X_y=True)
        >>> X = X / 16
        >>> attack = OptimalPoisoner(HypergradRegularizedLR(inner_steps=30), ratios=(0.05,),
        ...                          outer_steps=3, random_state=0)
        >>> attack = attack.fit(X[:200], y[:200], X_val=X[200:250], y_val=y[200:250])
        >>> result = attack.results_[-1]
        >>> model = attack.victim_for(result).fit(result.X, result.y, X[200:250], y[200:250])
        >>> bool(abs(log_loss(y[200:250], model.predict_proba(X[200:250]))
        ...          - result.val_loss) < 1e-12)
        True
        """
        check_is_fitted(self, "results_")
        if isinstance(result, PoisoningResult):
            if not any(result is mine for mine in self.results_):
                raise ValueError("result is not one of this attack's results_.")
        elif isinstance(result, Integral) and not isinstance(result, bool):
            if not -len(self.results_) <= result < len(self.results_):
                raise IndexError(f"result={result} is out of range for the "
                                 f"{len(self.results_)} results_.")
            result = self.results_[result]
        else:
            raise TypeError("result must be one of results_ or its index; got "
                            f"{type(result).__name__}.")
        log_lambda = np.array(result.log_lambda, dtype=float)   # (a copy: results_ stay)
        high = max(float(self.victim_.lambda_bounds[1]), float(np.max(log_lambda)))
        return clone(self.victim_).set_params(
            lambda_init=log_lambda, outer_steps=0, inner_lr=self.inner_lr_,
            final_steps=None, lambda_bounds=(-np.inf, high))

    def _attack_device(self):
        """The device the attack runs on: the poisoner's ``device``, else its estimator's."""
        return self.estimator.device if self.device is None else self.device

    def _attack_dtype(self):
        """The dtype the attack runs in: the poisoner's ``dtype``, else its estimator's."""
        return self.estimator.dtype if self.dtype is None else self.dtype

    def _victim(self, rng):
        """The estimator as the attack trains it, and its ``lambda_bounds`` as ``(low,
        high)``: a checked clone, with the attack's device and dtype, and a seed drawn
        from ``rng`` for initial weights it leaves to chance (so that the attack is
        reproducible)."""
        estimator = clone(self.estimator)
        overrides = {k: v for k, v in (("device", self.device), ("dtype", self.dtype))
                     if v is not None}
        estimator.set_params(**overrides)
        bounds = check_settings(estimator)
        if estimator.random_state is None:
            estimator.set_params(random_state=int(rng.randint(_SEED_MAX)))
        elif isinstance(estimator.random_state, np.random.RandomState):
            # The seed that state gives make_generator, fixed now: the clone's copy
            # moved on when the attack drew from it, and victim_ / victim_for()
            # then drew other initial weights than the attacked network's.
            estimator.set_params(random_state=torch_seed(estimator.random_state))
        return estimator, bounds

    def _attacked_lambda(self, dtype):
        """``(learn, fixed)``: whether the defender learns λ, else the fixed λ (checked;
        None: the estimator's ``lambda_init``)."""
        learn = self.hyperparams == "learn"
        if learn and self.fixed_lambda is not None:
            warn_user("fixed_lambda is ignored with hyperparams='learn' (λ starts at the "
                      "estimator's lambda_init and is learned); set hyperparams='fixed' to "
                      "attack a fixed λ.")
        if not learn:
            warn_if_lambda_steps_unused(lambda_lr=self.lambda_lr, lambda_step=self.lambda_step)
        if learn or self.fixed_lambda is None:
            return learn, None
        return learn, check_log_lambda(self.fixed_lambda, "fixed_lambda", dtype=dtype)

    def _plan_attack(self, X, y_enc, X_val, y_val_enc, *, squared_norm=None,
                     check_scales=True, X_on_device=None):
        """Everything the attack loop needs, as tensors on the attack's device
        (``squared_norm``: ``X``'s spectral norm squared, if known, for
        ``inner_lr="auto"``; ``check_scales=False``: the caller checks the
        features' scales; ``X_on_device``: ``X`` on that device in the attack's
        dtype, if there already)."""
        ratios, schedule, rng = self._make_schedule(X.shape[0], y_val_enc)
        estimator, (lambda_low, lambda_high) = self._victim(rng)
        n_classes = self.classes_.size
        learn, fixed = self._attacked_lambda(estimator.dtype)
        # A fixed λ may exceed lambda_bounds: inner_lr="auto" must stay stable for it.
        max_fixed = None if fixed is None else float(np.max(fixed))
        setup = build_setup(estimator, X, n_classes, max_log_lambda=max_fixed,
                            squared_norm=squared_norm, check_scales=check_scales)
        tensor = dict(device=setup.device, dtype=setup.dtype)
        n_hyper = setup.problem.n_hyper
        if fixed is None:
            lambda0 = initial_lambda(estimator.lambda_init, n_hyper, lambda_low,
                                     lambda_high, **tensor)
            if learn:
                warn_if_lambda_stays(lambda0, self.outer_steps,
                                     "attack the unregularized model with "
                                     "hyperparams='fixed', fixed_lambda=-np.inf")
        else:
            lambda0 = lambda_vector(fixed, n_hyper, "fixed_lambda", **tensor)
        draw_w0 = None
        if self.reinit_each_step:
            # Drawn on the CPU in float64: the same stream on every device/dtype.
            draw_w0 = WeightDraws(setup.problem, int(rng.randint(_SEED_MAX)), tensor)

        low, high = self._box
        config = AttackConfig(
            problem=setup.problem, w0=setup.w0, steps=setup.steps, lr=setup.lr,
            method=estimator.hypergrad, X_val=to_tensor(X_val, **tensor),
            Y_val=encode_targets(y_val_enc, n_classes, **tensor),
            box_low=to_tensor(low, **tensor), box_high=to_tensor(high, **tensor),
            lambda_low=lambda_low, lambda_high=lambda_high, outer_steps=self.outer_steps,
            poison_lr=self.poison_lr,
            lambda_lr=estimator.outer_lr if self.lambda_lr is None else self.lambda_lr,
            normalize=self.normalize,
            lambda_step=(estimator.outer_optimizer if self.lambda_step is None
                         else self.lambda_step),
            draw_w0=draw_w0, checkpoint_every=estimator.checkpoint_every,
        )
        return _AttackPlan(
            config, ratios, schedule, to_tensor(X, **tensor) if X_on_device is None
            else X_on_device.to(**tensor),
            encode_targets(y_enc, n_classes, **tensor),
            to_tensor(X_val[schedule.val_index], **tensor),
            encode_targets(schedule.labels, n_classes, **tensor), lambda0, learn,
            estimator, max_fixed,
        )

    def _collect(self, plan, X, y, poison, states, losses, lambdas):
        """Fitted state and one :class:`PoisoningResult` per ratio (one host transfer)."""
        low, high = self._box
        poison = np.clip(to_numpy(poison).astype(X.dtype), low.astype(X.dtype),
                         high.astype(X.dtype))
        losses, lambdas = to_numpy(losses), to_numpy(lambdas)
        self.inner_lr_ = plan.config.lr
        self.victim_ = plan.victim
        # (copies: one result's paths must not be views into another's)
        results = [
            self._make_result(i, ratio, plan.schedule, X, y, poison,
                              to_numpy(state.log_lambda), float(state.val_loss),
                              losses[:state.path_length].copy(),
                              lambdas[:state.path_length].copy())
            for i, (ratio, state) in enumerate(zip(plan.ratios, states))
        ]
        if plan.learn and self.outer_steps:   # (0 steps: label flipping, λ is meant to stay)
            warn_if_defender_stayed(plan.config, results[-1], self.outer_steps)
        if plan.victim.inner_lr == "auto" and results[-1].n_poison:
            # The rate was chosen on the clean set; the points then moved, within the
            # box. Checked once, on the largest poisoned set.
            check_rate_with_poison(plan.victim, plan.config.lr, results[-1].X,
                                   self.classes_.size, max_log_lambda=plan.max_fixed,
                                   poison_rows=results[-1].poison_mask, n_clean=len(X),
                                   described="the attack's losses and λ describe it")
        return results


class _AttackPlan(NamedTuple):
    """One attack ready to run: its configuration, schedule and tensors."""

    config: AttackConfig
    ratios: list
    schedule: object
    X: torch.Tensor
    Y: torch.Tensor
    X_poison: torch.Tensor
    Y_poison: torch.Tensor
    lambda0: torch.Tensor
    learn: bool
    victim: object       # the estimator as the attack trains it
    max_fixed: object    # the largest fixed λ (None: learned), given to build_setup
