"""HypergradRegularizedLR: logistic regression with a learned regularization."""

from __future__ import annotations

from sklearn.utils._param_validation import StrOptions

from .._torch_utils import resolve_device, to_numpy
from ..hypergrad._prox import L1_STEPS
from ..models import LinearProblem
from ._base import BaseHypergradClassifier
from ._pruning import kept_columns
from ._spectral import squared_spectral_norm


class HypergradRegularizedLR(BaseHypergradClassifier):
    """Logistic regression whose L2/L1 strength is learned on a trusted set.

    ``fit`` solves the bilevel problem of Carnerero-Cano et al. (2023), Eq. 1:
    the weights come from ``inner_steps`` of full-batch gradient descent (from
    zeros) on ``mean_i loss_i + sum_g exp(lambda_g) R(w_g)``, and the
    log-strengths ``lambda`` take ``outer_steps`` of projected gradient descent
    on the loss of the trusted validation set, using hypergradients computed
    by ``hypergrad``. The final model is then trained with the learned λ.

    Parameters
    ----------
    penalty : {"l2", "l1"}, default="l2"
        ``R = 0.5 ||w||^2`` or ``||w||_1``. The intercept is not penalized.
        By default L1 takes plain subgradient steps, as the paper does:
        weights whose optimum is 0 zigzag around it by about
        ``inner_lr * exp(λ)``, so at large λ the trained model (and the λ
        learned) carries that solver noise, which ``inner_lr="auto"`` does not
        remove (it treats the penalty's strength as curvature, as under L2).
        ``l1_step="proximal"`` removes it.
    l1_step : {"subgradient", "proximal"}, default="subgradient"
        The inner step under ``penalty="l1"`` (ignored under L2). The
        paper's subgradient step ``w - inner_lr (grad L_data + exp(λ)
        sign(w))``, or a proximal-gradient (ISTA) step: the data step, then
        the soft threshold ``sign(z) max(|z| - inner_lr exp(λ), 0)``, which
        sets weights whose optimum is 0 to exactly 0 and settles (the trained
        model no longer changes with ``inner_steps`` once converged). Every
        ``hypergrad`` method differentiates the step taken; the implicit ones
        (``"cg"``, ``"exact"``) then solve on the weights that are not 0.
    lambda_mode : {"single", "per_feature"}, default="single"
        One λ for all weights, or one λ per input feature (which a grid search
        cannot explore).
    lambda_init : float or array-like of shape (n_lambdas,), default=-4.0
        Initial log-strength ``lambda`` (``alpha = exp(lambda)``), projected on
        ``lambda_bounds`` (with a warning when that moves it); ``-inf`` with
        ``lambda_bounds[0] = -inf`` means no regularization (a fixed point of
        the λ steps: ``fit`` warns when
        ``outer_steps`` would have to learn it). With ``outer_steps=0`` the model
        is simply trained with this λ.
    lambda_bounds : tuple of float, default=(-12.0, 0.0)
        The feasible box Λ for ``lambda`` (``low`` may be ``-inf``).
    hypergrad : {"rmd", "fmd", "cg", "exact"}, default="rmd"
        Reverse mode through the unrolled solver, forward mode, or the
        implicit function theorem with conjugate gradient / an exact solve
        (only meaningful when ``inner_steps`` reach the optimum: otherwise
        ``fit`` issues an :class:`~skpoison.hypergrad.InnerNotConvergedWarning`,
        also a scikit-learn ``ConvergenceWarning``, at the first outer step
        that misses it, and at the end how many did).
    checkpoint_every : None, int, tuple of int, "sqrt" or "cbrt", default=None
        Reverse mode only: store every k-th inner iterate and recompute the
        rest during the reverse pass (bounded memory for long unrolls; see
        :func:`skpoison.hypergrad.compute_hypergradient`). ``None`` stores
        the whole trajectory.
    inner_steps : int, default=200
        Gradient-descent steps T of the inner problem.
    inner_lr : float or "auto", default="auto"
        Inner step size. ``"auto"`` uses ``1 / L`` with ``L`` the smoothness
        constant of the loss on the training data plus ``exp(max(lambda_bounds))``
        (so a large upper bound means small steps: keep it near the largest λ
        you need; ``fit`` issues a ``ConvergenceWarning`` when the step is over
        10 times smaller than the learned λ needs). Proximal L1 steps
        (``l1_step="proximal"``) are stable whatever λ: their ``"auto"`` is
        ``1 / L`` of the data alone. A fixed step too large for
        the data makes ``fit`` raise
        :class:`~skpoison.hypergrad.InnerDivergenceError` (NaN/inf weights, an
        L2 rate ``inner_lr * exp(λ) >= 2``, or a training objective that rose);
        one so small that ``inner_lr / n_samples`` is below the dtype's smallest
        normal number (training would not move) is refused with a ValueError.
        Either way the step suits the largest curvature: ``fit`` warns
        (``ConvergenceWarning``) when the median column's root mean square is
        over 10 times below the largest column's, or below 0.1 (the
        intercept's column of ones then sets the step): the typical weights
        would barely move.
    outer_steps : int, default=30
        Hypergradient steps on λ.
    outer_lr : float, default=0.2
        Step size of the projected descent on λ (with Adam: about the largest
        change of λ per step).
    outer_optimizer : {"adam", "gd", "sign"}, default="adam"
        Adam steps, plain gradient steps or sign steps (every λ moves by
        ``outer_lr``) on λ, projected onto ``lambda_bounds``. Adam is
        scale-free: the hypergradient with respect to λ shrinks with
        ``exp(lambda)``, which stalls plain steps.
    tol : float or None, default=None
        None: take all ``outer_steps`` (the paper's defender). A float: stop
        once the validation loss has not fallen below its best by more than
        ``tol`` for ``n_iter_no_change`` consecutive steps (as scikit-learn's
        ``MLPClassifier``); a ``ConvergenceWarning`` says when ``outer_steps``
        ran out first. Each step then reads the loss on the host (one
        synchronization per step on a GPU).
    n_iter_no_change : int, default=5
        The steps without improvement that stop the descent on λ (with a ``tol``).
    final_steps : int or None, default=None
        Gradient-descent steps of the final fit (None: ``inner_steps``, the
        model for which λ was learned).
    validation_fraction : float, default=0.2
        Share of ``X`` held out as the trusted set when ``X_val`` is not given
        and λ is learned (``outer_steps > 0``)
        (``ceil(validation_fraction * n_samples)`` rows, stratified by class;
        where too few samples leave that impossible, a random split, with a
        warning; a warning too where a small class's share of a part rounds to
        no sample).
    device : {"cpu", "cuda", "cuda:N", "auto"} or torch.device, default="cpu"
        Where the tensors live; ``"auto"`` picks ``"cuda"`` when a GPU is
        available. The fitted attributes are NumPy arrays either way.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the training and the hypergradients (float32 suits GPUs;
        ``coef_``, ``intercept_``, ``lambda_``, ``alpha_`` and ``lambda_path_`` have
        this dtype, ``val_loss_path_`` is float64).
    random_state : int, RandomState instance or None, default=None
        Seeds the internal validation split (drawn where λ is learned without
        ``X_val``).
    verbose : int, default=0
        Show a progress bar over the outer steps when positive.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels known to the classifier.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights of the final fit (one row for two classes).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Unpenalized biases of the final fit.
    lambda_ : ndarray of shape (n_lambdas,)
        Learned log-strengths; ``alpha_ = exp(lambda_)``.
    alpha_ : ndarray of shape (n_lambdas,)
        Learned regularization strengths, ``exp(lambda_)``.
    lambda_path_ : ndarray of shape (n_iter_ + 1, n_lambdas)
        λ at every outer step (the initial value first, the learned λ last).
    val_loss_path_ : ndarray of shape (n_iter_,)
        Validation loss at every outer step (at the λ before its update).
    inner_lr_ : float
        The inner step size used. ``"auto"`` with the internal split takes
        the smaller of the rates for its training part and for all of ``X``
        (the final fit's data), so that both runs are stable.
    n_iter_ : int
        Outer steps taken: ``outer_steps``, or fewer where a ``tol`` stopped
        the descent.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skpoison import HypergradRegularizedLR
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> clf = HypergradRegularizedLR(outer_steps=5, random_state=0).fit(X / 16, y)
    >>> clf.score(X / 16, y) > 0.95
    True
    >>> clf.lambda_.shape
    (1,)

    With a ``tol``, the descent on λ stops once the trusted loss stops improving:

    >>> settled = HypergradRegularizedLR(outer_steps=100, tol=1e-3,
    ...                                  random_state=0).fit(X / 16, y)
    >>> settled.n_iter_, settled.lambda_path_.shape
    (14, (15, 1))

    Proximal L1 steps give exact zeros:

    >>> sparse = HypergradRegularizedLR(penalty="l1", l1_step="proximal", lambda_init=-3.0,
    ...                                 outer_steps=0).fit(X / 16, y)
    >>> bool((sparse.coef_ == 0).any())
    True
    """

    _parameter_constraints: dict = {
        **BaseHypergradClassifier._parameter_constraints,
        "lambda_mode": [StrOptions(set(LinearProblem.lambda_modes))],
        "l1_step": [StrOptions(set(L1_STEPS))],
    }

    def __init__(self, *, penalty="l2", l1_step="subgradient", lambda_mode="single",
                 lambda_init=-4.0,
                 lambda_bounds=(-12.0, 0.0), hypergrad="rmd", checkpoint_every=None,
                 inner_steps=200,
                 inner_lr="auto", outer_steps=30, outer_lr=0.2, outer_optimizer="adam",
                 tol=None, n_iter_no_change=5, final_steps=None,
                 validation_fraction=0.2, device="cpu", dtype="float64",
                 random_state=None, verbose=0):
        self.penalty = penalty
        self.l1_step = l1_step
        self.lambda_mode = lambda_mode
        self.lambda_init = lambda_init
        self.lambda_bounds = lambda_bounds
        self.hypergrad = hypergrad
        self.checkpoint_every = checkpoint_every
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.outer_steps = outer_steps
        self.outer_lr = outer_lr
        self.outer_optimizer = outer_optimizer
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.final_steps = final_steps
        self.validation_fraction = validation_fraction
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _make_problem(self, n_features, n_outputs, device):
        return LinearProblem(n_features, n_outputs, self.penalty, self.lambda_mode, device,
                             l1_step=self.l1_step)

    def _kept_columns(self, X):
        # (weights start at 0: all-zero columns change nothing, see _pruning.py)
        return kept_columns(X) if self._prune_zero_columns else None

    #: Whether fits skip all-zero columns (False: the reference the tests compare with).
    _prune_zero_columns = True

    _auto_rate_reads_spectral_norm = True

    def _auto_inner_lr(self, X, n_outputs, max_alpha, squared_norm=None):
        # Hessian of the mean logistic loss <= ||[X 1]||_2^2 / (4 n) (binary),
        # <= ||[X 1]||_2^2 / (2 n) (softmax); plus the largest allowed alpha.
        if squared_norm is None:
            squared_norm = squared_spectral_norm(X, device=resolve_device(self.device))
        spectral = squared_norm / X.shape[0]
        smoothness = spectral / (4.0 if n_outputs == 1 else 2.0)
        return 1.0 / (smoothness + max_alpha)

    def _store_params(self, problem, w):
        W, b = problem.unflatten(w)
        self.coef_ = to_numpy(W.T)
        self.intercept_ = to_numpy(b)

    def decision_function(self, X):
        """Scores ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            Raveled for binary problems: positive means ``classes_[1]``.
        """
        X = self._validate_for_predict(X)
        scores = X @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores
