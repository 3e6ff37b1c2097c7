"""The inner problem interface the hypergradient algorithms work on.

An inner problem is a model with a flat parameter vector ``w``, a mean data
loss and a penalty weighted by ``exp(log_lambda)``. The training set is a
matrix ``X`` whose last ``n_poison`` rows are the poisoning points, so the
hypergradient with respect to the poison features is the gradient with respect
to those rows.

Subclasses must provide :meth:`init_params`, :meth:`decision_scores` and
:meth:`penalty_value`, and the attributes ``n_params``, ``n_hyper`` and
``n_outputs`` (the engine checks argument shapes against them);
:meth:`data_loss` defaults to the mean cross-entropy of the scores. Every
derivative then follows from ``torch.func``. Models with closed forms (the
linear models, the MLP) override :meth:`train_grad`, :meth:`loss_and_grad`,
:meth:`forward_step`, :meth:`reverse_step`, :meth:`hvp` and
:meth:`hessian_operator` for speed, set ``group_penalty = True``, and return a
specialised :class:`~skpoison.hypergrad.Unroll` from :meth:`unroll` (the loops
over the ``T`` steps); the generic versions remain the reference the tests
compare them with (call them as ``InnerProblem.hvp(problem, ...)``).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

import torch
from torch.func import grad, grad_and_value, jvp, vjp

from ._unroll import Unroll

#: ``torch.func.jvp`` keeps its forward-AD level in process-wide state (unlike
#: ``grad`` and ``vjp``): calls from two threads at once fail ("no level
#: exists") or mix their tangents silently. Every forward-mode pass of the
#: engine holds this lock (reentrant: a user's model may nest them).
FORWARD_AD_LOCK = threading.RLock()


#: Where torch's ``softplus`` stops computing ``log1p(exp(s))`` (its default
#: ``threshold``) and returns ``s`` itself.
_SOFTPLUS_THRESHOLD = 20.0


def softplus(scores):
    """``log(1 + exp(s))``, and its derivative ``sigmoid(s)``, accurate at every ``s``.

    ``torch.nn.functional.softplus`` returns ``s`` itself above its threshold
    (20): a value that jumps by ``exp(-20)`` = 2e-9 there, a derivative of
    exactly 1 (the logistic residual ``sigmoid(s) - y`` rounded to 0 or 1) and
    no curvature (its second derivative is 0 at 20 itself too). From the
    threshold up this takes ``s + log1p(exp(-s))`` instead; below it, torch's
    softplus (the same values and derivatives, bit for bit).

    Examples
    --------
    The residual ``sigmoid(s) - 1`` of a positive label at ``s = 25``:

    >>> s = torch.tensor(25.0, dtype=torch.float64, requires_grad=True)
    >>> for f in (softplus, torch.nn.functional.softplus):
    ...     print(f"{float(torch.autograd.grad(f(s), s)[0] - 1):.4e}")
    -1.3888e-11
    0.0000e+00
    """
    tail = scores.clamp(min=_SOFTPLUS_THRESHOLD)     # (never exp of a large number)
    return torch.where(scores >= _SOFTPLUS_THRESHOLD, tail + torch.log1p(torch.exp(-tail)),
                       torch.nn.functional.softplus(scores.clamp(max=_SOFTPLUS_THRESHOLD)))


def cross_entropy(scores, Y):
    """Mean logistic (one column) or softmax cross-entropy of ``scores`` against ``Y``."""
    if scores.shape[1] == 1:
        return torch.mean(softplus(scores) - Y * scores)
    return -torch.mean(torch.sum(Y * torch.log_softmax(scores, dim=1), dim=1))


class InnerProblem(ABC):
    """Base class: a differentiable training objective ``L_tr(w; lambda, X)``.

    Attributes
    ----------
    n_params : int
        Length of the flat parameter vector.
    n_hyper : int
        Number of regularization hyperparameters λ.
    n_outputs : int
        Number of decision scores per sample (1 for binary problems).
    group_penalty : bool
        True only where the penalty is ``self.penalty``, a
        :class:`~skpoison.models.GroupPenalty` (``penalty_value`` is its
        ``value``), and the targets are the default cross-entropy's
        ``(n, n_outputs)`` rows: the built-in models. The engine then uses
        the penalty's closed forms (forward mode, the check of an unstable
        L2 rate) and checks the targets' shape and values (``_input_values.py``).
        False (the default) for other subclasses, whose penalty and targets
        it does not assume.
    graph_capturable : bool
        True only where the problem's unrolled loops (single and batched),
        its penalty and its losses never read a device value back to the host:
        :class:`~skpoison.hypergrad.GraphedHypergradient` then captures them
        into a CUDA graph. Read from the problem's own class, not inherited
        (a subclass that keeps the loops free of host reads declares it
        again); False (the default) elsewhere.
    proximal : bool
        True where :meth:`forward_step` is a proximal L1 step
        (``l1_step="proximal"`` of ``LinearProblem`` and ``MLPProblem``): the methods then
        differentiate the soft threshold (``hypergrad/_prox.py``). The
        generic :class:`~skpoison.hypergrad.Unroll`, whose reverse pass is
        that of a gradient step, refuses such problems. False by default.

    Examples
    --------
    A model defines its starting point, scores and penalty; every method
    then differentiates it (here a logistic regression without bias):

    >>> import torch
    >>> from skpoison.hypergrad import InnerProblem, compute_hypergradient
    >>> class NoBiasLogistic(InnerProblem):
    ...     n_params, n_hyper, n_outputs = 2, 1, 1
    ...     def init_params(self, generator=None, *, dtype=torch.float64, device="cpu"):
    ...         return torch.zeros(2, dtype=dtype, device=device)
    ...     def decision_scores(self, w, X):
    ...         return X @ w[:, None]
    ...     def penalty_value(self, w, log_lambda):
    ...         return 0.5 * torch.exp(log_lambda[0]) * (w @ w)
    >>> problem = NoBiasLogistic()
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 2.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0], [1.0], [0.0]], dtype=torch.float64)
    >>> args = (problem, problem.init_params(), torch.zeros(1, dtype=torch.float64), X, Y, X, Y)
    >>> reverse = compute_hypergradient(*args, n_poison=1, steps=30, lr=0.5, method="rmd")
    >>> oracle = compute_hypergradient(*args, n_poison=1, steps=30, lr=0.5, method="autograd")
    >>> torch.allclose(reverse.grad_X_poison, oracle.grad_X_poison)
    True
    """

    n_params: int
    n_hyper: int
    n_outputs: int
    group_penalty: bool = False
    graph_capturable: bool = False
    proximal: bool = False

    # -- what a model defines -------------------------------------------------
    @abstractmethod
    def init_params(self, generator=None, *, dtype=torch.float64, device="cpu"):
        """The fixed starting point ``w_0`` of the inner solver.

        Parameters
        ----------
        generator : torch.Generator or None, default=None
            Draws a random initialization (networks); None where the start
            is fixed (zeros).
        dtype : torch.dtype, default=torch.float64
        device : str or torch.device, default="cpu"

        Returns
        -------
        w0 : Tensor of shape (n_params,)
            All parameters, flattened into one vector.
        """

    @abstractmethod
    def decision_scores(self, w, X):
        """The model's scores (logits) of ``X`` under parameters ``w``.

        Parameters
        ----------
        w : Tensor of shape (n_params,)
        X : Tensor of shape (n_samples, n_features)

        Returns
        -------
        scores : Tensor of shape (n_samples, n_outputs)
            Differentiable in ``w`` and ``X`` (torch operations only).
        """

    @abstractmethod
    def penalty_value(self, w, log_lambda):
        """The regularization term ``sum_g exp(lambda_g) R(w_g)``.

        Parameters
        ----------
        w : Tensor of shape (n_params,)
        log_lambda : Tensor of shape (n_hyper,)
            Log-strengths λ, one per group ``g`` of penalized parameters.

        Returns
        -------
        penalty : Tensor of shape ()
            Differentiable in ``w`` and ``log_lambda``.
        """

    def data_loss(self, w, X, Y):
        """Mean cross-entropy of the scores of ``X`` against targets ``Y``.

        Parameters
        ----------
        w : Tensor of shape (n_params,)
        X : Tensor of shape (n_samples, n_features)
        Y : Tensor of shape (n_samples, n_outputs)
            ``{0, 1}`` in one column for binary problems, one-hot rows
            otherwise.

        Returns
        -------
        loss : Tensor of shape ()
        """
        return cross_entropy(self.decision_scores(w, X), Y)

    # -- derived quantities ---------------------------------------------------
    def train_loss(self, w, log_lambda, X, Y):
        """``L_tr = data_loss + penalty``."""
        return self.data_loss(w, X, Y) + self.penalty_value(w, log_lambda)

    def train_grad(self, w, log_lambda, X, Y):
        """Gradient of :meth:`train_loss` with respect to ``w``."""
        return grad(self.train_loss)(w, log_lambda, X, Y)

    def loss_and_grad(self, w, X, Y):
        """Validation loss (no penalty) and its gradient with respect to ``w``."""
        gradient, value = grad_and_value(self.data_loss)(w, X, Y)
        return value, gradient

    def forward_step(self, w, log_lambda, X, Y, lr):
        """One gradient-descent step; returns ``(w_next, cache)``.

        ``cache`` is whatever :meth:`reverse_step` can reuse (None here).
        """
        return w - lr * self.train_grad(w, log_lambda, X, Y), None

    def hvp(self, w, log_lambda, X, Y, v):
        """Hessian of :meth:`train_loss` with respect to ``w`` times ``v``."""
        with FORWARD_AD_LOCK:
            return jvp(lambda p: self.train_grad(p, log_lambda, X, Y), (w,), (v,))[1]

    def hessian_operator(self, w, log_lambda, X, Y):
        """``v -> H v`` at a fixed ``w`` (the implicit methods' linear operator).

        Models override it to compute what every product shares only once.
        """
        return lambda v: self.hvp(w, log_lambda, X, Y, v)

    def reverse_step(self, w, cache, log_lambda, X, Y, n_poison, a):
        """Transposed Jacobians of ``train_grad`` at ``w`` applied to ``a``.

        Returns
        -------
        hvp : Tensor of shape (n_params,)
            ``H a`` with ``H`` the Hessian of the training loss.
        mixed_lambda : Tensor of shape (n_hyper,)
            ``(d/d log_lambda grad_w L_tr)^T a``.
        mixed_poison : Tensor of shape (n_poison, n_features)
            ``(d/d X_poison grad_w L_tr)^T a``.
        """
        n_clean = X.shape[0] - n_poison
        X_clean, X_poison = X[:n_clean], X[n_clean:]

        def gradient(p, lam, xp):
            return self.train_grad(p, lam, torch.cat([X_clean, xp]), Y)

        _, pullback = vjp(gradient, w, log_lambda, X_poison)
        return pullback(a)

    def unroll(self, log_lambda, X, Y, *, lr, n_poison=0):
        """The ``T``-step solver bound to ``(log_lambda, X, Y, lr)``.

        Returns
        -------
        Unroll
            Generic here (one :meth:`forward_step` / :meth:`reverse_step` per
            step); models override it with a faster specialisation.
        """
        return Unroll(self, log_lambda, X, Y, lr=lr, n_poison=n_poison)
