import pytest


def _same_row(ours, theirs, *, rel=1e-6, abs=1e-9):
    """Rows equal: numbers to ``pytest.approx`` (NaN equal to NaN), the rest exactly.

    (pytest >= 9.2 refuses ``approx`` on a mapping holding strings.)
    """
    assert ours.keys() == theirs.keys()
    numbers = {k for k, v in theirs.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert {k: ours[k] for k in numbers} == pytest.approx(
        {k: theirs[k] for k in numbers}, rel=rel, abs=abs, nan_ok=True)
    assert {k: ours[k] for k in ours.keys() - numbers} == \
        {k: theirs[k] for k in theirs.keys() - numbers}


@pytest.fixture
def assert_same_row():
    return _same_row


def _same_sweep(ours, reference, our_out, reference_out):
    """Two ``evaluate`` results of one sweep agree row for row (timings aside), cell for cell."""
    assert len(ours.rows) == len(reference.rows) > 0

    def key(row):
        return row["strategy"], row["ratio"], row["repetition"]

    def untimed(row):
        return {k: v for k, v in row.items() if not k.endswith("seconds")}

    for one, other in zip(sorted(ours.rows, key=key), sorted(reference.rows, key=key)):
        _same_row(untimed(one), untimed(other), rel=1e-6, abs=1e-12)
    assert len(list((our_out / "cells").glob("*.json"))) == len(
        list((reference_out / "cells").glob("*.json")))


@pytest.fixture
def assert_same_sweep():
    return _same_sweep
