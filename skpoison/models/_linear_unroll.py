"""Fast unrolled gradient descent and reverse pass for the linear models.

The loops work on the augmented design ``X1 = [X, 1]`` and the parameter
matrix ``Theta = [W; b]^T`` of shape ``(n_outputs, n_features + 1)`` (for a
binary model simply the parameter vector). A step is two matrix products and
three elementwise operations::

    P      = act(Theta X1^T)                      # sigmoid or softmax, (k, n)
    Theta <- c * Theta - (lr / n) (P - Y^T) X1    # c = 1 - lr * alpha (L2)

and a reverse step is the same two products::

    U      = A X1^T;  JU = act'(P) U
    A     <- c * A - (lr / n) JU X1

``-lr / n`` enters the reverse step through ``act'(P)``, scaled once for the
whole tape (for softmax a scaled copy of ``P`` beside ``P``), rather than as
the product's ``alpha``: ``JU`` grows with the square of the features'
magnitude, and ``JU X1`` with the cube, which in float32 can overflow
(features of magnitude ~1e15) before a BLAS applies ``alpha``.

Both products keep the thin matrix on the left: BLAS libraries (MKL on AMD
processors for one) are up to five times slower on ``X1 @ W`` with few
columns. The mixed second derivatives do not feed back into the recursion, so
they are not formed per step: the tape keeps ``Theta_t``, ``P_t`` and ``A_t``
and both are reduced once at the end (one elementwise product for λ; for the
poisoning points one ``(T k) x d1 x m`` product recomputes ``JU_t`` on the
``m`` poisoning columns, then two small matrix products).

Proximal L1 steps (``problem.proximal``) soft-threshold ``Theta`` after the
data step, ``Theta <- S(Theta - (lr / n) (P - Y^T) X1, lr alpha)``; the
reverse step first masks the adjoint, ``A <- m_{t+1} A`` with ``m_{t+1} = (Theta_{t+1}
!= 0) | (lr alpha = 0)``, then takes the data part as above, and the λ term
takes ``sign(Theta_{t+1})``. Their tapes keep all ``T + 1`` iterates for that.
"""

from __future__ import annotations

import torch

from ..hypergrad._prox import soft_threshold_
from ..hypergrad._unroll import Unroll, aligned_rows, fast_loops, ordinary


def _activation_jvp(prob, U, binary, class_dim, scaled_prob=None):
    """``act'(P) U``: ``p (1 - p) U`` (sigmoid), or the softmax's Jacobian along ``class_dim``.

    The softmax's Jacobian is ``P (U - sum(P U))``; ``scaled_prob``, ``c P``,
    replaces its leading ``P`` to give ``c act'(P) U`` at no extra cost.
    """
    if binary:
        return (prob - prob * prob) * U
    leading = prob if scaled_prob is None else scaled_prob
    return leading * (U - torch.sum(prob * U, dim=class_dim, keepdim=True))


class LinearUnroll(Unroll):
    """:class:`~skpoison.hypergrad.Unroll` specialised to :class:`LinearProblem`.

    Examples
    --------
    >>> import torch
    >>> from skpoison.models import LinearProblem
    >>> problem = LinearProblem(2, 1)
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> Y = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    >>> unroll = problem.unroll(torch.zeros(1, dtype=torch.float64), X, Y, lr=1.0)
    >>> type(unroll).__name__
    'LinearUnroll'
    """

    def __init__(self, problem, log_lambda, X, Y, *, lr, n_poison=0):
        super().__init__(problem, log_lambda, X, Y, lr=lr, n_poison=n_poison)
        n, d = X.shape
        self.k = k = problem.n_outputs
        self.d1 = d + 1
        self.binary = k == 1
        self.X1 = torch.cat([X, X.new_ones((n, 1))], dim=1)
        self.X1T = self.X1.T.contiguous()
        self.YT = Y[:, 0] if self.binary else Y.T.contiguous()    # (n,) or (k, n)
        self.scale = -self.lr / n
        penalty = problem.penalty
        self.l1 = penalty.kind == "l1"
        self.prox = problem.proximal
        self.alpha = penalty.alpha(log_lambda)                     # standard layout
        alpha = self.to_internal(self.alpha)
        self.lr_alpha = self.lr * alpha
        self.shrink = 1.0 - self.lr_alpha
        self._prox_setup()

    def _prox_setup(self):
        """Proximal steps' thresholds ``±lr alpha`` and where they are nonzero."""
        if self.prox:
            self.neg_lr_alpha = -self.lr_alpha
            self.thresholded = self.lr_alpha != 0

    # -- layouts ---------------------------------------------------------------
    def to_internal(self, w):
        """``[W.ravel(), b]`` -> ``Theta.ravel()`` (a no-op for binary models)."""
        return w if self.binary else w.view(self.d1, self.k).T.reshape(-1)

    def to_standard(self, theta):
        """``Theta.ravel()`` -> ``[W.ravel(), b]``."""
        return theta if self.binary else theta.view(self.k, self.d1).T.reshape(-1)

    # -- one step --------------------------------------------------------------
    def _prob(self, theta, out=None):
        """Sigmoid (binary) or softmax (over classes) of ``Theta X1^T``."""
        if self.binary:   # (into out in place: no product allocated per step)
            return (torch.sigmoid(torch.mv(self.X1, theta)) if out is None
                    else torch.mv(self.X1, theta, out=out).sigmoid_())
        prob = torch.softmax(torch.mm(theta.view(self.k, self.d1), self.X1T), dim=0)
        return prob if out is None else out.copy_(prob)

    def _add_data_part(self, start, residual, out=None, *, alpha=None):
        """``start + alpha residual X1`` (into ``out`` if given); by default alpha = -lr / n.

        ``out`` may be ``start`` itself: the sum is then made in place, which
        saves the copy of ``start`` into ``out`` that ``addmv(out=)`` makes
        (the same kernel, the same bits).
        """
        alpha = self.scale if alpha is None else alpha
        if out is start:
            if self.binary:
                return out.addmv_(self.X1T, residual, alpha=alpha)
            out.view(self.k, self.d1).addmm_(residual, self.X1, alpha=alpha)
            return out
        if self.binary:
            return torch.addmv(start, self.X1T, residual, alpha=alpha, out=out)
        shape = (self.k, self.d1)
        result = torch.addmm(start.view(shape), residual, self.X1, alpha=alpha,
                             out=None if out is None else out.view(shape))
        return result.view(-1)

    def _update(self, theta, residual, out=None):
        """One gradient step ``theta - lr * (data gradient + penalty gradient)``
        (proximal: the data step, then the soft threshold)."""
        if self.prox:
            z = torch.add(theta, self._data_product(residual).mul_(self.scale), out=out)
            return soft_threshold_(z, self.lr_alpha, self.neg_lr_alpha)
        if self.l1:
            start = torch.addcmul(theta, self.lr_alpha, torch.sign(theta), value=-1.0, out=out)
            return start.add_(self._data_product(residual).mul_(self.scale))
        start = torch.mul(theta, self.shrink, out=out)
        return self._add_data_part(start, residual, out)   # (in place when out is given)

    def _data_product(self, residual):
        """``residual X1`` (flat, internal layout), unscaled.

        L1's steps sum the data gradient first and scale it after: a gradient
        that cancels exactly (at ``w = 0``, on features that are multiples of
        1/16, say) then stays exactly 0, and so does the weight, since
        ``sign(0) = 0``. A product with ``alpha`` may scale the terms before
        summing them (BLAS libraries differ), leave about 1e-18 there, and
        L1's sign turn that into a full ``lr * exp(λ)`` step: the single and
        the batched loops, and two devices, would then differ by far more
        than rounding. A known limit remains: softmax over ``k`` classes, ``k``
        not a power of two, is ``fl(1/k)`` at ``w = 0``, already rounded, so
        there a cancelling column may still leave ~1e-18, and which weights
        take that step depends on the order of the rows (and of the sums).
        """
        if self.binary:
            return torch.mv(self.X1T, residual)
        return torch.mm(residual, self.X1).view(-1)

    def _shrunk(self, adjoint, out=None):
        """The penalty's part of an adjoint step: ``adjoint`` itself (L1, whose
        Hessian is 0 almost everywhere) or ``shrink * adjoint`` (L2), into ``out``."""
        if self.l1:
            return adjoint if out is None else out.copy_(adjoint)
        return torch.mul(adjoint, self.shrink, out=out)

    def _jac_u(self, factor, adjoint, scaled_factor=None, out=None):
        """``act'(P) (A X1^T)``: the data Hessian's inner factor applied to ``A``.

        ``factor`` is ``p (1 - p)`` (times ``c``: the result is then scaled by
        ``c``) for binary models and ``P`` for softmax, whose
        ``scaled_factor``, ``c P``, scales the result by ``c``. Binary
        models write it into ``out`` when given (a buffer reused every step).
        """
        if self.binary:
            return torch.mv(self.X1, adjoint, out=out).mul_(factor)
        U = torch.mm(adjoint.view(self.k, self.d1), self.X1T)
        return _activation_jvp(factor, U, False, class_dim=0, scaled_prob=scaled_factor)

    # -- loops -----------------------------------------------------------------
    def train(self, w0, steps):
        # Two buffers written with the same out= kernels as forward(): the
        # iterates are bitwise those of a recorded forward pass (checkpointing
        # recomputes segments and relies on it).
        with fast_loops(w0):
            theta = self.to_internal(w0)
            buffers = aligned_rows(theta, 2, theta.numel()).unbind(0)
            prob, residual = theta.new_empty(self.YT.shape), theta.new_empty(self.YT.shape)
            for t in range(steps):
                self._prob(theta, out=prob)
                theta = self._update(theta, torch.sub(prob, self.YT, out=residual),
                                     out=buffers[t % 2])
        return ordinary(self.to_standard(theta))

    def forward(self, w0, steps):
        with fast_loops(w0):
            W, P = self._record(w0, steps)
        # (a copy: a view would keep the whole tape alive as long as w_T)
        return ordinary(self.to_standard(W[steps].clone())), (W if self.prox else W[:steps], P)

    def _record(self, w0, steps):
        """The iterates ``W`` (``steps + 1`` rows) and activations ``P`` of ``steps`` steps."""
        # Iterates and activations go straight into preallocated (T, ...) buffers.
        W = aligned_rows(w0, steps + 1, w0.numel())
        W[0] = self.to_internal(w0)
        P = w0.new_empty((steps, *self.YT.shape))
        rows, probs = W.unbind(0), P.unbind(0)
        residual = w0.new_empty(self.YT.shape)
        for t in range(steps):
            prob = self._prob(rows[t], out=probs[t])
            self._update(rows[t], torch.sub(prob, self.YT, out=residual), out=rows[t + 1])
        return W, P

    def _adjoint_rows(self, a, steps):
        """The ``(steps, n_params)`` adjoint block: ``A[t]`` meets step ``t``; the last is ``a``.
        """
        A = aligned_rows(a, steps, a.numel())
        if steps:
            A[-1] = self.to_internal(a)
        return A

    def backward(self, tape, a, *, return_adjoint=False):
        W, P = tape
        steps = P.shape[0]
        with fast_loops(a):
            dead = self._dead(W)
            A, first = self._reverse(P, a, steps, return_adjoint, dead)
        # (outside inference mode: ordinary results)
        grads = self._reduce(W[:steps], A, P, W[1:] if self.prox else None)
        return (*grads, ordinary(self.to_standard(first))) if return_adjoint else grads

    def _dead(self, W):
        """Proximal steps: where each step's mask ``m_{t+1}`` is 0, ``(T, n_params)`` bools."""
        return (W[1:] == 0) & self.thresholded if self.prox else None

    def _reverse(self, P, a, steps, return_adjoint, dead=None):
        """The adjoint rows ``A``, and the adjoint of the tape's first iterate.

        Proximal steps (``dead``: :meth:`_dead`) mask each row ``A[t]`` in
        place before using it, so ``A`` holds the masked adjoints ``m_{t+1}
        A[t]`` that the mixed terms take.
        """
        A = self._adjoint_rows(a, steps)
        # -lr / n (see the module docstring) enters every step's factor in one
        # tape-wide operation: p (1 - p) (-lr / n) for binary models; for
        # softmax, (-lr / n) P beside P.
        if self.binary:
            factors, scaled = ((P - P * P) * self.scale).unbind(0), None
        else:
            factors, scaled = P.unbind(0), (P * self.scale).unbind(0)
        adjoints = A.unbind(0)
        first = self.to_internal(a)           # the adjoint of the tape's first iterate
        U = P.new_empty(P.shape[1:]) if self.binary else None
        for t in range(steps - 1, 0 if not return_adjoint else -1, -1):
            # (the adjoint of w_0 itself, t = 0, is rarely needed)
            if dead is not None:
                adjoints[t].masked_fill_(dead[t], 0.0)
            jac_u = self._jac_u(factors[t], adjoints[t], None if scaled is None else scaled[t],
                                out=U)
            out = adjoints[t - 1] if t else None
            first = self._add_data_part(self._shrunk(adjoints[t], out), jac_u, out, alpha=1.0)
        if dead is not None and steps and not return_adjoint:
            adjoints[0].masked_fill_(dead[0], 0.0)
        return A, first

    def _poison_jac_u(self, A, P):
        """``act'(P_t) (A_t X1^T)`` on the poisoning columns, all steps at once.

        The loop does not keep its ``n``-long products: the poison term only
        needs their last ``m`` columns, which one ``(T k) x d1 x m`` product
        after the loop recomputes. Returns ``(T, k, m)``.
        """
        k, d1, m = self.k, self.d1, self.n_poison
        n = self.X1.shape[0]
        U = torch.matmul(A.view(-1, k, d1), self.X1[n - m:].T)      # (T, k, m)
        prob = P.view(-1, k, n)[:, :, n - m:]
        return _activation_jvp(prob, U, self.binary, class_dim=1)

    def _reduce(self, W, A, P, W_next=None):
        """Sum the mixed second derivatives over the ``T`` recorded steps.

        ``W``, ``A``: ``(T, n_params)`` iterates and adjoints (internal
        layout); ``P``: ``(T, n)`` or ``(T, k, n)`` activations. ``W_next``
        (proximal steps): the iterates after each step, whose signs the λ
        term takes.
        """
        penalty = self.problem.penalty
        signs = penalty.dR(W) if W_next is None else torch.sign(W_next)
        summed = self.to_standard(torch.sum(signs * A, dim=0))
        grad_lambda = -self.lr * penalty.group_sum(self.alpha * summed)
        rows, k, d1, m = W.shape[0] * self.k, self.k, self.d1, self.n_poison
        n = self.X.shape[0]
        # d/dx_i of a^T grad = (A_W r_i + W act'(P_i) u_i) / n, summed over t and k:
        # the (t, class) pairs are the inner dimension of two matrix products.
        # (-lr / n enters the small factors, before the products: see the module docstring)
        residual = (P.view(-1, k, n) - self.YT.view(k, n))[:, :, n - m:].reshape(rows, m)
        residual = residual * self.scale
        jac_u = self._poison_jac_u(A, P).reshape(rows, m) * self.scale

        def weights(M):   # (T, n_params) -> (T * k, n_features)
            return M.view(-1, k, d1)[:, :, :-1].reshape(rows, d1 - 1)

        grad_poison = residual.T @ weights(A)
        return grad_lambda, grad_poison.addmm_(jac_u.T, weights(W))
