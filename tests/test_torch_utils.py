"""Devices and dtypes as the estimators, attacks and sweeps are given them."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skpoison import HypergradRegularizedLR
from skpoison._torch_utils import resolve_device, resolve_dtype
from skpoison.experiments import make_config


@pytest.fixture
def one_gpu(monkeypatch):
    """A machine with one CUDA device, as torch.cuda reports it (no GPU is touched)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.parametrize("device", ["cuda:7", torch.device("cuda", 1)], ids=["str", "device"])
def test_a_gpu_the_machine_lacks_is_refused_by_name(one_gpu, device):
    # (it passed, and the first tensor failed deep in the fit: "invalid device ordinal")
    with pytest.raises(ValueError, match=r"names GPU \d, but this machine has 1 CUDA "
                                         r"device \(cuda:0 to cuda:0\)"):
        resolve_device(device)


def test_the_gpus_the_machine_has_are_taken(one_gpu):
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda", 0)


def test_a_fit_on_a_gpu_the_machine_lacks_says_so_before_it_starts(one_gpu):
    X, y = load_digits(n_class=2, return_X_y=True)
    model = HypergradRegularizedLR(inner_steps=2, outer_steps=1, device="cuda:7")
    with pytest.raises(ValueError, match="device='cuda:7' names GPU 7"):
        model.fit(X[:60] / 16, y[:60], X_val=X[60:90] / 16, y_val=y[60:90])


@pytest.mark.parametrize("spelling", ["float32", np.float32, np.dtype("float32"),
                                      np.dtype(">f4"), torch.float32])
def test_every_spelling_of_float32_is_float32(spelling):
    # (an array's dtype, np.dtype("float32"), was refused: "use 'float64' or 'float32'")
    assert resolve_dtype(spelling) is torch.float32
    assert make_config(size="tiny", dtype=spelling).dtype == "float32"


@pytest.mark.parametrize("dtype", [np.dtype("float16"), "float16", torch.float16, np.int64,
                                   ["float32"], None])
def test_other_dtypes_are_refused(dtype):
    with pytest.raises(ValueError, match="is not supported"):
        resolve_dtype(dtype)
