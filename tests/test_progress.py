"""progress_bar: tqdm's bars, the same in a terminal and in a notebook."""

import io

import pytest
from tqdm import auto, tqdm

from skpoison._progress import progress_bar


class _Widget(tqdm):
    """A notebook's bar as it reads ``leave`` when it closes: kept if truthy."""

    kept = []

    def close(self):
        if not self.disable:
            _Widget.kept.append((self.desc, bool(self.leave)))
        super().close()


@pytest.fixture
def notebook(monkeypatch):
    monkeypatch.setattr(auto, "tqdm", _Widget)
    _Widget.kept = []
    return _Widget.kept


def test_leave_none_keeps_a_bar_drawn_alone_in_a_notebook_too(notebook):
    # (tqdm.notebook hid it: its widget reads None as False, so a poisoner's
    # "batches" bar vanished at the end of the attack in Jupyter)
    with progress_bar(total=1, desc="alone", leave=None, file=io.StringIO()) as bar:
        bar.update()
    with progress_bar(total=1, desc="outer", file=io.StringIO()) as outer:
        with progress_bar(total=1, desc="under", leave=None, file=io.StringIO()) as bar:
            bar.update()
        outer.update()
    assert notebook == [("alone", True), ("under", False), ("outer", True)]
