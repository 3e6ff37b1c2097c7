"""The outer update of λ: projected descent on the validation loss.

Shared by the estimators' ``fit`` and the poisoner's defender, so that the
attacker models exactly how the defender learns λ.
"""

from __future__ import annotations

import torch

OUTER_OPTIMIZERS = ("adam", "gd", "sign")


class LambdaOptimizer:
    """Projected descent on λ: Adam steps, plain gradient steps or sign steps.

    The hypergradient with respect to ``log_lambda`` scales with
    ``exp(lambda)``, so plain steps crawl at small λ and jump at large λ; Adam's
    per-coordinate normalization makes ``lr`` a step length in log space
    (at most about ``lr`` per step), whatever the scale. ``"sign"`` moves every
    λ by exactly ``lr`` against the sign of its hypergradient (the gradient
    "normalized with respect to its value"). Every step is projected onto
    ``[low, high]``.

    Parameters
    ----------
    kind : {"adam", "gd", "sign"}
    lr : float
    bounds : tuple of float
        ``(low, high)``; ``low`` may be ``-inf``.
    betas : tuple of float, default=(0.9, 0.999)
    eps : float, default=1e-12

    Examples
    --------
    >>> opt = LambdaOptimizer("adam", 0.5, (-10.0, 0.0))
    >>> lam = torch.tensor([-4.0], dtype=torch.float64)
    >>> opt.step(lam, torch.tensor([-1e-4], dtype=torch.float64))  # moves by ~lr
    tensor([-3.5000], dtype=torch.float64)
    """

    def __init__(self, kind, lr, bounds, betas=(0.9, 0.999), eps=1e-12):
        if kind not in OUTER_OPTIMIZERS:
            raise ValueError(f"outer_optimizer={kind!r} is not supported; use one of "
                             f"{OUTER_OPTIMIZERS}.")
        self.kind, self.lr, self.eps = kind, float(lr), eps
        self.low, self.high = bounds
        self.beta1, self.beta2 = betas
        self.reset()

    def reset(self):
        """Forget the moment estimates (a new problem starts)."""
        self._t, self._m, self._v = 0, None, None

    def step(self, log_lambda, grad):
        """Return ``clamp(log_lambda - step(grad), low, high)`` (no host sync)."""
        # Coordinates at -inf (no regularization) stay put whatever their
        # gradient; a NaN anywhere else is a real failure and propagates.
        grad = torch.where(torch.isneginf(log_lambda), torch.zeros_like(grad), grad)
        # A rate past the dtype's largest value (1e39 in float32) would be inf there,
        # and inf times those zeros NaN: the largest finite rate steps as far (to a bound).
        lr = min(self.lr, float(torch.finfo(grad.dtype).max))
        if self.kind == "gd":
            update = lr * grad
        elif self.kind == "sign":
            update = lr * torch.sign(grad)
        else:
            # Adam's step does not depend on the gradient's scale, but its
            # squares overflow: a float32 hypergradient of 1e20 made the second
            # moment inf and the step 0, so λ stalled with nothing said. Finite
            # gradients are clipped to sqrt(max) / 4, which keeps every moment
            # finite; smaller ones (all in practice) are untouched to the bit.
            limit = float(torch.finfo(grad.dtype).max) ** 0.5 / 4
            # (clamp keeps NaN; infinities pass unclipped: a failure, not a large step)
            grad = torch.where(grad.abs() == float("inf"), grad, grad.clamp(-limit, limit))
            self._t += 1
            if self._m is None:
                self._m, self._v = torch.zeros_like(grad), torch.zeros_like(grad)
            self._m = self.beta1 * self._m + (1 - self.beta1) * grad
            self._v = self.beta2 * self._v + (1 - self.beta2) * grad * grad
            m_hat = self._m / (1 - self.beta1 ** self._t)
            v_hat = self._v / (1 - self.beta2 ** self._t)
            update = lr * m_hat / (torch.sqrt(v_hat) + self.eps)
        return (log_lambda - update).clamp(self.low, self.high)


class ValidationPlateau:
    """The stopping rule of ``fit`` with a ``tol``: the validation loss stopped improving.

    As scikit-learn's ``MLPClassifier`` and ``SGDClassifier``: a step
    improves when its loss is below the best so far by more than ``tol``;
    the loop stops after ``n_iter_no_change`` consecutive steps that do not.
    A loss equal to the best is no gain, also at ``tol=0`` (scikit-learn
    counts it as one: a λ held at a bound repeats its loss exactly, and
    would never stop), nor is a NaN loss.

    Parameters
    ----------
    tol : float
        The least decrease of the validation loss that counts (absolute).
    n_iter_no_change : int
        Consecutive steps without it before the loop stops.

    Examples
    --------
    >>> rule = ValidationPlateau(tol=0.01, n_iter_no_change=2)
    >>> [rule.update(loss) for loss in (0.5, 0.4, 0.395, 0.41)]
    [False, False, False, True]
    """

    def __init__(self, tol, n_iter_no_change):
        self.tol, self.n_iter_no_change = float(tol), int(n_iter_no_change)
        self.best, self.steps_without_gain = float("inf"), 0

    def update(self, loss):
        """Record one step's validation loss (a float); True: stop now."""
        if loss < self.best - self.tol:
            self.steps_without_gain = 0
        else:
            self.steps_without_gain += 1
        self.best = min(self.best, loss)
        return self.steps_without_gain >= self.n_iter_no_change
