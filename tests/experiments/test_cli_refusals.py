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
