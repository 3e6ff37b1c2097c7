"""Hashes of arrays (skpoison._hashing): what names cells and resume files."""

import hashlib

import numpy as np

from skpoison._hashing import update_with_arrays


def _hexdigest(arrays):
    return update_with_arrays(hashlib.sha1(), arrays).hexdigest()


def test_the_hash_of_native_arrays_is_stable():
    # (cell names and resume files already on disk were named by this hash: a change
    # would compute every stored cell again)
    arrays = [np.arange(3, dtype="<i8"), np.linspace(0, 1, 4).reshape(2, 2),
              np.array([0, 8], dtype=np.uint8)]
    assert _hexdigest(arrays) == "c6d853ff8234193e00152e65b7cce6dcab3f6831"


def test_either_byte_order_hashes_the_same():
    # (the bytes were hashed as stored: a big-endian host, or data read as '>i8',
    # named the same values differently, so no stored cell was found again)
    values = [np.arange(3, dtype="<i8"), np.linspace(0, 1, 4)]
    swapped = [values[0].astype(">i8"), values[1].astype(">f8")]
    assert _hexdigest(swapped) == _hexdigest(values)
    assert _hexdigest([values[0].astype("<i4")]) != _hexdigest(values[:1])   # (dtypes do count)


def test_object_arrays_are_refused():
    # (an object array's bytes are pointers: two equal arrays of strings hashed
    # differently, and one array could hash the same after its items changed)
    labels = np.array(["zero", "eight"], dtype=object)
    try:
        _hexdigest([labels])
    except TypeError as error:
        assert "Python objects" in str(error)
    else:
        raise AssertionError("an object array was hashed by address")
    assert _hexdigest([labels.astype(str)]) == _hexdigest([np.array(["zero", "eight"])])
