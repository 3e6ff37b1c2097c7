"""The loops of :class:`~skpoison.models._linear_unroll.LinearUnroll` for ``K`` problems.

Every product is one batched product (``bmm``) over the ``K`` designs; see
``_linear_unroll.py`` for the steps and the layouts. The design is stored once:
a transposed copy on the CPU, a view of the rows on other devices (below).
"""

from __future__ import annotations

import torch

from ..hypergrad._prox import soft_threshold_
from ..hypergrad._unroll import Unroll, aligned_rows
from ._linear_unroll import LinearUnroll, _activation_jvp


#: Devices whose batched loops multiply by a transposed *copy* of the design.
#: On the CPU the copy is what MKL is fast on (see _linear_unroll.py's docstring). On a
#: GPU cuBLAS takes the transposed view as it is, and one design instead of two
#: halves the memory. (It was meant to keep a ``K = 10`` MNIST-sized stack,
#: 31 MB in float32, in an H100's 50 MB L2 cache; measured, the batched attack
#: took the same time either way, its designs streaming at HBM speed.)
TRANSPOSED_COPY_DEVICES = frozenset({"cpu"})


#: Where the batched loops multiply by views of the design (not the devices
#: above), its rows start at multiples of this many bytes: the design is a
#: ``(K, n, d + 1)`` view of a buffer whose rows are padded. BLAS libraries take
#: the padded row stride as the matrix's leading dimension (no copy), and
#: cuBLAS's vectorized loads want 16-byte aligned leading dimensions, which
#: ``d + 1`` columns (785 for MNIST) are not. 1: no padding, the default: padded
#: rows of 16 bytes were as fast or slower in every run measured (H100s and an
#: H200, 2026-11-27 and 11-28: the batched attack 0-10 % slower; see
#: ``benchmarks/README.md``). Kept as a setting for the benchmark.
DESIGN_ROW_ALIGNMENT = 1


def _augmented_design(X):
    """``X1 = [X, 1]`` of shape ``(K, n, d + 1)``: contiguous, or with padded rows (above)."""
    K, n, d = X.shape
    per_row = max(1, DESIGN_ROW_ALIGNMENT // X.element_size())
    if X.device.type in TRANSPOSED_COPY_DEVICES or (d + 1) % per_row == 0:
        return torch.cat([X, X.new_ones((K, n, 1))], dim=2)
    stride = -(-(d + 1) // per_row) * per_row
    X1 = X.new_empty((K, n, stride))[..., :d + 1]     # (the padding is never read)
    X1[..., :d] = X
    X1[..., d] = 1.0
    return X1


def _transposed_design(X1):
    """``X1^T`` for the batched steps' products: a copy or a view (see above)."""
    transposed = X1.transpose(1, 2)
    return transposed.contiguous() if X1.device.type in TRANSPOSED_COPY_DEVICES else transposed


class BatchedLinearUnroll(LinearUnroll):
    """``K`` independent :class:`LinearUnroll` problems as one batched computation.

    ``log_lambda`` is ``(K, n_hyper)``, ``X`` ``(K, n, n_features)``, ``Y``
    ``(K, n, n_outputs)``; iterates and adjoints are ``(K, n_params)``. The
    steps of :class:`LinearUnroll` run on ``(K, k, d1)`` views of the same
    flat tape rows; every product is one batched product (``bmm``).

    ``lr`` is a float (shared by the ``K`` problems) or a tensor of shape
    ``(K,)``, one learning rate per problem, as
    :func:`~skpoison.hypergrad.batched_hypergradient` checks them: then ``self.lr`` is that tensor
    and ``self.scale`` the ``(K, 1, 1)`` tensor ``-lr / n``. A product's
    scalar ``alpha`` cannot carry it, so it is folded into the small
    ``(K, k, n)`` factors the design is multiplied by: in the kernel that
    forms the residual in a forward step, and once for the whole tape in the
    reverse pass. The design itself is stored once.

    Examples
    --------
    >>> import torch
    >>> from skpoison.models import LinearProblem
    >>> problem = LinearProblem(2, 1)
    >>> X = torch.rand(3, 4, 2, dtype=torch.float64)
    >>> Y = (torch.rand(3, 4, 1) < 0.5).to(torch.float64)
    >>> unroll = BatchedLinearUnroll(problem, torch.zeros(3, 1, dtype=torch.float64), X, Y,
    ...                              lr=1.0, n_poison=1)
    >>> w_T, tape = unroll.forward(torch.zeros(3, 3, dtype=torch.float64), 5)
    >>> [g.shape for g in unroll.backward(tape, torch.ones_like(w_T))]
    [torch.Size([3, 1]), torch.Size([3, 1, 2])]
    >>> lrs = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)    # one per problem
    >>> unroll = BatchedLinearUnroll(problem, torch.zeros(3, 1, dtype=torch.float64), X, Y,
    ...                              lr=lrs, n_poison=1)
    >>> unroll.train(torch.zeros(3, 3, dtype=torch.float64), 5).shape
    torch.Size([3, 3])
    """

    def __init__(self, problem, log_lambda, X, Y, *, lr, n_poison=0):
        K, n, d = X.shape
        Unroll.__init__(self, problem, log_lambda, X, Y, lr=0.0, n_poison=n_poison)
        # A float, or one rate per problem: a (K,) tensor, already checked by the
        # callers (batched_hypergradient / batched_train), so no second host sync.
        self.lr = (lr.to(X) if isinstance(lr, torch.Tensor) and lr.dim() == 1
                   else float(lr))
        self.K, self.n = K, n
        self.k = k = problem.n_outputs
        self.d1 = d + 1
        self.binary = k == 1
        self.X1 = _augmented_design(X)                                   # (K, n, d1)
        self.X1T = _transposed_design(self.X1)                           # (K, d1, n)
        self.YT = Y[..., 0].contiguous() if self.binary else Y.transpose(1, 2).contiguous()
        penalty = problem.penalty
        self.l1 = penalty.kind == "l1"
        self.prox = problem.proximal
        self.alpha = penalty.alpha(log_lambda)                               # (K, P)
        if self.per_problem_lr:
            self.scale = (-self.lr / n).view(K, 1, 1)
            self.lr_alpha = self.to_internal(self.lr[:, None] * self.alpha)
        else:
            self.scale = -self.lr / n
            self.lr_alpha = self.lr * self.to_internal(self.alpha)
        self.shrink = 1.0 - self.lr_alpha
        shape = (K, k, d + 1)
        self.lr_alpha3, self.shrink3 = self.lr_alpha.view(shape), self.shrink.view(shape)
        self._prox_setup()
        if self.prox:
            self.neg_lr_alpha3 = self.neg_lr_alpha.view(shape)
        self.YT3 = self.YT.view(K, k, n)
        # A shared rate is the products' alpha; one rate per problem enters the
        # residual, (-lr / n) (P - Y) = (-lr / n) P + (lr / n) Y, in one kernel.
        self.alpha_step = 1.0 if self.per_problem_lr else self.scale
        self.scaled_YT3 = -self.scale * self.YT3 if self.per_problem_lr else None

    @property
    def per_problem_lr(self):
        """Whether each problem has its own learning rate (``self.lr`` of shape ``(K,)``)."""
        return isinstance(self.lr, torch.Tensor)

    # -- layouts: flat (K * n_params) internal vectors -------------------------
    def to_internal(self, w):
        if self.binary:
            return w.reshape(-1)
        return w.view(self.K, self.d1, self.k).transpose(1, 2).reshape(-1)

    def to_standard(self, theta):
        if self.binary:
            return theta.view(self.K, -1)
        return theta.view(self.K, self.k, self.d1).transpose(1, 2).reshape(self.K, -1)

    # -- loops on (K, k, d1) views ----------------------------------------------
    # The loops of LinearUnroll, written once more on per-step (K, k, d1) views
    # made before the loop: on a GPU a step costs what it launches and
    # dispatches, and the flat layout needed five reshapes per step.
    def _rows(self, M):
        """``(T, K * n_params)`` block -> ``T`` views of shape ``(K, k, d1)``."""
        return M.unflatten(1, (self.K, self.k, self.d1)).unbind(0)

    def _step(self, theta, prob, out):
        """One step from ``theta`` into ``out``; the activations land in ``prob``."""
        if self.binary:   # (the scores, (K, k, n), in place: no product allocated)
            torch.bmm(theta, self.X1T, out=prob).sigmoid_()
        else:
            prob.copy_(torch.softmax(torch.bmm(theta, self.X1T), dim=1))
        if self.prox:
            torch.add(theta, torch.bmm(prob - self.YT3, self.X1).mul_(self.scale), out=out)
            return soft_threshold_(out, self.lr_alpha3, self.neg_lr_alpha3)
        if self.l1:
            torch.addcmul(theta, self.lr_alpha3, torch.sign(theta), value=-1.0, out=out)
            # Sum first, then scale, as LinearUnroll._data_product explains.
            return out.add_(torch.bmm(prob - self.YT3, self.X1).mul_(self.scale))
        torch.mul(theta, self.shrink3, out=out)
        residual = (torch.addcmul(self.scaled_YT3, prob, self.scale) if self.per_problem_lr
                    else prob - self.YT3)
        # out += (-lr / n) residual X1, in place (no copy of out first)
        return out.baddbmm_(residual, self.X1, alpha=self.alpha_step)

    def train(self, w0, steps):
        # The kernels of forward() on buffers aligned like its rows: bitwise its iterates.
        theta = self.to_internal(w0).view(self.K, self.k, self.d1)
        buffers = self._rows(aligned_rows(theta, 2, theta.numel()))
        prob = theta.new_empty((self.K, self.k, self.n))
        for t in range(steps):
            theta = self._step(theta, prob, buffers[t % 2])
        return self.to_standard(theta)

    def forward(self, w0, steps):
        W = aligned_rows(w0, steps + 1, w0.numel())
        W[0] = self.to_internal(w0)
        P = w0.new_empty((steps, *self.YT.shape))
        rows, probs = self._rows(W), P.view(steps, self.K, self.k, self.n).unbind(0)
        for t in range(steps):
            self._step(rows[t], probs[t], rows[t + 1])
        return self.to_standard(rows[steps].clone()), (W if self.prox else W[:steps], P)

    def backward(self, tape, a, *, return_adjoint=False):
        W, P = tape
        steps = P.shape[0]
        A = self._adjoint_rows(a, steps)
        dead = self._dead(W)
        dead_rows = None if dead is None else self._rows(dead)
        # -lr / n scales the factors, once, never the products (as LinearUnroll.backward)
        P4 = P.view(steps, self.K, self.k, self.n)
        if self.binary:
            factors = ((P4 - P4 * P4) * self.scale).unbind(0)
        else:
            factors, scaled = P4.unbind(0), (P4 * self.scale).unbind(0)
        adjoints = self._rows(A)
        first = self.to_internal(a).view(self.K, self.k, self.d1)
        U = P4.new_empty(P4.shape[1:])               # (K, k, n), reused every step
        for t in range(steps - 1, 0 if not return_adjoint else -1, -1):
            if dead is not None:
                adjoints[t].masked_fill_(dead_rows[t], 0.0)
            torch.bmm(adjoints[t], self.X1T, out=U)
            if self.binary:
                jac_u = U.mul_(factors[t])
            else:
                jac_u = _activation_jvp(factors[t], U, False, class_dim=1,
                                        scaled_prob=scaled[t])
            first = adjoints[t - 1] if t else torch.empty_like(adjoints[t])
            if self.l1:
                first.copy_(adjoints[t])
            else:
                torch.mul(adjoints[t], self.shrink3, out=first)
            first.baddbmm_(jac_u, self.X1)
        if dead is not None and steps and not return_adjoint:
            adjoints[0].masked_fill_(dead_rows[0], 0.0)
        grads = self._reduce(W[:steps], A, P, W[1:] if self.prox else None)
        return (*grads, self.to_standard(first)) if return_adjoint else grads

    def _poison_jac_u(self, A, P):
        """As :meth:`LinearUnroll._poison_jac_u`, per problem: ``(T, K, k, m)``."""
        K, k, d1, n, m = self.K, self.k, self.d1, self.n, self.n_poison
        T = A.shape[0]
        U = torch.einsum("tpcd,pmd->tpcm", A.view(T, K, k, d1), self.X1[:, n - m:])
        prob = P.view(T, K, k, n)[..., n - m:]
        return _activation_jvp(prob, U, self.binary, class_dim=2)

    def _reduce(self, W, A, P, W_next=None):
        K, k, d1, n, m = self.K, self.k, self.d1, self.n, self.n_poison
        T = W.shape[0]
        penalty = self.problem.penalty
        signs = penalty.dR(W) if W_next is None else torch.sign(W_next)
        summed = self.to_standard(torch.sum(signs * A, dim=0))   # (K, P)
        lr = self.lr[:, None] if self.per_problem_lr else self.lr
        grad_lambda = penalty.group_sum(self.alpha * summed) * -lr
        # (T, K, k, n) -> (K, T * k, m) on the poisoning columns
        residual = (P.view(T, K, k, n) - self.YT.view(K, k, n))[..., n - m:]
        residual = residual.permute(1, 0, 2, 3).reshape(K, T * k, m) * self.scale
        jac_u = self._poison_jac_u(A, P).permute(1, 0, 2, 3).reshape(K, T * k, m) * self.scale

        def weights(M):   # (T, K * n_params) -> (K, T * k, n_features)
            return M.view(T, K, k, d1)[..., :-1].permute(1, 0, 2, 3).reshape(K, T * k, d1 - 1)

        grad_poison = torch.bmm(residual.transpose(1, 2), weights(A))
        return grad_lambda, grad_poison.baddbmm_(jac_u.transpose(1, 2), weights(W))
