"""The sweeps' JSON files (cells, settings): standard JSON, infinities included (private).

Python's :mod:`json` writes non-finite floats as the bare words ``NaN``,
``Infinity`` and ``-Infinity``, which are no JSON: strict readers refuse such
a file (JavaScript's ``JSON.parse``, Go's ``encoding/json``) and jq 1.6 reads
``-Infinity`` as ``-1.797e308``. Every ``no_reg`` cell holds λ = -inf. So a
non-finite float is written as the object ``{"__float__": "-inf"}`` (``"inf"``,
``"nan"``: what :func:`float` reads back), which :func:`read_json` turns back
into the float; files written before, with the bare words, read as before.
"""

from __future__ import annotations

import json
import math

from .._files import atomic_file

__all__ = ["write_json_atomic", "read_json", "FLOAT_TAG"]

#: The key of the object that stands for a non-finite float.
FLOAT_TAG = "__float__"
_SPELLINGS = {"inf", "-inf", "nan"}


def _tagged(value):
    """``value`` with every non-finite float (in dicts, lists and tuples) as a tagged object."""
    if isinstance(value, float) and not math.isfinite(value):
        return {FLOAT_TAG: "nan" if math.isnan(value) else str(value)}
    if isinstance(value, dict):
        return {key: _tagged(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tagged(item) for item in value]
    return value


def _untagged(obj):
    """A decoded JSON object, or the float a tagged object stands for."""
    if len(obj) == 1 and isinstance(obj.get(FLOAT_TAG), str) and obj[FLOAT_TAG] in _SPELLINGS:
        return float(obj[FLOAT_TAG])
    return obj


def write_json_atomic(path, payload):
    """Write ``payload`` as standard JSON to ``path`` via a temporary file and a rename.

    Non-finite floats are written as ``{"__float__": "-inf"}`` (see the
    module's notes); :func:`read_json` reads them back as floats.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "cell.json")
    ...     write_json_atomic(path, {"rows": [{"log_lambda": float("-inf")}]})
    ...     print(open(path).read())
    ...     read_json(path)
    {"rows": [{"log_lambda": {"__float__": "-inf"}}]}
    {'rows': [{'log_lambda': -inf}]}
    """
    with atomic_file(path) as handle:
        json.dump(_tagged(payload), handle, allow_nan=False)


def read_json(path):
    """Read a file written by :func:`write_json_atomic` (non-finite floats restored; the
    bare ``NaN`` and ``Infinity`` of files written before are read too)."""
    with open(path) as handle:
        return json.load(handle, object_hook=_untagged)
