"""Multilayer perceptron (LeakyReLU hidden layers) as an inner problem.

Derivatives come from ``torch.func`` (the generic implementations of
:class:`~skpoison.hypergrad._problem.InnerProblem`); the penalty is added in
closed form.
"""

from __future__ import annotations

import math

import torch

from ..hypergrad._problem import InnerProblem
from ._penalty import GroupPenalty

LAMBDA_MODES = ("single", "per_layer")
NEGATIVE_SLOPE = 0.01


class MLPProblem(InnerProblem):
    """Fully connected network ``d -> h_1 -> ... -> n_outputs`` with LeakyReLU.

    Parameters
    ----------
    n_features : int
    hidden_layer_sizes : tuple of int
    n_outputs : int
        1 for a binary classifier (one logit), the number of classes otherwise.
    penalty : {"l2", "l1"}
    lambda_mode : {"single", "per_layer"}
        One λ for every weight matrix, or one per weight matrix. Biases are
        not penalized.

    Examples
    --------
    >>> problem = MLPProblem(4, (3,), 1)
    >>> problem.n_params, problem.n_hyper
    (19, 1)
    """

    def __init__(self, n_features, hidden_layer_sizes, n_outputs, penalty="l2",
                 lambda_mode="single", device="cpu"):
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
        self.n_hyper = 1 if lambda_mode == "single" else self.n_layers
        groups = []
        for layer, (fan_in, fan_out) in enumerate(self.shapes):
            group = 0 if lambda_mode == "single" else layer
            groups.append(torch.full((fan_in * fan_out,), group))
            groups.append(torch.full((fan_out,), -1))
        group_index = torch.cat(groups)
        self.n_params = group_index.numel()
        self.penalty = GroupPenalty(penalty, group_index.to(device), self.n_hyper)

    def init_params(self, generator=None, *, dtype=torch.float64, device="cpu"):
        """Xavier-uniform weights and zero biases, drawn from ``generator``."""
        pieces = []
        for fan_in, fan_out in self.shapes:
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            uniform = torch.rand(fan_in * fan_out, generator=generator, dtype=dtype,
                                 device=device)
            pieces.append((2.0 * uniform - 1.0) * bound)
            pieces.append(torch.zeros(fan_out, dtype=dtype, device=device))
        return torch.cat(pieces)

    def unflatten(self, w):
        """List of ``(W, b)`` views, ``W`` of shape ``(fan_in, fan_out)``."""
        layers, start = [], 0
        for fan_in, fan_out in self.shapes:
            W = w[start:start + fan_in * fan_out].view(fan_in, fan_out)
            start += fan_in * fan_out
            layers.append((W, w[start:start + fan_out]))
            start += fan_out
        return layers

    def decision_scores(self, w, X):
        layers = self.unflatten(w)
        hidden = X
        for W, b in layers[:-1]:
            hidden = torch.nn.functional.leaky_relu(hidden @ W + b, NEGATIVE_SLOPE)
        W, b = layers[-1]
        return hidden @ W + b

    def penalty_value(self, w, log_lambda):
        return self.penalty.value(w, log_lambda)
