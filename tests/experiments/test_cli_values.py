"""Command-line values read as given, and the Ctrl-C message's account of what is kept."""

import pytest

from skpoison.__main__ import main


def _run_command_seeing(monkeypatch, outcome=None):
    """Make the command's work record its parsed arguments (and raise ``outcome``)."""
    seen = []

    def run_command(args, evaluate, reproduce):
        seen.append(args)
        if outcome is not None:
            raise outcome
        raise ValueError("stop here")

    monkeypatch.setitem(main.__globals__, "_run_command", run_command)
    return seen


@pytest.mark.parametrize("value", ["-1e5", "-inf", "-5"])
@pytest.mark.parametrize("option, dest", [("--out", "out"), ("--data-home", "data_home"),
                                          ("--dataset", "dataset"), ("--device", "device")])
def test_a_number_like_text_value_is_read_as_typed(option, dest, value, monkeypatch):
    # ("--out -1e5" wrote into " -1e5": the space that lets argparse take "-1e5" for a
    # value, not an option, stayed in the values read as text; "-5" was "-5")
    seen = _run_command_seeing(monkeypatch)
    for command in (["evaluate"], ["reproduce", "fig2"]):
        assert main([*command, option, value]) == 2
        assert getattr(seen.pop(), dest) == value


def test_a_number_like_choice_is_refused_as_typed(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", "-1e5"])
    assert "invalid choice: '-1e5'" in capsys.readouterr().err
