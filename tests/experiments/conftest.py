"""Shared fixtures of the experiment tests: one output folder per module.

Figures that show the same sweep share its cells, so the figure commands are
run in a shared folder (as a user would) to keep the suite fast.
"""

import pytest


@pytest.fixture(scope="module")
def shared_out(tmp_path_factory):
    return tmp_path_factory.mktemp("skpoison-results")


@pytest.fixture(autouse=True)
def _headless_matplotlib(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
