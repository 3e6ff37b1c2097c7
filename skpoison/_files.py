"""Files written whole or not at all."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_file(path, mode="x", **open_kwargs):
    """An open handle on a temporary file that replaces ``path`` when the block ends.

    The file is synced before the rename, so ``path`` holds either its old
    content or the whole new one. If the block raises (an interrupt included),
    the temporary file is removed and ``path`` is left as it was. The
    temporary file is hidden beside ``path``: ``.<name>.<pid>.<random>.tmp``.

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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
