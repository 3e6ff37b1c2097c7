"""An attack's settings as the attack reads them (private).

An :class:`OptimalPoisoner` and its estimator have parameters that play no
part in the attack (the estimator's own ``fit`` loop, the trusted set it
would split off), and settings that can be written several ways: a device
``"auto"`` and the device it names, the poisoner's ``dtype=None`` and the
estimator's dtype it stands for. :func:`attack_settings` gives the settings
in the one form the attack reads them, so that :func:`fit_batched` and the
resume files compare attacks, not spellings.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from .._torch_utils import resolve_device, resolve_dtype
from ._base import check_ratios

__all__ = ["attack_settings", "DERIVED"]

#: The estimator's parameters that only its own ``fit`` reads: the attack's
#: defender takes the poisoner's ``outer_steps`` (and no stopping rule), its
#: victim is trained with ``inner_steps``, and the trusted set is always given.
FIT_ONLY_ESTIMATOR_PARAMS = frozenset({"outer_steps", "final_steps", "tol",
                                       "n_iter_no_change", "validation_fraction"})

#: Parameters that change no number of an attack (its progress bars, its file).
_NOT_NUMERIC = frozenset({"verbose", "resume_file", "estimator__verbose"})

#: The settings resolved from several parameters, and what each is made of.
DERIVED = {
    "device": "the device the attack runs on (the OptimalPoisoner parameter 'device', "
              "else the estimator parameter 'device'; 'auto' as resolved)",
    "dtype": "the dtype the attack runs in (the OptimalPoisoner parameter 'dtype', else "
             "the estimator parameter 'dtype')",
    "lambda_lr": "the defender's step size on λ (the OptimalPoisoner parameter "
                 "'lambda_lr', else the estimator parameter 'outer_lr')",
    "lambda_step": "the defender's step rule on λ (the OptimalPoisoner parameter "
                   "'lambda_step', else the estimator parameter 'outer_optimizer')",
    "ratios": "the OptimalPoisoner parameter 'ratios' (its distinct ratios, ascending)",
}


def attack_settings(poisoner, box=None):
    """``{name: value}`` of every parameter the attack reads, as it reads it.

    The poisoner's parameters by their names, its estimator's as
    ``estimator__<name>``, except:

    - ``verbose``, ``resume_file`` and the estimator's ``verbose``, and the
      estimator's parameters that only its own ``fit`` reads
      (:data:`FIT_ONLY_ESTIMATOR_PARAMS`), are left out;
    - ``device`` and ``dtype`` are the attack's, resolved (``"auto"``: the
      device it names here), and stand for the estimator's too;
    - ``lambda_lr`` and ``lambda_step`` are the defender's (the estimator's
      ``outer_lr`` and ``outer_optimizer`` where None) and stand for those two;
      with ``hyperparams="fixed"``, where λ does not move, all four are left
      out, as ``fixed_lambda`` is with ``"learn"`` (where it is ignored) and
      the estimator's ``lambda_init`` where a ``fixed_lambda`` replaces it;
    - ``ratios`` are the distinct ratios, ascending (one result each);
    - ``feature_range`` is ``box``, the ``(low, high)`` arrays the attack
      reads from it, where given.

    A value that cannot be resolved (an invalid device, say) is kept as
    given: the attack's own checks report it.

    Parameters
    ----------
    poisoner : OptimalPoisoner
    box : (ndarray, ndarray) or None, default=None
        The feature box read from ``feature_range`` (``poisoner._box``);
        None: ``feature_range`` as given.

    Returns
    -------
    dict
    """
    params = {name: value for name, value in poisoner.get_params(deep=True).items()
              if name not in _NOT_NUMERIC and not isinstance(value, BaseEstimator)}
    estimator = poisoner.estimator
    for name in FIT_ONLY_ESTIMATOR_PARAMS | {"device", "dtype", "outer_lr",
                                            "outer_optimizer"}:
        params.pop(f"estimator__{name}", None)
    params["device"] = _resolved(resolve_device, poisoner._attack_device(), str)
    params["dtype"] = _resolved(resolve_dtype, poisoner._attack_dtype(),
                                lambda dtype: str(dtype).removeprefix("torch."))
    if poisoner.hyperparams == "learn":
        params.pop("fixed_lambda", None)
        params["lambda_lr"] = (estimator.outer_lr if poisoner.lambda_lr is None
                               else poisoner.lambda_lr)
        params["lambda_step"] = (estimator.outer_optimizer if poisoner.lambda_step is None
                                 else poisoner.lambda_step)
    else:
        params.pop("lambda_lr", None)
        params.pop("lambda_step", None)
        if poisoner.fixed_lambda is not None:
            params.pop("estimator__lambda_init", None)
    try:
        params["ratios"] = tuple(float(r) for r in check_ratios(poisoner.ratios, warn=False))
    except ValueError:
        pass
    if box is not None:
        params["feature_range"] = tuple(np.asarray(bound, dtype=float) for bound in box)
    return params


def _resolved(resolve, value, text):
    """``text(resolve(value))``, or ``value`` where it cannot be resolved."""
    try:
        return text(resolve(value))
    except (TypeError, ValueError):
        return value
