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


@pytest.mark.parametrize("left, said", [
    ((), "no cell had finished, so nothing is kept"),
    (("cells/attack-0123456789-cv-r0.json",), "finished cells are kept in {out}/cells/ —"),
    (("cells/attack-0123456789-cv-r0.json", "cells/attack-0123456789-cv-r1.resume.pt"),
     "finished cells are kept in {out}/cells/, with the finished batches of the cells"),
    (("cells/attack-0123456789-cv-r1.resume.pt",),
     "the finished batches of the cells that were running are kept in {out}/cells/"),
])
def test_the_ctrl_c_message_names_only_what_is_on_disk(left, said, tmp_path, monkeypatch,
                                                       capsys):
    # (an interrupt before the first cell ended said "finished cells are kept in
    # OUT/cells/", a folder that need not even exist then)
    for name in left:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("{}")
    _run_command_seeing(monkeypatch, KeyboardInterrupt())
    assert main(["evaluate", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert said.format(out=tmp_path) in err
    assert ("cells/" in err) == bool(left)


def test_a_batched_run_names_no_partial_batches(tmp_path, monkeypatch, capsys):
    # (a batched attack keeps no resume file: a batched rerun starts its cells over)
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "attack-0123456789-cv-r1.resume.pt").write_text("{}")
    _run_command_seeing(monkeypatch, KeyboardInterrupt())
    assert main(["evaluate", "--batch-repetitions", "2", "--out", str(tmp_path)]) == 130
    assert "no cell had finished, so nothing is kept" in capsys.readouterr().err


def test_the_ratios_help_and_make_config_say_that_ratios_are_sorted():
    # (given in any order, they are sorted without a word: the attack is cumulative)
    from skpoison.experiments import make_config

    parser = main.__globals__["build_parser"]()
    for command in ("evaluate", "reproduce"):
        (sub,) = [a for a in parser._actions if a.dest == "command"]
        (ratios,) = [a for a in sub.choices[command]._actions if a.dest == "ratios"]
        assert "sorted" in ratios.help
    notes = make_config.__doc__.split("Notes")[1]
    assert "``ratios`` sorted" in notes


@pytest.mark.parametrize("command", [["evaluate"], ["reproduce", "fig2"]])
def test_a_number_like_value_of_the_wrong_type_is_refused_as_typed(command, capsys):
    # (argparse quoted the token with the marker space: "invalid int value: ' -1e3'")
    with pytest.raises(SystemExit):
        main([*command, "--seed", "-1e3"])
    assert "argument --seed: invalid int value: '-1e3'" in capsys.readouterr().err
