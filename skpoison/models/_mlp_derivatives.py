"""Hand-written derivatives of the LeakyReLU multilayer perceptron.

Notation: layer ``l`` maps ``H_l`` to ``Z_{l+1} = H_l W_l + b_l``, hidden
layers apply ``H = leaky_relu(Z)``, ``H_0 = X`` and the last ``Z`` are the
scores ``S``. With the mean cross-entropy, ``G = dL/dZ`` starts at
``(act(S) - Y) / n`` and backpropagation gives ``dL/dW_l = H_l^T G_{l+1}``.

The reverse pass of the hypergradient needs, at every step, ``H a`` and the
mixed derivative with respect to the poisoning rows of ``X``. Both come from
one directional derivative of the backward pass in the direction ``a`` of the
parameters (Pearlmutter's R-operator): ``R(Z)``, ``R(H)`` forward, ``R(G)``
backward, ``R(dL/dW_l) = R(H_l)^T G + H_l^T R(G)``. Since ``dL/dx_i =
(G_1 W_0^T)_i`` and mixed partials commute, the poison term is
``R(G_1) W_0^T + G_1 A_0^T`` on the poisoning rows. LeakyReLU is piecewise
linear, so it contributes no second-derivative term. Cost: the same two
``n x d x h_1`` products per step as the gradient itself.
"""

from __future__ import annotations

import torch

from ._matmul import addmm, matmul

NEGATIVE_SLOPE = 0.01


def leaky_grad(G, Z):
    """``G * leaky_relu'(Z)`` (slope at ``Z <= 0``, as autograd takes it).

    The fused ATen kernel autograd itself uses: seven times faster than
    ``torch.where`` and composable with ``vmap``/``jvp``.
    """
    return torch.ops.aten.leaky_relu_backward(G, Z, NEGATIVE_SLOPE, False)


def activation(S):
    """Sigmoid (one column) or softmax of the scores."""
    if S.shape[-1] == 1:
        return torch.sigmoid(S)
    if S.stride(-2) == 1 and S.shape[-2] > 1:
        # Scores a product left column-major, (k, n) in memory: on the CPU, torch's
        # softmax along their short strided rows took ~250 µs at 1437 x 10, along
        # the same memory's other dimension 14 µs (a 10-class digits network's
        # training step: 1.8x faster in float32). The same maths; other last bits.
        return torch.softmax(S.mT, dim=-2).mT
    return torch.softmax(S, dim=-1)


def activation_jvp(P, U):
    """Derivative of :func:`activation` at probabilities ``P`` applied to ``U``."""
    if P.shape[-1] == 1:
        return (P - P * P) * U
    return P * (U - torch.sum(P * U, dim=-1, keepdim=True))


def forward(layers, X):
    """Pre-activations ``[Z_1 .. Z_{L-1}]``, inputs ``[H_0 .. H_{L-1}]``, scores."""
    hidden, pre = [X], []
    for W, b in layers[:-1]:
        Z = addmm(b, hidden[-1], W)
        pre.append(Z)
        hidden.append(torch.nn.functional.leaky_relu(Z, NEGATIVE_SLOPE))
    W, b = layers[-1]
    return pre, hidden, addmm(b, hidden[-1], W)


def backward(layers, pre, hidden, G):
    """Backpropagate ``G = dL/dS``.

    Returns
    -------
    pieces : list of Tensor
        ``[dW_0.ravel(), db_0, dW_1.ravel(), ...]`` in parameter order.
    deltas : list of Tensor
        ``[G_1 .. G_L]``, ``G_{l+1} = dL/dZ_{l+1}`` (``G_L = G``).
    """
    pieces, deltas = [], [G]
    for layer in range(len(layers) - 1, -1, -1):
        pieces.append(G.sum(-2))
        pieces.append(matmul(hidden[layer].mT, G).flatten(-2))
        if layer:
            G = leaky_grad(matmul(G, layers[layer][0].mT), pre[layer - 1])
            deltas.append(G)
    pieces.reverse()
    deltas.reverse()
    return pieces, deltas


def deltas(layers, pre, G):
    """``[G_1 .. G_L]`` alone (no parameter gradients: no ``n x d`` product)."""
    out = [G]
    for layer in range(len(layers) - 1, 0, -1):
        G = leaky_grad(matmul(G, layers[layer][0].mT), pre[layer - 1])
        out.append(G)
    out.reverse()
    return out


def directional(layers, directions, pre, hidden, P, deltas, n_samples, n_poison=0):
    """R-operator of the gradient in the parameter direction ``directions``.

    Parameters
    ----------
    layers, directions : list of (W, b)
        The parameters and the direction ``a`` split the same way.
    pre, hidden : lists from :func:`forward`.
    P : Tensor
        ``activation(S)``.
    deltas : list from :func:`backward`.
    n_samples : int
        The ``n`` of the mean loss.
    n_poison : int
        The input term is formed for the last ``n_poison`` rows only.

    Returns
    -------
    pieces : list of Tensor
        ``H_data a`` split as the parameters (concatenate for the vector).
    input_term : Tensor of shape (n_poison, n_features)
        ``R(dL/dX) = R(G_1) W_0^T + G_1 A_0^T`` on the last ``n_poison`` rows.
    """
    n_layers = len(layers)
    r_hidden = [None]                       # R(H_0) = R(X) = 0
    for layer, ((W, _), (A, a_b)) in enumerate(zip(layers, directions)):
        RZ = addmm(a_b, hidden[layer], A)
        if layer:  # out of place: in-place ops have no vmap batching rule
            RZ = addmm(RZ, r_hidden[layer], W)
        if layer < n_layers - 1:
            r_hidden.append(leaky_grad(RZ, pre[layer]))
    RG = activation_jvp(P, RZ) / n_samples
    pieces = []
    for layer in range(n_layers - 1, -1, -1):
        W, A, G = layers[layer][0], directions[layer][0], deltas[layer]
        dW = matmul(hidden[layer].mT, RG)
        if layer:
            dW = addmm(dW, r_hidden[layer].mT, G)
        pieces.append(RG.sum(-2))
        pieces.append(dW.flatten(-2))
        if layer:
            RG = leaky_grad(addmm(matmul(RG, W.mT), G, A.mT), pre[layer - 1])
    pieces.reverse()
    start = RG.shape[-2] - n_poison
    W, A, G = layers[0][0], directions[0][0], deltas[0]
    return pieces, addmm(matmul(RG[..., start:, :], W.mT), G[..., start:, :], A.mT)
