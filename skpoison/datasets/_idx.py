"""Strict reader for IDX files (the MNIST / Fashion-MNIST format) (private)."""

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ._home import check_md5, md5_bytes

__all__ = ["read_idx"]

# Third byte of the magic number -> big-endian element type.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx_bytes(path):
    """Return the uncompressed bytes of an IDX file (``.gz`` or plain).

    A ``.gz`` file that starts like an IDX file is one already decompressed
    (browsers do that and keep the name): read as it is; a file that starts
    like a gzip stream is decompressed whatever its name. Raises
    ``ValueError`` naming the file when its gzip stream is corrupted or
    truncated.
    """
    path = Path(path)
    raw = path.read_bytes()
    gzipped = raw[:2] == b"\x1f\x8b"     # (gzip's magic number, whatever the name says)
    if not gzipped and (path.suffix != ".gz" or (raw[:2] == b"\x00\x00" and len(raw) > 2
                                                 and raw[2] in _IDX_DTYPES)):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{path} is not a valid gzip file (corrupted or truncated): {exc}"
        ) from exc


def parse_idx(data, name="<bytes>"):
    """Parse the bytes of an IDX file into a native-endian numpy array.

    The header (magic number ``0x0000TTNN``: type code ``TT``, ``NN``
    dimensions, then ``NN`` big-endian uint32 sizes) is checked strictly and
    the payload must have exactly the announced length.
    """
    n = len(data)
    if n < 4:
        raise ValueError(f"{name}: truncated IDX file ({n} bytes, no header).")
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"{name}: not an IDX file (bad magic number 0x{data[:4].hex()}; "
            "expected 0x0000TTNN with type TT in "
            f"{sorted(hex(t) for t in _IDX_DTYPES)} and NN >= 1 dimensions)."
        )
    header = 4 + 4 * ndim
    if n < header:
        raise ValueError(
            f"{name}: truncated IDX header ({n} bytes, {header} expected for "
            f"{ndim} dimensions)."
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_DTYPES[type_code]
    expected = header + math.prod(dims) * dtype.itemsize     # (Python ints: no overflow)
    if n != expected:
        kind = "truncated" if n < expected else "too long"
        raise ValueError(
            f"{name}: {kind} IDX file: the header announces shape {dims} "
            f"({expected} bytes in all) but the file holds {n} bytes."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path, md5=None):
    """Read an IDX file (optionally gzip-compressed) into a numpy array.

    Parameters
    ----------
    path : str or path-like
        The file; a ``.gz`` suffix means gzip-compressed.
    md5 : str, default=None
        Expected md5 of the UNCOMPRESSED bytes. When given, a mismatch
        raises ``ValueError`` naming the file and both digests.

    Returns
    -------
    array : ndarray
        Native-endian array with the shape announced by the header; read-only
        when the file is native-endian (a view of its bytes, not a copy: copy
        it to modify it).

    Raises
    ------
    ValueError
        Corrupted, truncated or malformed file, or checksum mismatch.

    Examples
    --------
    >>> import gzip, os, tempfile
    >>> from skpoison.datasets import read_idx
    >>> payload = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])  # uint8, shape (3,)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "labels-idx1-ubyte.gz")
    ...     with open(path, "wb") as fh:
    ...         _ = fh.write(gzip.compress(payload))
    ...     labels = read_idx(path)
    >>> labels
    array([7, 8, 9], dtype=uint8)
    """
    data = read_idx_bytes(path)
    array = parse_idx(data, name=str(path))
    if md5 is not None:
        check_md5(md5_bytes(data), md5, path, of="its uncompressed bytes")
    return array
