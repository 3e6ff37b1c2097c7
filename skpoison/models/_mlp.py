"""Multilayer perceptron (LeakyReLU hidden layers) as an inner problem.

Gradients, Hessian-vector products and the mixed derivatives are written out
by hand (:mod:`._mlp_derivatives`: backpropagation and its R-operator), about
three times faster than ``torch.func``; the generic implementations of
:class:`~skpoison.hypergrad.InnerProblem` remain the reference the tests
compare them with.
"""

from __future__ import annotations

import math

import torch

from ..hypergrad._problem import InnerProblem, cross_entropy
from ..hypergrad._prox import soft_threshold, takes_proximal_steps
from . import _mlp_derivatives as calculus
from ._mlp_derivatives import NEGATIVE_SLOPE
from ._mlp_unroll import BatchedMLPUnroll, MLPUnroll
from ._penalty import GroupPenalty

LAMBDA_MODES = ("single", "per_layer")


class MLPProblem(InnerProblem):
    """Fully connected network ``d -> h_1 -> ... -> n_outputs`` with LeakyReLU.

    Parameters
    ----------
    n_features : int
    hidden_layer_sizes : tuple of int
    n_outputs : int
        1 for a binary classifier (one logit), the number of classes otherwise.
    penalty : {"l2", "l1"}, default="l2"
    lambda_mode : {"single", "per_layer"}, default="single"
        One λ for every weight matrix, or one per weight matrix. Biases are
        not penalized.
    device : str or torch.device, default="cpu"
        Device of the penalty's group index: that of the tensors the problem
        is used with.
    l1_step : {"subgradient", "proximal"}, default="subgradient"
        With ``penalty="l1"``: subgradient steps ``w - lr (grad L_data +
        alpha sign(w))`` (the paper's), or proximal ones, ``S(w - lr grad
        L_data, lr alpha)`` with ``S`` the soft threshold (weights whose
        optimum is 0 become exactly 0; biases are never thresholded; see
        ``skpoison/hypergrad/_prox.py``). Ignored under L2.

    Examples
    --------
    >>> from skpoison.models import MLPProblem
    >>> problem = MLPProblem(4, (3,), 1)
    >>> problem.n_params, problem.n_hyper
    (19, 1)

    A proximal L1 step sets the weights whose data step stays within the
    threshold to exactly 0:

    >>> import torch
    >>> problem = MLPProblem(2, (2,), 1, "l1", l1_step="proximal")
    >>> w0 = problem.init_params(torch.Generator().manual_seed(0))
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    >>> w, _ = problem.forward_step(w0, torch.zeros(1, dtype=torch.float64), X, Y, 0.5)
    >>> int((w[problem.penalty.penalized] == 0).sum())   # of the 6 weights
    2
    """

    group_penalty = True   # closed forms over self.penalty (see InnerProblem)
    lambda_modes = LAMBDA_MODES   # (what the estimators' lambda_mode accepts)
    graph_capturable = True   # no host reads in the loops (tests/hypergrad/test_host_sync.py)

    def __init__(self, n_features, hidden_layer_sizes, n_outputs, penalty="l2",
                 lambda_mode="single", device="cpu", *, l1_step="subgradient"):
        self.proximal = takes_proximal_steps(penalty, l1_step)   # (checks l1_step)
        if lambda_mode not in LAMBDA_MODES:
            raise ValueError(
                f"lambda_mode={lambda_mode!r} is not supported by the MLP; "
                f"use one of {LAMBDA_MODES}."
            )
        self.n_features = int(n_features)
        self.n_outputs = int(n_outputs)
        self.layer_sizes = [self.n_features, *map(int, hidden_layer_sizes), self.n_outputs]
        self.shapes = list(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        self.n_layers = len(self.shapes)
        # (start of W, start of b, end of b, fan_in, fan_out) of every layer in w.
        self._slices, start = [], 0
        for fan_in, fan_out in self.shapes:
            bias = start + fan_in * fan_out
            self._slices.append((start, bias, bias + fan_out, fan_in, fan_out))
            start = bias + fan_out
        self.n_hyper = 1 if lambda_mode == "single" else self.n_layers
        groups = []
        for layer, (fan_in, fan_out) in enumerate(self.shapes):
            group = 0 if lambda_mode == "single" else layer
            groups.append(torch.full((fan_in * fan_out,), group))
            groups.append(torch.full((fan_out,), -1))
        group_index = torch.cat(groups)
        self.n_params = group_index.numel()
        self.penalty = GroupPenalty(penalty, group_index.to(device), self.n_hyper)
        self.l1_step = l1_step

    def init_params(self, generator=None, *, dtype=torch.float64, device="cpu"):
        """Xavier-uniform weights and zero biases, drawn from ``generator``.

        Drawn in float64 on the generator's device (the CPU without one), then
        moved to ``device`` and ``dtype``: one generator state gives the same
        network whatever the dtype and device asked for.

        Examples
        --------
        >>> problem = MLPProblem(3, (2,), 1)
        >>> w64 = problem.init_params(torch.Generator().manual_seed(0))
        >>> w32 = problem.init_params(torch.Generator().manual_seed(0), dtype=torch.float32)
        >>> torch.equal(w32, w64.float())
        True
        """
        draw_on = generator.device if generator is not None else torch.device("cpu")
        pieces = []
        for fan_in, fan_out in self.shapes:
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            uniform = torch.rand(fan_in * fan_out, generator=generator, dtype=torch.float64,
                                 device=draw_on)
            pieces.append((2.0 * uniform - 1.0) * bound)
            pieces.append(torch.zeros(fan_out, dtype=torch.float64, device=draw_on))
        return torch.cat(pieces).to(device=device, dtype=dtype)

    def unflatten(self, w):
        """List of ``(W, b)`` views, ``W`` of shape ``(fan_in, fan_out)``.

        ``K`` stacked parameter vectors ``(K, n_params)`` give ``(K, fan_in,
        fan_out)`` and ``(K, fan_out)`` views.
        """
        if w.dim() == 1:   # (the common case, kept free of the batched indexing's cost)
            return [(w[a:b].view(fan_in, fan_out), w[b:c])
                    for a, b, c, fan_in, fan_out in self._slices]
        lead = w.shape[:-1]
        return [(w[..., a:b].view(*lead, fan_in, fan_out), w[..., b:c])
                for a, b, c, fan_in, fan_out in self._slices]

    def decision_scores(self, w, X):
        """Output scores: ``w`` of shape (n_params,) with ``X`` of shape (n, d), or
        stacked ``(K, n_params)`` with ``(K, n, d)`` (one problem each)."""
        # The hand-written derivatives' own forward pass (torch.addmm): a
        # pre-activation that cancels exactly rounds alike in both, so every
        # method takes the same side of LeakyReLU's kink (``X @ W + b`` could
        # give 1e-16 where addmm gives 0, and train another network).
        return calculus.forward(self.unflatten(w), X)[2]

    def penalty_value(self, w, log_lambda):
        return self.penalty.value(w, log_lambda)

    # -- hand-written derivatives -------------------------------------------------
    def _backprop(self, w, X, Y):
        """Data-loss gradient and what the second-order products reuse."""
        layers = self.unflatten(w)
        pre, hidden, scores = calculus.forward(layers, X)
        P = calculus.activation(scores)
        pieces, deltas = calculus.backward(layers, pre, hidden, (P - Y) / float(X.shape[-2]))
        return torch.cat(pieces, dim=-1), (layers, pre, hidden, P, deltas), scores

    def train_grad(self, w, log_lambda, X, Y):
        return self._backprop(w, X, Y)[0] + self.penalty.grad(w, log_lambda)

    def loss_and_grad(self, w, X, Y):
        gradient, _, scores = self._backprop(w, X, Y)
        return cross_entropy(scores, Y), gradient

    def forward_step(self, w, log_lambda, X, Y, lr):
        gradient, (_, pre, _, P, _), _ = self._backprop(w, X, Y)
        # The cache a tape keeps per step: the pre-activations and probabilities
        # (n * (sum(hidden) + n_outputs) numbers); reverse_step recomputes the
        # cheap rest, as MLPUnroll does.
        if self.proximal:
            return soft_threshold(w - lr * gradient, lr * self.penalty.alpha(log_lambda)), (pre, P)
        return w - lr * (gradient + self.penalty.grad(w, log_lambda)), (pre, P)

    def _expand_cache(self, w, cache, X, Y):
        """The full cache of :meth:`_backprop` from the ``(pre, P)`` a step keeps."""
        pre, P = cache
        layers = self.unflatten(w)
        hidden = [X] + [torch.nn.functional.leaky_relu(Z, NEGATIVE_SLOPE) for Z in pre]
        deltas = calculus.deltas(layers, pre, (P - Y) / float(X.shape[-2]))
        return layers, pre, hidden, P, deltas

    def _directional(self, cache, X, a, n_poison=0):
        layers, pre, hidden, P, deltas = cache
        return calculus.directional(layers, self.unflatten(a), pre, hidden, P, deltas,
                                    float(X.shape[-2]), n_poison)

    def hvp(self, w, log_lambda, X, Y, v):
        return self.hessian_operator(w, log_lambda, X, Y)(v)

    def hessian_operator(self, w, log_lambda, X, Y):
        _, cache, _ = self._backprop(w, X, Y)

        def matvec(v):
            pieces, _ = self._directional(cache, X, v)
            return torch.cat(pieces, dim=-1) + self.penalty.hvp(log_lambda, v)

        return matvec

    def reverse_step(self, w, cache, log_lambda, X, Y, n_poison, a):
        if cache is None:
            _, cache, _ = self._backprop(w, X, Y)
        else:
            cache = self._expand_cache(w, cache, X, Y)
        pieces, mixed_poison = self._directional(cache, X, a, n_poison)
        hvp = torch.cat(pieces, dim=-1) + self.penalty.hvp(log_lambda, a)
        return hvp, self.penalty.mixed_vjp(w, log_lambda, a), mixed_poison

    def unroll(self, log_lambda, X, Y, *, lr, n_poison=0):
        """The hand-written :class:`MLPUnroll`."""
        return MLPUnroll(self, log_lambda, X, Y, lr=lr, n_poison=n_poison)

    def batched_unroll(self, log_lambda, X, Y, *, lr, n_poison=0):
        """:class:`BatchedMLPUnroll`: ``K`` problems stacked (batched products)."""
        return BatchedMLPUnroll(self, log_lambda, X, Y, lr=lr, n_poison=n_poison)
