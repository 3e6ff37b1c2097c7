"""What names an attack cell: its config, less the fixed λ of other strategies (private).

A cell's name hashes its config (:meth:`SweepConfig.key`), but two settings
are read by one strategy each: ``large_lambda`` by ``"large"``, ``cv_grid``
by ``"cv"`` (and, for logistic regression, both by every strategy, through
the inner step size, which :func:`rate_log_lambda` makes stable for the
largest λ of the config). In the names of the other strategies' cells they
stand at their defaults, so that a new ``--large-lambda`` or ``--cv-grid``
computes the cells that read it, not the whole sweep again.

The defaults are those the cells computed before this rule were named with
(they keep their names): ``large_lambda`` the model's and penalty's
:data:`LARGE_LAMBDA`; ``cv_grid`` the grid of a size preset where it is one,
else the grid of the preset the config was made from (:func:`make_config`
records it in the config's ``preset``; where it is not known, a config not
made by :func:`make_config`, the ``"full"`` preset's). For logistic regression a
setting is put at its default only where that leaves the inner step size as
it is.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._attack_cell import rate_log_lambda
from ._config import _PRESETS, LARGE_LAMBDA
from ._strategies import make_estimator

__all__ = ["cell_config"]

#: The CV grid of each size preset, as make_config writes it.
_PRESET_GRIDS = {size: tuple(float(v) + 0.0 for v in np.linspace(-12.0, 0.0, p["cv_points"]))
                 for size, p in _PRESETS.items()}


def cell_config(config, strategy):
    """``config`` as the cells of ``strategy`` are named: the fixed λ settings that the
    strategy does not read at their defaults (see the module's notes).

    Parameters
    ----------
    config : SweepConfig
        Its ``preset`` (the size :func:`make_config` made it from) names the CV
        grid of the strategies that do not read it; "full" where it is None.
    strategy : str

    Examples
    --------
    >>> from skpoison.experiments import make_config
    >>> config = make_config("digits", size="tiny", model="mlp", large_lambda=-3.0)
    >>> cell_config(config, "learned").large_lambda, cell_config(config, "large").large_lambda
    (-2.0, -3.0)
    """
    defaults = {}
    if strategy != "large":
        defaults["large_lambda"] = LARGE_LAMBDA[(config.model, config.penalty)]
    if strategy != "cv" and config.cv_grid not in _PRESET_GRIDS.values():
        defaults["cv_grid"] = _PRESET_GRIDS[config.preset or "full"]
    if config.model != "lr":     # (a network's inner step does not depend on λ)
        return dataclasses.replace(config, **defaults)
    top = _inner_rate_log_lambda(config)
    for name, value in defaults.items():
        named = dataclasses.replace(config, **{name: value})
        if _inner_rate_log_lambda(named) == top:
            config = named
    return config


def _inner_rate_log_lambda(config):
    return rate_log_lambda(config, make_estimator(config, random_state=0))
