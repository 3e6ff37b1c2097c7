"""Linear classifiers (binary logistic, multinomial softmax) with closed forms.

The parameter vector is ``[W.ravel(), b]`` with ``W`` of shape
``(n_features, n_outputs)``. Gradients, Hessian-vector products and the mixed
second derivatives used by the hypergradients are written out by hand: they
cost two matrix products per step, which is what makes the reverse pass about
as cheap as the forward one.
"""

from __future__ import annotations

import torch

from ..hypergrad._problem import InnerProblem, cross_entropy
from ..hypergrad._prox import soft_threshold, takes_proximal_steps
from ._linear_unroll import LinearUnroll
from ._linear_unroll_batched import BatchedLinearUnroll
from ._matmul import addmm, matmul
from ._penalty import GroupPenalty

LAMBDA_MODES = ("single", "per_feature")


def _activation(scores):
    if scores.shape[1] == 1:
        return torch.sigmoid(scores)
    return torch.softmax(scores, dim=1)


def _apply_jacobian(prob, U):
    """Derivative of the activation at ``prob`` applied row-wise to ``U``."""
    if prob.shape[1] == 1:
        return prob * (1.0 - prob) * U
    return prob * (U - torch.sum(prob * U, dim=1, keepdim=True))


class LinearProblem(InnerProblem):
    """Regularized logistic regression as an inner problem.

    Parameters
    ----------
    n_features : int
    n_outputs : int
        1 for binary logistic regression, the number of classes for softmax.
    penalty : {"l2", "l1"}, default="l2"
    lambda_mode : {"single", "per_feature"}, default="single"
        One λ for all weights, or one λ per input feature (shared by the
        feature's weights in every output). The intercept is not penalized.
    device : str or torch.device, default="cpu"
        Device of the penalty's group index: that of the tensors the problem
        is used with.
    l1_step : {"subgradient", "proximal"}, default="subgradient"
        With ``penalty="l1"``: subgradient steps ``w - lr (grad L_data +
        alpha sign(w))`` (the paper's), or proximal ones, ``S(w - lr grad
        L_data, lr alpha)`` with ``S`` the soft threshold (weights whose
        optimum is 0 become exactly 0 instead of zigzagging around it; see
        ``skpoison/hypergrad/_prox.py``). Ignored under L2.

    Examples
    --------
    >>> import torch
    >>> from skpoison.models import LinearProblem
    >>> problem = LinearProblem(3, 1)
    >>> w = problem.init_params()
    >>> X = torch.ones(4, 3, dtype=torch.float64); Y = torch.ones(4, 1, dtype=torch.float64)
    >>> float(problem.train_loss(w, torch.zeros(1, dtype=torch.float64), X, Y))  # log 2
    0.6931471805599453

    A proximal L1 step sets a weight whose data gradient is small to exactly 0:

    >>> problem = LinearProblem(2, 1, "l1", l1_step="proximal")
    >>> X = torch.tensor([[1.0, 0.1], [-1.0, 0.1]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    >>> w, _ = problem.forward_step(problem.init_params(), torch.full((1,), -2.0,
    ...                             dtype=torch.float64), X, Y, 1.0)
    >>> w
    tensor([0.3647, 0.0000, 0.0000], dtype=torch.float64)
    """

    group_penalty = True   # closed forms over self.penalty (see InnerProblem)
    lambda_modes = LAMBDA_MODES   # (what the estimators' lambda_mode accepts)
    graph_capturable = True   # no host reads in the loops (tests/hypergrad/test_host_sync.py)

    def __init__(self, n_features, n_outputs, penalty="l2", lambda_mode="single", device="cpu",
                 *, l1_step="subgradient"):
        self.proximal = takes_proximal_steps(penalty, l1_step)   # (checks l1_step)
        if lambda_mode not in LAMBDA_MODES:
            raise ValueError(
                f"lambda_mode={lambda_mode!r} is not supported by linear models; "
                f"use one of {LAMBDA_MODES}."
            )
        self.n_features = int(n_features)
        self.n_outputs = int(n_outputs)
        if self.n_outputs < 1 or self.n_features < 0 or (
                lambda_mode == "per_feature" and self.n_features == 0):
            raise ValueError(
                f"LinearProblem needs n_outputs >= 1 and n_features >= 0 (>= 1 with "
                f"lambda_mode='per_feature': one λ per feature); got n_features="
                f"{n_features}, n_outputs={n_outputs}, lambda_mode={lambda_mode!r}.")
        self.lambda_mode = lambda_mode
        n_weights = self.n_features * self.n_outputs
        self.n_params = n_weights + self.n_outputs
        if lambda_mode == "single":
            groups = torch.zeros(n_weights, dtype=torch.long)
        else:
            groups = torch.arange(self.n_features).repeat_interleave(self.n_outputs)
        self.n_hyper = 1 if lambda_mode == "single" else self.n_features
        group_index = torch.cat([groups, torch.full((self.n_outputs,), -1)])
        self.penalty = GroupPenalty(penalty, group_index.to(device), self.n_hyper)
        self.l1_step = l1_step

    def init_params(self, generator=None, *, dtype=torch.float64, device="cpu"):
        """Zeros (the inner problem's fixed starting point)."""
        return torch.zeros(self.n_params, dtype=dtype, device=device)

    def unflatten(self, w):
        """Views ``(W, b)`` of the flat parameter vector."""
        n_weights = self.n_features * self.n_outputs
        return w[:n_weights].view(self.n_features, self.n_outputs), w[n_weights:]

    def decision_scores(self, w, X):
        W, b = self.unflatten(w)
        return addmm(b, X, W)

    def penalty_value(self, w, log_lambda):
        return self.penalty.value(w, log_lambda)

    # -- closed forms ---------------------------------------------------------
    def _data_grad(self, X, residual):
        n = X.shape[0]
        return torch.cat([matmul(X.T, residual).reshape(-1), residual.sum(0)]) / n

    def train_grad(self, w, log_lambda, X, Y):
        residual = _activation(self.decision_scores(w, X)) - Y
        return self._data_grad(X, residual) + self.penalty.grad(w, log_lambda)

    def loss_and_grad(self, w, X, Y):
        scores = self.decision_scores(w, X)
        residual = _activation(scores) - Y
        return cross_entropy(scores, Y), self._data_grad(X, residual)

    def forward_step(self, w, log_lambda, X, Y, lr):
        prob = _activation(self.decision_scores(w, X))
        if self.proximal:
            z = w - lr * self._data_grad(X, prob - Y)
            return soft_threshold(z, lr * self.penalty.alpha(log_lambda)), prob
        gradient = self._data_grad(X, prob - Y) + self.penalty.grad(w, log_lambda)
        return w - lr * gradient, prob

    def _data_hvp(self, X, prob, v):
        V_W, v_b = self.unflatten(v)
        jac_U = _apply_jacobian(prob, addmm(v_b, X, V_W))
        return self._data_grad(X, jac_U), jac_U

    def hvp(self, w, log_lambda, X, Y, v):
        prob = _activation(self.decision_scores(w, X))
        data_part, _ = self._data_hvp(X, prob, v)
        return data_part + self.penalty.hvp(log_lambda, v)

    def hessian_operator(self, w, log_lambda, X, Y):
        prob = _activation(self.decision_scores(w, X))
        alpha = self.penalty.alpha(log_lambda)
        l1 = self.penalty.kind == "l1"

        def matvec(v):
            data_part, _ = self._data_hvp(X, prob, v)
            return data_part if l1 else data_part + alpha * v

        matvec.matrix = lambda: self._hessian_matrix(X, prob, None if l1 else alpha)
        return matvec

    def _hessian_matrix(self, X, prob, alpha):
        """Dense Hessian ``X1^T (act' blocks) X1 / n (+ diag(alpha))``."""
        n, k = X.shape[0], self.n_outputs
        X1 = torch.cat([X, X.new_ones((n, 1))], dim=1)
        d1 = X1.shape[1]
        H = X.new_empty((d1, k, d1, k))
        for a in range(k):
            for b in range(k):
                weight = prob[:, a] * (float(a == b) - prob[:, b])
                H[:, a, :, b] = X1.T @ (X1 * weight[:, None]) / n
        H = H.reshape(d1 * k, d1 * k)
        return H if alpha is None else H + torch.diag(alpha)

    def reverse_step(self, w, cache, log_lambda, X, Y, n_poison, a):
        prob = _activation(self.decision_scores(w, X)) if cache is None else cache
        data_part, jac_U = self._data_hvp(X, prob, a)
        hvp = data_part + self.penalty.hvp(log_lambda, a)
        mixed_lambda = self.penalty.mixed_vjp(w, log_lambda, a)
        # d/dx_i of (A_W^T x_i + a_b)^T r_i / n  =  (A_W r_i + W J_i u_i) / n.
        n_clean = X.shape[0] - n_poison
        W, _ = self.unflatten(w)
        A_W, _ = self.unflatten(a)
        residual_poison = prob[n_clean:] - Y[n_clean:]
        mixed_poison = (residual_poison @ A_W.T + jac_U[n_clean:] @ W.T) / X.shape[0]
        return hvp, mixed_lambda, mixed_poison

    def unroll(self, log_lambda, X, Y, *, lr, n_poison=0):
        """The closed-form :class:`LinearUnroll` (two matrix products per step)."""
        return LinearUnroll(self, log_lambda, X, Y, lr=lr, n_poison=n_poison)

    def batched_unroll(self, log_lambda, X, Y, *, lr, n_poison=0):
        """:class:`BatchedLinearUnroll`: ``K`` problems stacked (batched products)."""
        return BatchedLinearUnroll(self, log_lambda, X, Y, lr=lr, n_poison=n_poison)
