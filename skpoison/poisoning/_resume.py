"""An attack's state on disk, after its batches, so that an interrupted attack resumes.

A file is resumed by the same attack only: one of the same data and settings
(:func:`attack_fingerprint`). The settings are taken as the attack reads them
(:func:`attack_settings`): an :class:`OptimalPoisoner` and its estimator have
parameters that play no part in the attack (the estimator's own ``fit``
loop, the trusted set it would split off), and settings that can be written
several ways (a device ``"auto"`` and the device it names, the poisoner's
``dtype=None`` and the estimator's dtype it stands for). :func:`fit_batched`
compares its attacks' settings the same way.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator

from .._files import atomic_file, remove_stale_temporaries
from .._hashing import update_with_arrays
from .._torch_utils import resolve_device, resolve_dtype
from .._warn import warn_user
from ._base import check_ratios


#: The layout of the saved state; a file of another layout is started over.
_FORMAT = 1

#: Seconds between two saves at least: a batch of a small attack takes
#: milliseconds, and a save about as long.
SAVE_INTERVAL = 1.0


def check_resume_path(resume_file):
    """Refuse a ``resume_file`` that cannot be written where it is named (found now,
    not at the first save): an empty path (``Path("")`` is the working folder,
    which would silently take the attack's files), a missing folder (a path that
    ends with a slash: it was read as a file of that name), a file in one, or a
    folder that takes no new file (read-only, full, another user's)."""
    if not os.fspath(resume_file):
        raise ValueError("resume_file is an empty path; name a file or an existing folder, "
                         "or give None (no resume file).")
    path = Path(resume_file)
    named = os.fsdecode(os.fspath(resume_file))
    if named.endswith(("/", os.sep)) and not path.is_dir():    # (Path drops the slash)
        raise ValueError(f"resume_file={named!r} names a folder, which does not exist; "
                         "create it first, or name a file.")
    if not path.is_dir() and not path.parent.is_dir():
        raise ValueError(f"resume_file={str(path)!r}: its folder {str(path.parent)!r} "
                         "does not exist.")
    folder = path if path.is_dir() else path.parent
    try:    # (unnamed where the system allows, O_TMPFILE: a killed fit leaves no probe)
        with tempfile.TemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise ValueError(f"resume_file={str(path)!r} cannot be written: its folder "
                         f"{str(folder)!r} takes no new file ({exc.strerror or exc}); name "
                         "a file in a folder you can write, or give None.") from exc


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


def attack_fingerprint(poisoner, arrays, device, box=None):
    """A hash of everything an attack's numbers depend on.

    The data (``arrays``), the poisoner's and its estimator's classes, their
    parameters as the attack reads them (:func:`attack_settings`: not
    ``resume_file``, ``verbose`` nor what only the estimator's own ``fit``
    reads; the attack's dtype, and the defender's λ steps, whichever
    parameter sets them; ``feature_range`` as the ``box`` it gives, where
    given), the device the attack runs on (as resolved: ``"auto"`` may mean
    another one elsewhere), and the versions of skpoison and torch.
    Array-like parameters are hashed by value, item by item (their ``repr``
    may elide).
    """
    from .. import __version__

    classes = " ".join(f"{type(obj).__module__}.{type(obj).__qualname__}"
                       for obj in (poisoner, poisoner.estimator))
    digest = hashlib.sha1(f"skpoison {__version__} torch {torch.__version__} "
                          f"device {torch.device(device)} classes {classes}".encode())
    update_with_arrays(digest, arrays)
    settings = attack_settings(poisoner, box)
    del settings["device"]     # (the device above: "cuda" as the "cuda:0" it runs on)
    for name in sorted(settings):
        digest.update(f"{name}={_value_text(settings[name])};".encode())
    return digest.hexdigest()


def _value_text(value):
    """A parameter's value as text that no two different values share."""
    if value is None or isinstance(value, (str, bool)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return f"[{','.join(_value_text(item) for item in value)}]"
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return repr(value)
    return f"{array.shape}:{array.tobytes().hex()}"


#: How every file ``torch.save`` writes (a zip archive) begins, resume files included.
_ZIP_SIGNATURE = b"PK\x03\x04"


def _read(path):
    """``(saved, None)`` for a resume file at ``path``, else ``(None, why it is not one)``."""
    with open(path, "rb") as handle:   # (an OSError here: the file system, not the file)
        content = handle.read()
    if not content.startswith(_ZIP_SIGNATURE):   # (torch's loader: "KeyError: 101" for text)
        return None, "it is no file torch saves, a zip archive"
    try:
        saved = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever torch fails on: not ours
        reason = _reason(exc)
        return None, (f"it cannot be read as one ({type(exc).__name__}"
                      + (f": {reason})" if reason else ")"))
    # (every layout skpoison wrote holds these two; saves are atomic, never torn)
    if not (isinstance(saved, dict) and {"fingerprint", "state"} <= saved.keys()):
        return None, "it holds something else"
    return saved, None


def _reason(exc):
    """The line of torch's error that says what is wrong (its messages run to 10 lines).

    A refusal of ``weights_only=True`` opens with advice for torch's own users
    (load with ``weights_only=False``), wrong for a damaged file of ours: its
    cause is the line after ``WeightsUnpickler error:``.
    """
    message = str(exc)
    _, marker, cause = message.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (cause if marker else message).splitlines()
             if line.strip()]
    return lines[0] if lines else ""


def discard_if_not_resume_file(path):
    """Remove a file at ``path`` that is no attack's resume file, with a warning.

    For callers that name their own resume files (the sweeps: a file there
    is one of theirs, damaged, never a user's), where an attack would refuse
    it. Returns whether a file was removed.
    """
    if not os.path.exists(path):
        return False
    _, unreadable = _read(path)
    if unreadable is None:
        return False
    warn_user(f"The resume file {os.fspath(path)!r} is damaged ({unreadable}): it is "
              "removed, and its attack starts from the beginning.")
    Path(path).unlink(missing_ok=True)
    return True


class ResumeFile:
    """Where one attack saves its state after a batch (:meth:`due`), and finds it again.

    Parameters
    ----------
    path : path-like
    fingerprint : str
        :func:`attack_fingerprint` of the attack: a file left by another
        attack (other data or settings) is not resumed from.
    """

    def __init__(self, path, fingerprint):
        self.path, self.fingerprint = os.fspath(path), fingerprint
        self.last_save = time.monotonic()      # (the attack's start)

    def due(self):
        """Whether :data:`SAVE_INTERVAL` has passed since the start or the last save."""
        return time.monotonic() - self.last_save >= SAVE_INTERVAL

    def load(self):
        """The saved state, or None (no file, or one of another attack: with a warning).

        Raises
        ------
        ValueError
            If the file is not a resume file of skpoison's: it is the
            user's, and the attack would overwrite it, then delete it.
        """
        remove_stale_temporaries(self.path)     # (a save killed midway)
        if not os.path.exists(self.path):
            return None
        saved, unreadable = _read(self.path)
        if unreadable:
            raise ValueError(
                f"resume_file {self.path!r} exists and is not an attack's resume file "
                f"({unreadable}); an attack overwrites its "
                "resume file and deletes it at the end: name a new file, or remove this one.")
        if saved.get("format") != _FORMAT:
            warn_user(f"resume_file {self.path!r} was written by another version of "
                      "skpoison; the attack starts from the beginning and replaces it.")
            return None
        if saved["fingerprint"] != self.fingerprint:
            warn_user(f"resume_file {self.path!r} holds an attack with other data or "
                      "settings; this attack starts from the beginning and replaces it.")
            return None
        return saved["state"]

    def save(self, state):
        """Replace the file with ``state`` (whole or not at all)."""
        with atomic_file(self.path, "xb") as handle:
            torch.save({"format": _FORMAT, "fingerprint": self.fingerprint, "state": state},
                       handle)
        self.last_save = time.monotonic()

    def remove(self):
        """Remove the file (the attack finished)."""
        Path(self.path).unlink(missing_ok=True)
