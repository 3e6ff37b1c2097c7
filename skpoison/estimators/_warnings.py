"""The engine's convergence warnings, issued as scikit-learn's as well (private).

The engine (:mod:`skpoison.hypergrad`) never imports scikit-learn, so its
:class:`~skpoison.hypergrad.InnerNotConvergedWarning` and
:class:`~skpoison.hypergrad.HessianSolveWarning` are plain ``UserWarning``
subclasses. Fits, attacks and :func:`~skpoison.hypergradient` re-issue them as
the subclasses below, which are *also* scikit-learn's
:class:`~sklearn.exceptions.ConvergenceWarning`: a filter on either class
catches them, as a scikit-learn user expects of a solver that did not converge.
"""

from __future__ import annotations

from sklearn.exceptions import ConvergenceWarning

from .. import hypergrad
from .._warn import warn_user
from ..hypergrad._warnings import warnings_once

__all__ = ["InnerNotConvergedWarning", "HessianSolveWarning", "issue", "engine_warnings_once"]


class InnerNotConvergedWarning(hypergrad.InnerNotConvergedWarning, ConvergenceWarning):
    """:class:`skpoison.hypergrad.InnerNotConvergedWarning`, and a scikit-learn
    :class:`~sklearn.exceptions.ConvergenceWarning`."""


class HessianSolveWarning(hypergrad.HessianSolveWarning, ConvergenceWarning):
    """:class:`skpoison.hypergrad.HessianSolveWarning`, and a scikit-learn
    :class:`~sklearn.exceptions.ConvergenceWarning`."""


_AS_SKLEARN = {hypergrad.InnerNotConvergedWarning: InnerNotConvergedWarning,
               hypergrad.HessianSolveWarning: HessianSolveWarning}


def issue(message, category=UserWarning):
    """:func:`~skpoison._warn.warn_user`, with the engine's convergence warnings
    turned into their scikit-learn flavoured subclasses (for ``warnings_once``).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     issue("not converged", hypergrad.InnerNotConvergedWarning)
    >>> issubclass(caught[0].category, ConvergenceWarning)
    True
    """
    warn_user(message, _AS_SKLEARN.get(category, category))


def engine_warnings_once(what):
    """The engine's warnings of one loop (``what``: a fit, a call, an attack) issued
    once per category by :func:`issue`, then counted (:func:`warnings_once`).

    Examples
    --------
    Three warnings of the engine in one fit: the first, as scikit-learn's
    ``ConvergenceWarning`` too, then their count.

    >>> import warnings
    >>> from skpoison.hypergrad._warnings import warn
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     with engine_warnings_once("fit"):
    ...         for _ in range(3):
    ...             warn("not converged", hypergrad.InnerNotConvergedWarning)
    >>> [str(w.message) for w in caught]   # doctest: +NORMALIZE_WHITESPACE
    ['not converged',
     'InnerNotConvergedWarning was issued 3 times in this fit; only the first is shown.']
    >>> all(issubclass(w.category, ConvergenceWarning) for w in caught)
    True
    """
    return warnings_once(what, issue)
