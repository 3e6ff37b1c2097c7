"""The main command still prints its table and writes its CSV without matplotlib."""

import sys

from skpoison.experiments._cli import main


def test_evaluate_without_matplotlib_writes_csv_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    status = main(["evaluate", "--tiny", "--repetitions", "1", "--strategies", "no_reg",
                   "--out", str(tmp_path), "--no-progress"])
    captured = capsys.readouterr()
    assert status == 0
    assert "matplotlib is not installed" in captured.err
    assert "no_reg" in captured.out
    assert (tmp_path / "digits_lr_l2_tiny_evaluate.csv").exists()
    assert not list(tmp_path.glob("*.png"))
