"""Command-line values refused before any work, with the flag that set them."""

import pytest
import torch

from skpoison.__main__ import main

TINY = ["--tiny", "--n-jobs", "1", "--no-progress", "--no-plot"]


@pytest.mark.parametrize("device, message", [
    ("foo", "device='foo' is not a valid device"),
    ("", "device='' is not a valid device"),
    ("mps", "device='mps' is not supported"),
    pytest.param("cuda", "CUDA is not available", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_a_device_no_cell_could_use_is_refused_before_any_cell(tmp_path, capsys, recwarn,
                                                               device, message):
    for command in (["evaluate"], ["reproduce", "fig2"]):
        assert main([*command, *TINY, "--strategies", "no_reg", "--device", device,
                     "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert message in err and "--device" in err
    assert not [w for w in recwarn if "cells failed" in str(w.message)]
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize("args, hint", [
    (["reproduce", "fig1", "--grid-points", "1"], "got 1. (command line: --grid-points)"),
    (["reproduce", "fig2", "--grid-points", "3"], "not of fig2. (command line: --grid-points)"),
    (["evaluate", "--large-lambda", "inf"], "(command line: --large-lambda)"),
    (["evaluate", "--cv-grid", "-3", "nan"], "(command line: --cv-grid)"),
    (["evaluate", "--classes", "0"], "(command line: --classes)"),
])
def test_messages_that_open_with_a_parameter_name_its_flag(tmp_path, capsys, args, hint):
    assert main([*args, *TINY, "--out", str(tmp_path)]) == 2
    assert hint in capsys.readouterr().err
