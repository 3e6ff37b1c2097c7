"""Proximal (soft-thresholding) L1 steps: ``w' = S(w - lr grad L_data(w), lr alpha)``.

With ``z = w - lr grad L_data(w)`` and ``t = lr alpha`` (elementwise; 0 for
unpenalized parameters) a proximal-gradient (ISTA) step is
``w' = S(z, t) = sign(z) max(|z| - t, 0)``. Its derivatives, used by every
hypergradient method, are::

    dw'/dw        = diag(m) (I - lr H_data(w)),   m = (|z| > t) or (t = 0)
    dw'_i/dλ_g    = -lr alpha_i sign(w'_i)        (i in group g)

``m`` is read off the next iterate, ``m = (w' != 0) | (t == 0)``: in IEEE
arithmetic ``|z| - t > 0`` exactly where ``|z| > t``, so ``w'`` is nonzero
exactly there. Weights whose optimum is 0 are then exactly 0 (the subgradient
step ``w - lr (grad L_data + alpha sign(w))`` makes them zigzag by ``lr alpha``).
"""

from __future__ import annotations

import torch

#: The values of ``l1_step``: the paper's subgradient steps, or proximal ones.
L1_STEPS = ("subgradient", "proximal")


def check_l1_step(l1_step):
    """Refuse an ``l1_step`` outside :data:`L1_STEPS` (ValueError naming the option)."""
    if l1_step not in L1_STEPS:
        raise ValueError(f"l1_step={l1_step!r} is not supported; use one of {L1_STEPS}.")


def takes_proximal_steps(penalty, l1_step):
    """Whether a model with ``penalty`` and ``l1_step`` (checked) takes proximal steps.

    Examples
    --------
    >>> takes_proximal_steps("l1", "proximal"), takes_proximal_steps("l2", "proximal")
    (True, False)
    """
    check_l1_step(l1_step)
    return penalty == "l1" and l1_step == "proximal"


def soft_threshold(z, threshold):
    """``sign(z) max(|z| - threshold, 0)``, computed as ``z - clamp(z, -t, t)``.

    The two agree bit for bit (``z - t`` or ``z + t`` where ``|z| > t``, else
    ``z - z = 0``) but for the sign of a zero (here always +0; the other form
    gives -0 for negative ``z``, which compares equal); this form has one
    operation the loops can do in place.
    ``threshold = 0`` leaves ``z`` as it is (unpenalized parameters).

    Examples
    --------
    >>> z = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5])
    >>> soft_threshold(z, torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0]))
    tensor([-1.0000,  0.0000,  0.0000,  0.0000,  1.5000])
    """
    return z - torch.clamp(z, min=-threshold, max=threshold)


def soft_threshold_(z, threshold, neg_threshold):
    """:func:`soft_threshold` in place (``neg_threshold = -threshold``, precomputed)."""
    return z.sub_(torch.clamp(z, min=neg_threshold, max=threshold))


def support(w_next, threshold):
    """The Jacobian's mask ``m`` as ``w_next``'s dtype: 1 where ``w_next != 0`` or ``t == 0``.

    Examples
    --------
    >>> support(torch.tensor([0.0, 0.5, 0.0]), torch.tensor([1.0, 1.0, 0.0]))
    tensor([0., 1., 1.])
    """
    return ((w_next != 0) | (threshold == 0)).to(w_next.dtype)


def fixed_point_residual(w, data_grad, lr, alpha):
    """``(w - S(w - lr grad L_data(w), lr alpha)) / lr``: 0 exactly at a proximal optimum.

    The stationarity measure of an L1 problem (the gradient of the training
    loss is not 0 there: the penalty has no gradient at its zeros).
    """
    return (w - soft_threshold(w - lr * data_grad, lr * alpha)) / lr
