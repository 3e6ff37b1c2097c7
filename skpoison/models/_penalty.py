"""Group-weighted L2 / L1 penalties on a flat parameter vector.

The penalty is ``sum_g exp(lambda_g) * R(w_g)`` with ``R = 0.5 * ||.||^2``
(``"l2"``) or ``||.||_1`` (``"l1"``, subgradient ``sign(w)`` with
``sign(0) = 0``). Which parameters belong to which group is a vector
``group_index`` (one entry per parameter, ``-1`` for unpenalized ones such as
biases), so one λ, one λ per layer and one λ per input feature are all the same
code.
"""

from __future__ import annotations

import torch

PENALTIES = ("l2", "l1")


class GroupPenalty:
    """Weighted penalty ``sum_g exp(lambda_g) R(w_g)`` over parameter groups.

    Parameters
    ----------
    kind : {"l2", "l1"}
        The regularizer ``R``.
    group_index : torch.LongTensor of shape (n_params,)
        Group of each parameter; ``-1`` marks an unpenalized parameter.
    n_groups : int
        Number of hyperparameters λ.

    Examples
    --------
    >>> import torch
    >>> from skpoison.models import GroupPenalty
    >>> pen = GroupPenalty("l2", torch.tensor([0, 0, -1]), 1)
    >>> w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    >>> float(pen.value(w, torch.zeros(1, dtype=torch.float64)))
    2.5
    """

    def __init__(self, kind, group_index, n_groups):
        if kind not in PENALTIES:
            raise ValueError(f"penalty={kind!r} is not supported; use one of {PENALTIES}.")
        self.kind = kind
        self.n_groups = int(n_groups)
        self.group_index = group_index.to(torch.long)
        self.penalized = self.group_index >= 0
        # Unpenalized parameters point at group 0 and are masked out.
        self._gather_index = self.group_index.clamp(min=0)
        self._on_device = {self.group_index.device: (self._gather_index, self.penalized)}

    def to(self, device):
        """Return this penalty with its index tensors on ``device``."""
        return GroupPenalty(self.kind, self.group_index.to(device), self.n_groups)

    def _indices(self, device):
        """``(gather_index, penalized)`` on ``device`` (copied once, then cached)."""
        if device not in self._on_device:
            self._on_device[device] = (self._gather_index.to(device),
                                       self.penalized.to(device))
        indices = self._on_device[device]
        if indices[0].is_inference() and not torch.is_inference_mode_enabled():
            # Made under torch.inference_mode, autograd may not save them: it gets
            # copies. Not cached in their place: a captured CUDA graph may read these.
            return tuple(t.clone() for t in indices)
        return indices

    def alpha(self, log_lambda):
        """Per-parameter weights ``exp(lambda_g(i))`` (0 for unpenalized ones).

        ``log_lambda`` may carry leading dimensions (``(K, n_groups)`` for
        ``K`` stacked problems): the weights then do too.
        """
        gather_index, penalized = self._indices(log_lambda.device)
        weights = torch.exp(log_lambda)[..., gather_index]
        return weights * penalized.to(weights.dtype)

    def group_sum(self, values):
        """Sum per-parameter ``values`` (0 at unpenalized ones) within each group.

        Leading dimensions of ``values`` are kept, as in :meth:`alpha`.
        """
        gather_index, _ = self._indices(values.device)
        out = values.new_zeros((*values.shape[:-1], self.n_groups))
        return out.index_add(-1, gather_index, values)

    def _dR(self, w):
        return w if self.kind == "l2" else torch.sign(w)

    def dR(self, w):
        """Derivative of ``R`` at each parameter: ``w`` (L2) or ``sign(w)`` (L1)."""
        return self._dR(w)

    def value(self, w, log_lambda):
        """Penalty value ``sum_g exp(lambda_g) R(w_g)``."""
        per_param = 0.5 * w * w if self.kind == "l2" else w.abs()
        return (self.alpha(log_lambda) * per_param).sum()

    def grad(self, w, log_lambda):
        """Gradient (L1: subgradient with sign(0) = 0) with respect to ``w``."""
        return self.alpha(log_lambda) * self._dR(w)

    def hvp(self, log_lambda, v):
        """Hessian-vector product (zero almost everywhere for L1)."""
        if self.kind == "l1":
            return torch.zeros_like(v)
        return self.alpha(log_lambda) * v

    def mixed_vjp(self, w, log_lambda, a):
        """``(d/d lambda grad_w penalty)^T a``: one entry per group."""
        return self.group_sum(self.alpha(log_lambda) * self._dR(w) * a)
