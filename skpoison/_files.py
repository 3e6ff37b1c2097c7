"""Files written whole or not at all."""

from __future__ import annotations

import glob
import hashlib
import os
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

_HOST = socket.gethostname().replace(os.sep, "_")

#: A temporary file untouched for longer than this (seconds) was left by a
#: killed writer, whatever its name says: a write takes well under a second.
#: (The downloads' rule too: ``skpoison.datasets._home.STALE_PART_AGE``.)
STALE_SECONDS = 600

#: Whether a process can be probed with signal 0 (see :func:`process_running`).
_CAN_PROBE = os.name == "posix"

#: The longest file name, in bytes, that most file systems take.
NAME_MAX = 255


@contextmanager
def atomic_file(path, mode="x", **open_kwargs):
    """An open handle on a temporary file that replaces ``path`` when the block ends.

    The file is synced before the rename, and the folder after it (where the
    system can), so ``path`` holds either its old content or the whole new
    one, even after a power cut. If the block raises (an interrupt included),
    the temporary file is removed and ``path`` is left as it was. The
    temporary file is hidden beside ``path``:
    ``.<name>.<host>.<pid>.<random>.tmp``, ``<name>`` cut where the whole would
    be too long (a killed writer's is found by :func:`remove_stale_temporaries`).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with atomic_file(Path(folder) / "a.txt") as handle:
    ...         _ = handle.write("whole")
    ...     print((Path(folder) / "a.txt").read_text(), len(os.listdir(folder)))
    whole 1
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{_prefix(path)}{_HOST}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _sync_folder(path.parent)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # (a write or a sync that failed, a full disk say, names no file)
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def _sync_folder(folder):
    """Make a rename in ``folder`` durable: POSIX keeps it in the folder's entry,
    synced apart from the file. (Windows opens no folder: nothing to do there.)"""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:   # (some file systems refuse a folder's sync: the file is written)
        pass
    finally:
        os.close(descriptor)


def remove_stale_temporaries(path):
    """Remove the temporary files of :func:`atomic_file` for ``path`` whose writer died.

    Those of this host whose process is gone, and any (another host's, on a
    shared file system, or one whose process number a live process has taken
    since) once untouched for :data:`STALE_SECONDS` (:func:`remove_if_left`).
    Call it where no
    other process of this host may be writing ``path`` under another name
    (a temporary file of a live process is kept anyway). A file that cannot
    be removed (another user's, say) is left as it is.
    """
    path = Path(path)
    prefix = _prefix(path)
    for name in glob.glob(glob.escape(str(path.with_name(prefix))) + "*.tmp"):
        parts = Path(name).name[len(prefix):].rsplit(".", 3)   # host, pid, random, "tmp"
        if len(parts) != 4 or not parts[1].isdigit():
            continue                   # (not one of ours)
        remove_if_left(name, this_host=parts[0] == _HOST, pid=int(parts[1]),
                       max_age=STALE_SECONDS)


def remove_if_left(name, *, this_host, pid, max_age):
    """Remove the temporary file ``name`` if its writer left it: a process ``pid`` of
    this host (``this_host``) that no longer runs, or anyone's, once it is untouched
    for ``max_age`` seconds. A file gone meanwhile, or not ours to remove (another
    user's), is left as it is. The rule of :func:`remove_stale_temporaries` and of
    the downloads' temporary files (``datasets._home.remove_dead_parts``).
    """
    try:
        dead = this_host and pid != os.getpid() and not process_running(pid)
        if dead or time.time() - os.stat(name).st_mtime > max_age:
            os.unlink(name)
    except OSError:
        pass


def _prefix(path):
    """How the temporary files of ``path`` are named at first: ``.<name>.``.

    A name too long to leave room for the rest (host, pid, random part) in
    :data:`NAME_MAX` bytes is cut, and a hash of it added (``.<start>~<hash>.``):
    a file whose own name fits is written (a long data file's name in a stem).
    """
    room = NAME_MAX - len(os.fsencode(f"..{_HOST}.{10 ** 10}.{0:08}.tmp"))
    name = path.name
    if len(os.fsencode(name)) <= room:
        return f".{name}."
    digest = "~" + hashlib.sha1(os.fsencode(name)).hexdigest()[:12]
    while name and len(os.fsencode(name + digest)) > room:
        name = name[:-1]
    return f".{name}{digest}."


def process_running(pid):
    """Whether process ``pid`` of this host runs (True where that cannot be told).

    Probed with signal 0 on POSIX only: on Windows ``os.kill(pid, 0)`` sends
    ``CTRL_C_EVENT`` to the process group ``pid`` (or fails with an ``OSError``).
    """
    if not _CAN_PROBE:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:     # (another user's process: it runs)
        return True
    return True
