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
