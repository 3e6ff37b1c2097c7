"""HypergradMLP: a multilayer perceptron with learned regularization."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import StrOptions

from .._constraints import NumberInterval
from .._torch_utils import to_numpy
from ..hypergrad._prox import L1_STEPS
from ..models import MLPProblem
from ..models._mlp import NEGATIVE_SLOPE
from ._base import BaseHypergradClassifier


class HypergradMLP(BaseHypergradClassifier):
    """Multilayer perceptron whose L2/L1 strengths are learned on a trusted set.

    The bilevel problem is that of :class:`HypergradRegularizedLR`, with a
    network ``n_features -> hidden_layer_sizes -> output`` (LeakyReLU hidden
    units, Xavier-uniform weights and zero biases drawn from ``random_state``)
    as the inner model, and λ shared by all weight matrices or one per layer.

    Parameters not described here mean what they mean in
    :class:`HypergradRegularizedLR`.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(32, 8)
        As in :class:`sklearn.neural_network.MLPClassifier` (an int is one
        hidden layer).
    penalty : {"l2", "l1"}, default="l2"
        Regularizer of the weight matrices. By default L1 takes plain
        subgradient steps, as the paper does: weights whose optimum is 0
        zigzag around it by about ``inner_lr * exp(λ)``;
        ``l1_step="proximal"`` removes that solver noise.
    l1_step : {"subgradient", "proximal"}, default="subgradient"
        The inner step under ``penalty="l1"`` (ignored under L2). The
        paper's subgradient step ``w - inner_lr (grad L_data + exp(λ)
        sign(w))``, or a proximal-gradient (ISTA) step: the data step, then
        the soft threshold ``sign(z) max(|z| - inner_lr exp(λ), 0)`` of every
        weight (biases are not penalized), which sets weights whose optimum
        is 0 to exactly 0 and keeps them there. Every ``hypergrad`` method
        differentiates the step taken; the implicit ones (``"cg"``,
        ``"exact"``) then solve on the weights that are not 0. (The step
        size stays ``inner_lr``: networks have no ``"auto"`` rate.)
    lambda_mode : {"single", "per_layer"}, default="single"
        One λ for all weight matrices, or one per weight matrix
        (``n_lambdas`` = the number of hidden layers + 1); biases are never
        penalized.
    lambda_init : float or array-like of shape (n_lambdas,), default=-4.0
        Initial λ (log of the regularization strength), projected on
        ``lambda_bounds`` (with a warning when that moves it).
    lambda_bounds : tuple of float, default=(-12.0, 0.0)
        The feasible box for λ.
    hypergrad : {"rmd", "fmd", "cg", "exact"}, default="rmd"
        The implicit methods assume a converged, locally convex inner problem
        (``fit`` warns at the first outer step whose inner run is not
        stationary or whose Hessian solve fails, and at the end how many were).
    checkpoint_every : None, int, tuple of int, "sqrt" or "cbrt", default=None
        Reverse mode only: store every k-th inner iterate and recompute the
        rest during the reverse pass (bounded memory for long unrolls; see
        :func:`skpoison.hypergrad.compute_hypergradient`). ``None`` stores
        the whole trajectory.
    inner_steps : int, default=200
        Gradient-descent steps T of the inner problem.
    inner_lr : float, default=0.1
        Step size of the inner gradient descent; ``"auto"`` is not available
        for networks. Scale the features (to [0, 1] or unit variance): on
        large raw values a fixed step diverges, and ``fit`` then raises
        :class:`~skpoison.hypergrad.InnerDivergenceError` (NaN/inf weights, an
        L2 rate ``inner_lr * exp(λ) >= 2``, or a training objective that rose);
        one so small that ``inner_lr / n_samples`` is below the dtype's smallest
        normal number (training would not move) is refused with a ValueError.
        ``fit`` warns (``ConvergenceWarning``) when the median column's root
        mean square is over 10 times below the largest column's, or below 0.1.
    outer_steps : int, default=20
        Hypergradient steps on λ.
    outer_lr : float, default=0.2
        Step size of the projected descent on λ.
    outer_optimizer : {"adam", "gd", "sign"}, default="adam"
        The step on λ.
    tol : float or None, default=None
        None: take all ``outer_steps``; a float: stop at a plateau of the
        validation loss, as in :class:`HypergradRegularizedLR`.
    n_iter_no_change : int, default=5
        The steps without improvement that stop the descent on λ (with a ``tol``).
    final_steps : int or None, default=None
        Gradient-descent steps of the final fit (None: ``inner_steps``).
    validation_fraction : float, default=0.2
        Share of ``X`` held out as the trusted set when ``X_val`` is not given
        and λ is learned (``outer_steps > 0``), stratified by class, as in
        :class:`HypergradRegularizedLR` (with its warnings).
    device : {"cpu", "cuda", "cuda:N", "auto"} or torch.device, default="cpu"
        Where the tensors live; ``"auto"`` picks ``"cuda"`` when a GPU is
        available. The fitted attributes are NumPy arrays either way.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the training and the hypergradients (float32 suits GPUs;
        ``coefs_``, ``intercepts_``, ``lambda_``, ``alpha_`` and ``lambda_path_`` have
        this dtype, ``val_loss_path_`` is float64).
    random_state : int, RandomState instance or None, default=None
        Seeds the internal validation split (drawn where λ is learned without
        ``X_val``) and draws the initial weights.
    verbose : int, default=0
        Show a progress bar over the outer steps when positive.

    Attributes
    ----------
    classes_, lambda_, alpha_, lambda_path_, val_loss_path_
        As in :class:`HypergradRegularizedLR`.
    inner_lr_, n_iter_, n_features_in_, feature_names_in_
        As in :class:`HypergradRegularizedLR`.
    coefs_ : list of ndarray
        Weight matrices, ``coefs_[i]`` of shape ``(fan_in, fan_out)``.
    intercepts_ : list of ndarray
        Bias vectors, ``intercepts_[i]`` of shape ``(fan_out,)``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skpoison import HypergradMLP
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> clf = HypergradMLP(hidden_layer_sizes=(8,), inner_steps=50, outer_steps=2,
    ...                    random_state=0)
    >>> clf.fit(X / 16, y).score(X / 16, y) > 0.95
    True

    Proximal L1 steps give exact zeros:

    >>> sparse = HypergradMLP(hidden_layer_sizes=(8,), penalty="l1", l1_step="proximal",
    ...                       lambda_init=-3.0, inner_steps=50, outer_steps=0,
    ...                       random_state=0).fit(X / 16, y)
    >>> bool((sparse.coefs_[0] == 0).any())
    True
    """

    _parameter_constraints: dict = {
        **BaseHypergradClassifier._parameter_constraints,
        "hidden_layer_sizes": ["array-like", NumberInterval(Integral, 1, None, closed="left")],
        "lambda_mode": [StrOptions(set(MLPProblem.lambda_modes))],
        "l1_step": [StrOptions(set(L1_STEPS))],
    }

    def __init__(self, hidden_layer_sizes=(32, 8), *, penalty="l2", l1_step="subgradient",
                 lambda_mode="single",
                 lambda_init=-4.0, lambda_bounds=(-12.0, 0.0), hypergrad="rmd",
                 checkpoint_every=None,
                 inner_steps=200, inner_lr=0.1, outer_steps=20, outer_lr=0.2,
                 outer_optimizer="adam", tol=None, n_iter_no_change=5, final_steps=None,
                 validation_fraction=0.2,
                 device="cpu", dtype="float64", random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
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

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        if not all(isinstance(s, Integral) and not isinstance(s, (bool, np.bool_)) and s >= 1
                   for s in sizes):
            raise ValueError(f"hidden_layer_sizes={self.hidden_layer_sizes!r} must be "
                             "positive integers.")
        return sizes

    def _make_problem(self, n_features, n_outputs, device):
        return MLPProblem(n_features, self._hidden_sizes(), n_outputs, self.penalty,
                          self.lambda_mode, device, l1_step=self.l1_step)

    def _auto_inner_lr(self, X, n_outputs, max_alpha, squared_norm=None):
        raise ValueError("inner_lr='auto' is only available for linear models; "
                         "give HypergradMLP a positive inner_lr.")

    def _store_params(self, problem, w):
        self.coefs_, self.intercepts_ = [], []
        for W, b in problem.unflatten(w):
            self.coefs_.append(to_numpy(W))
            self.intercepts_.append(to_numpy(b))

    def decision_function(self, X):
        """Output-layer scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            Raveled for binary problems: positive means ``classes_[1]``.
        """
        X = self._validate_for_predict(X)
        hidden = X
        for W, b in zip(self.coefs_[:-1], self.intercepts_[:-1]):
            pre = hidden @ W + b
            hidden = np.where(pre > 0, pre, NEGATIVE_SLOPE * pre)
        scores = hidden @ self.coefs_[-1] + self.intercepts_[-1]
        return scores.ravel() if scores.shape[1] == 1 else scores
