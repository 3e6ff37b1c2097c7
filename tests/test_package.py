"""The top-level namespace: its names load on first use, and all of them exist."""

import subprocess
import sys
from pathlib import Path

import pytest

import skpoison

ROOT = str(Path(__file__).resolve().parents[1])


def test_every_public_name_resolves_and_is_listed():
    import skpoison.experiments as experiments

    assert sorted(skpoison.__all__) == sorted([*skpoison._EXPORTS, "__version__"])
    for package in (skpoison, experiments):
        for name in package.__all__:
            assert getattr(package, name) is not None
            assert name in dir(package)
    assert skpoison.HypergradRegularizedLR.__module__ == "skpoison.estimators._logistic"
    assert skpoison.InnerDivergenceError is skpoison.hypergrad.InnerDivergenceError
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        skpoison.nothing   # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        experiments.nothing   # noqa: B018


def test_a_bare_import_is_light_and_subpackages_load_on_use():
    code = ("import sys, skpoison; light = 'torch' not in sys.modules; "
            "print(light, skpoison.hypergrad.InnerNotConvergedWarning.__name__, "
            "skpoison.OptimalPoisoner.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.split() == ["True", "InnerNotConvergedWarning", "OptimalPoisoner"]
