"""make_config's checks of single settings: each value refused by its own name (private)."""

from __future__ import annotations

import math

from ..estimators._feature_scales import feature_scale_problem
from ..hypergrad._prox import check_l1_step
from ._canonical import as_ratio, is_sequence, is_whole_number

__all__ = ["SEQUENCES", "check_sequences", "class_label", "checked_l1_step", "check_scales",
           "checked_ratios"]


#: The fields that hold several values.
SEQUENCES = ("ratios", "strategies", "top_k", "hidden_layer_sizes", "classes")


def check_sequences(overrides):
    """Refuse a lone value where a field holds several (``strategies="learned"`` had
    been read letter by letter, and a lone number was "not iterable")."""
    for key in SEQUENCES:
        value = overrides.get(key)
        if value is not None and not is_sequence(value):
            raise ValueError(f"{key}={value!r} must be a tuple or a list (e.g. "
                             f"{key}=({value!r},)).")


def class_label(value):
    """A class of ``classes`` as an int (``3.0`` as ``3``); 3.5 or "3" is a ValueError."""
    if not is_whole_number(value):
        raise ValueError(f"classes holds {value!r}: the classes are integer labels.")
    return int(value)


def checked_l1_step(l1_step, penalty):
    """``"proximal"`` or None (the default, subgradient steps); refuses what cannot apply."""
    if l1_step is None:
        return None
    check_l1_step(l1_step)
    if l1_step == "subgradient":
        return None
    if penalty != "l1":
        raise ValueError(
            f"l1_step='proximal' (--l1-step proximal) applies to the L1 penalty "
            f"(--penalty l1); got penalty={penalty!r}.")
    return l1_step


def check_scales(name, X):
    """Refuse a file whose features every fit of the sweep would warn of (once, not per fit)."""
    problem = feature_scale_problem(X)
    if problem is not None:
        raise ValueError(
            f"{name}: {problem} The sweeps train their models by plain gradient descent, "
            "which would leave them nearly untrained (every strategy near chance): scale X "
            "before saving the file (e.g. scikit-learn's StandardScaler, or MinMaxScaler "
            "for a [0, 1] box).")


def checked_ratios(ratios, n_train):
    """``ratios`` sorted, with 0 (the clean model: the reference of the consistency
    index and of every "increase under attack"); a ValueError for a ratio outside
    [0, 1), one with no poisoning point, or two with the same number of points."""
    ratios = tuple(sorted({0.0, *(as_ratio(r) for r in ratios)}))
    if any(not 0.0 <= r < 1.0 or math.isnan(r) for r in ratios):
        raise ValueError(f"ratios={ratios} must lie in [0, 1).")
    # (the poisoner would warn, once per cell, and every such row repeat the clean one)
    empty = [r for r in ratios if r > 0 and round(r * n_train) == 0]
    if empty:
        raise ValueError(f"ratios {empty} give no poisoning point for n_train={n_train} "
                         "(round(ratio * n_train) == 0): their rows would repeat the clean "
                         "model's; raise them or n_train.")
    points = {}
    for r in ratios:     # (likewise two ratios of one number of points)
        points.setdefault(round(r * n_train), []).append(r)
    same = [group for group in points.values() if len(group) > 1]
    if same:
        raise ValueError(f"ratios {same[0]} give the same number of poisoning points, "
                         f"{round(same[0][0] * n_train)} of n_train={n_train}: their rows "
                         "would be the same attack under two names; keep one (--ratios) or "
                         "raise n_train.")
    return ratios
