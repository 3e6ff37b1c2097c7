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


@pytest.fixture(autouse=True)
def _signal_handlers_restored():
    """The test process's SIGINT and SIGTERM handlers as they were before the test:
    ``console`` (the process's last act), which some tests call here, leaves them
    ignored, and subprocesses would inherit that."""
    import signal

    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
