"""The output files of a sweep: their stem, the CSV and the settings JSON (private)."""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path

from .._files import remove_stale_temporaries
from .._warn import warn_user
from ..datasets._npz import data_label, is_data_file
from ._csv import write_csv
from ._json_files import read_json, write_json_atomic

__all__ = ["output_stem", "write_tables"]


def output_stem(config, size, name):
    """``mnist_lr_l2_quick_fig2``: the file names of one sweep's outputs.

    Distinct per data set (and class pair, when not the default one), model,
    penalty (``l1-prox`` for proximal L1 steps) and size, so that sweeps
    sharing an output folder (and its cells) do not overwrite each other's
    tables.

    Examples
    --------
    >>> from skpoison.experiments import make_config
    >>> output_stem(make_config("mnist", size="quick"), "quick", "fig2")
    'mnist_lr_l2_quick_fig2'
    >>> output_stem(make_config("mnist", size="quick", classes=(3, 5)), "quick", "fig2")
    'mnist-3v5_lr_l2_quick_fig2'
    """
    data = data_label(config.dataset)
    if is_data_file(config.dataset):   # (two files of one name, in two folders)
        data += "-" + hashlib.sha1(config.dataset.encode()).hexdigest()[:6]
    if config.classes is not None:
        data += "-" + "v".join(str(c) for c in config.classes)
    penalty = config.penalty + ("-prox" if config.l1_step == "proximal" else "")
    return f"{data}_{config.model}_{penalty}_{size}_{name}"


def write_tables(rows, settings, out, stem, *, cells=True):
    """``<stem>.csv`` and ``<stem>_settings.json`` in ``out``; their paths.

    The stem names the sweep, not every setting: when the settings differ
    from those of the stem's last run, a warning names the settings that
    changed, and that run's PNGs and settings are removed first, so that no
    figure or settings file is left beside a CSV it does not describe, not
    even by a run killed while it writes them. (The earlier run's cells stay
    in ``cells/``, when the run has ``cells``: rerunning it rewrites its
    tables at once.)
    """
    settings_path = Path(out) / f"{stem}_settings.json"
    remove_stale_temporaries(settings_path)     # (of a run killed while it wrote it)
    _replace_earlier_run(settings_path, settings, Path(out), stem, cells)
    csv_path = write_csv(rows, Path(out) / f"{stem}.csv")
    write_json_atomic(settings_path, settings)
    return csv_path, settings_path


def _replace_earlier_run(settings_path, settings, out, stem, cells):
    try:
        previous = read_json(settings_path)
    except (OSError, ValueError):   # no earlier run (or no readable record of it)
        previous = None
    if not isinstance(previous, dict):   # (JSON, but no record of ours: edited, say)
        previous = None
    settings = _what_was_computed(settings)
    previous = None if previous is None else _what_was_computed(previous)
    if previous is None or previous == settings:
        return
    pattern = glob.escape(stem)    # (a file of your own may be named d[1].npz)
    stale = sorted({*out.glob(f"{pattern}.png"), *out.glob(f"{pattern}_*.png")})
    for path in stale:
        path.unlink()
    # The earlier run's record goes too: a run killed between the new CSV and
    # the new settings leaves no settings beside the CSV, not other ones.
    settings_path.unlink(missing_ok=True)
    changed = _changed_settings(previous, settings)
    shown = ", ".join(f"{key} {old!r} → {new!r}" for key, old, new in changed[:4])
    more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
    warn_user(f"{stem}.csv in {out} held an earlier run with other settings ({shown}{more}); "
              "it is replaced" + (f", and {', '.join(p.name for p in stale)} removed"
                                  if stale else "")
              + (". The earlier run's cells are kept: rerun it to get its tables back."
                 if cells else "."))


def _what_was_computed(settings):
    """``settings`` without ``run`` (how, not what, was computed), as JSON reads them back
    (tuples are lists there)."""
    return json.loads(json.dumps({k: v for k, v in settings.items() if k != "run"}))


def _changed_settings(old, new, prefix=""):
    """``(key, old value, new value)`` of every leaf that differs, dotted keys, in order."""
    if isinstance(old, dict) and isinstance(new, dict):
        changed = []
        for key in [*old, *(k for k in new if k not in old)]:
            changed += _changed_settings(old.get(key), new.get(key), f"{prefix}{key}.")
        return changed
    return [] if old == new else [(prefix.rstrip("."), old, new)]
