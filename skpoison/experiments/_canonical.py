"""One spelling per sweep setting: the checks and canonical forms of single values (private).

:func:`~skpoison.experiments.make_config` writes every value the way the
defaults and the command line write it, so that equivalent settings (``-3`` and
``-3.0``, an option passed at its default) name the same result cells.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

__all__ = ["as_float", "as_ratio", "step_size", "drop_defaults", "dtype_name", "as_count"]


def as_float(value, checked):
    """A checked number as a Python float, as the defaults and the command line write
    it, so that ``-3``, ``-3.0`` and ``np.int64(-3)`` name the same cells; the value
    given where it is a Python or NumPy number (not rounded to the sweep's dtype), else
    ``checked``; ``-0.0`` as ``0.0`` (JSON writes them apart)."""
    value = value.item() if isinstance(value, np.generic) else value
    given = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value if given else checked) + 0.0


def as_ratio(value):
    """A poisoning ratio as a Python float: a NumPy float narrower than float64 by its
    shortest decimal, the number it was written as, so that ``np.float32(0.1)`` names
    the cells of ``0.1`` (not of 0.10000000149011612; the count ``round(r * n_train)``
    could differ too). Python numbers and float64 are read as they are.

    Examples
    --------
    >>> as_ratio(np.float32(0.1)), as_ratio(0.1), as_ratio(np.float64(0.1)), as_ratio(0)
    (0.1, 0.1, 0.1, 0.0)
    """
    if isinstance(value, np.floating) and np.finfo(value.dtype).bits < 64:
        return float(str(value))
    return float(value)


def step_size(key, value):
    """``value`` as a float (as the command line writes it: ``1`` and ``1.0`` name the
    same cells) if a finite number > 0, else a ValueError that names ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0.0 < float(value) < math.inf:
        raise ValueError(f"{key}={value!r} must be a finite number > 0.")
    return float(value)


def drop_defaults(values, model):
    """Options at the value their None stands for set to None, in place: not passing
    them (``lambda_step="adam"``, ``victim_steps=inner_steps``) names the same cells.

    Read from the classes' signatures, so that a changed default keeps its old value
    an explicit one (and ``attack_defaults`` renames the None cells).
    """
    import inspect

    from ..estimators import HypergradMLP, HypergradRegularizedLR
    from ..poisoning import OptimalPoisoner

    def default(cls, name):
        return inspect.signature(cls).parameters[name].default

    estimator = HypergradRegularizedLR if model == "lr" else HypergradMLP
    defaults = {"poison_lr": default(OptimalPoisoner, "poison_lr"),
                "normalize": default(OptimalPoisoner, "normalize"),
                "victim_steps": values["inner_steps"]}
    # None steps λ with the estimator's outer_lr and outer_optimizer (the poisoner's
    # None defaults take the estimator's); a value sets both.
    for option, own in (("lambda_lr", "outer_lr"), ("lambda_step", "outer_optimizer")):
        if default(OptimalPoisoner, option) is None:
            defaults[option] = default(estimator, own)
    for option, value in defaults.items():
        if values.get(option) is not None and values[option] == value:
            values[option] = None


def dtype_name(dtype):
    """``"float64"`` or ``"float32"`` for any spelling of them the library takes
    (``np.float64``, ``torch.float32``); a ValueError for another."""
    from .._torch_utils import resolve_dtype

    return str(resolve_dtype(dtype)).removeprefix("torch.")


def is_sequence(value):
    """Whether ``value`` holds several values (a list, a tuple, an array), not one
    (a number, or a string, which NumPy would iterate letter by letter)."""
    return np.iterable(value) and not isinstance(value, str)


def is_whole_number(value):
    """Whether ``value`` is a real number of integer value (``5.0``, ``np.float32(5)``),
    not a bool, a string or NaN."""
    # (numbers.Real: np.float32 too, which is no float subclass as np.float64 is)
    return (not isinstance(value, (bool, np.bool_)) and isinstance(value, Real)
            and float(value).is_integer())


def as_count(key, value, least):
    """``value`` as an int ``>= least`` (``5.0`` as ``5``), or a ValueError that names ``key``."""
    if not is_whole_number(value) or value < least:
        raise ValueError(f"{key}={value!r} must be an integer >= {least}.")
    return int(value)
