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


@pytest.mark.parametrize("where", ["terminal", "notebook"])
def test_tqdm_disable_in_the_environment_hides_every_bar(where, monkeypatch, request):
    # (a bar asked for, verbose=True, passed disable=False, which tqdm lets override
    # TQDM_DISABLE; its notebook bar ignores the variable altogether)
    kept = request.getfixturevalue("notebook") if where == "notebook" else []
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = io.StringIO()
    with progress_bar(total=2, desc="hidden", leave=None, file=out) as bar:
        bar.update(2)
    assert bar.disable and out.getvalue() == "" and kept == []


def test_a_verbose_fit_draws_no_bar_under_tqdm_disable(monkeypatch, capsys):
    from sklearn.datasets import load_digits

    from skpoison import HypergradRegularizedLR

    X, y = load_digits(n_class=2, return_X_y=True)
    X = X / 16.0
    monkeypatch.setenv("TQDM_DISABLE", "1")
    HypergradRegularizedLR(inner_steps=5, outer_steps=2, verbose=True).fit(
        X[:100], y[:100], X_val=X[100:150], y_val=y[100:150])
    assert "learning lambda" not in capsys.readouterr().err


def test_disable_none_is_tqdms_no_bar_off_a_terminal(monkeypatch):
    # (None, tqdm's "not a terminal: no bar", had been read as False: a bar drawn into a
    # file or a pipe)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    out = io.StringIO()     # (no terminal)
    with progress_bar(total=2, desc="piped", disable=None, leave=None, file=out) as bar:
        hidden = bar.disable      # (a closed bar says disable=True anyway)
        bar.update(2)
    assert hidden and out.getvalue() == ""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    with progress_bar(total=2, desc="shown", disable=None, file=out) as bar:
        hidden = bar.disable
        bar.update(2)
    assert not hidden and "shown" in out.getvalue()
