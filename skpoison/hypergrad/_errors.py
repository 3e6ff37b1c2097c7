"""The engine's errors and warnings: a diverged inner run, overflowed outputs, an
implicit method's unmet assumptions."""

from __future__ import annotations


class InnerDivergenceError(FloatingPointError):
    """The inner gradient descent diverged: the model it returned is noise.

    Raised for NaN or inf parameters and, for the built-in models, for a rate
    that is unstable for an L2 penalty (``lr * exp(λ) >= 2``) or a training
    objective that ended above its start (under L1, far above it: see
    :func:`allowed_rise`) or NaN, though the parameters stayed finite.

    See Also
    --------
    compute_hypergradient : its example shows one raised.
    check_finite
    """


class HypergradientOverflowError(FloatingPointError):
    """The inner run stayed finite but the validation loss or the hypergradients did not.

    NaN/inf outputs: features of huge magnitude (scale them, or use float64),
    or an inner rate above what the curvature allows, where the run
    oscillates and each reverse step amplifies (lower ``inner_lr``; float64
    would only hide it behind a huge, meaningless hypergradient).

    See Also
    --------
    compute_hypergradient : its example shows one raised.
    """


class InnerNotConvergedWarning(UserWarning):
    """The inner problem is not at a stationary point; implicit hypergradients
    then answer a different question from the unrolled ones.

    See Also
    --------
    implicit_hypergradient : its example shows one issued.
    """


class HessianSolveWarning(UserWarning):
    """The implicit methods' linear solve ``H u = grad L_val`` missed its
    tolerance: the training Hessian is singular or indefinite there, or the
    conjugate gradients were capped (``maxiter``) too early. Where the solve
    made no step at all (CG meeting a Hessian that does not curve up along
    ``grad L_val`` itself, as a network's may not away from a minimum), the
    hypergradient is exactly 0 and no estimate; the message says so, and
    :func:`~skpoison.hypergrad._warnings.warnings_once` shows it even after
    other warnings of this class.

    See Also
    --------
    implicit_hypergradient : its example shows one issued.
    """
