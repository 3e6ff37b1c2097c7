"""Hashes of arrays (what names data in cell names and in resume files)."""

from __future__ import annotations

import numpy as np


def update_with_arrays(digest, arrays):
    """Feed each array's dtype, shape and bytes to ``digest`` (a :mod:`hashlib` object).

    Returns ``digest``. Arrays of the same bytes but another dtype or shape
    hash differently; the same values in either byte order hash the same (as
    little-endian: cell names and resume files do not depend on the host).
    Object arrays are refused: their bytes are addresses, not values.

    Examples
    --------
    >>> import hashlib
    >>> a = np.zeros(4)
    >>> one = update_with_arrays(hashlib.sha1(), [a]).hexdigest()
    >>> one == update_with_arrays(hashlib.sha1(), [a.reshape(2, 2)]).hexdigest()
    False
    >>> one == update_with_arrays(hashlib.sha1(), [a.astype(">f8")]).hexdigest()
    True
    """
    for array in arrays:
        array = np.ascontiguousarray(array)
        if array.dtype.hasobject:
            raise TypeError("cannot hash an array of Python objects by value (its bytes are "
                            "addresses); convert it to a numeric or string dtype first.")
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.data)
    return digest
