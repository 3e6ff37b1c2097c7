"""Titles of the sweeps' tables and figures: data, model, solver, repetitions (private)."""

from __future__ import annotations

from numbers import Integral

from ..datasets._base import DEFAULT_CLASSES
from ..datasets._npz import data_label

__all__ = ["caveat_note", "penalty_label", "repetitions_text", "short_title"]


def caveat_note(rows):
    """A title's last line: the data's caveat (a JPEG-recompressed copy, say), or nothing."""
    caveat = rows[0].get("data_caveat") if rows else None
    return f"\ndata: {caveat}" if caveat else ""


#: The data sets' names in titles.
_DISPLAY_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


def short_title(config, rows=(), *, val_size=True):
    """A figure's title: the data (classes and split sizes), model and solver; what
    the error bars are; the data's caveat, if any. ``val_size=False`` leaves the
    trusted set's size out (Fig. 4 / 9 draw several)."""
    data = _DISPLAY_NAMES.get(config.dataset, data_label(config.dataset))
    classes = config.classes or DEFAULT_CLASSES.get(config.dataset)
    if classes is not None:
        data += f" {' vs '.join(str(c) for c in classes)}"
    sizes = (config.n_train, config.n_val, config.n_test)
    if all(isinstance(n, Integral) for n in sizes):
        data += (f" ({sizes[0]} train, {sizes[1]} trusted, {sizes[2]} test)" if val_size
                 else f" ({sizes[0]} train, {sizes[2]} test)")
    return (f"{data}\n{config.model.upper()}, {penalty_label(config)}, "
            f"T={config.inner_steps}{_victim_note(config)}, {config.attack_steps} attack "
            f"steps; mean ± std over "
            f"{repetitions_text(config)}" + caveat_note(rows))


def penalty_label(config):
    """``L2``, ``L1``, or ``L1 (proximal)``."""
    return config.penalty.upper() + (" (proximal)" if config.l1_step == "proximal" else "")


def _victim_note(config):
    return "" if config.victim_steps is None else f" (victim T={config.victim_steps})"


def repetitions_text(config):
    """``3 repetitions``, ``1 repetition``."""
    return f"{config.repetitions} repetition{'s' if config.repetitions != 1 else ''}"
