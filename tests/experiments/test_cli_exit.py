"""The command's last moments: a Ctrl-C once the run is over."""

import os
import signal
import subprocess
import sys
import time

# ``console`` once its run is over (outputs written, the table printed), and
# then the interpreter's exit, where joblib joins its worker processes (loky's
# atexit hook; seconds on a loaded machine): a Ctrl-C lands meanwhile.
_RUN_OVER_THEN_CTRL_C = """
import atexit, os, signal, sys, time, types
from skpoison.experiments import _cli

def workers_joined_at_exit():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.5)

atexit.register(workers_joined_at_exit)
_cli._main = lambda argv: (STATUS, types.SimpleNamespace(backend=None))
print("wrote the results")
sys.exit(_cli.console())
"""


def _default_signals():
    """SIGINT and SIGTERM as a terminal's command gets them. (A shell that started
    pytest in the background ignores SIGINT, and children inherit that.)"""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def _ctrl_c_after_the_run(status):
    return subprocess.run([sys.executable, "-c",
                           _RUN_OVER_THEN_CTRL_C.replace("STATUS", str(status))],
                          capture_output=True, text=True, timeout=25,
                          preexec_fn=_default_signals)


def test_a_ctrl_c_once_the_run_is_over_is_ignored_while_it_exits():
    # It printed the traceback of joblib's interrupted join (loky), or the
    # process died of the SIGINT (threading: exit -2, 130 to the shell, no word
    # said), though every output was written; the run's status now stands.
    done = _ctrl_c_after_the_run(2)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
    assert done.stdout == "wrote the results\n"


# ``console`` whose run gets a SIGTERM (``kill PID``, ``timeout``, a scheduler),
# with a finished cell in OUT; WORKERS: with joblib's loky workers at work.
_TERMINATED_RUN = """
import os, signal, sys, time
from skpoison.experiments import _cli

def work(path):    # (a cell: says where it runs, then computes on)
    with open(path, "a") as out:
        out.write(f"worker {os.getpid()}\\n")
    time.sleep(30)

def run(args):   # (the command's work, without its imports)
    if not WORKERS:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    from joblib import Parallel, delayed
    results = Parallel(n_jobs=2, backend="loky", return_as="generator_unordered")(
        delayed(work)(PIDS) for _ in range(2))
    while not (os.path.exists(PIDS) and len(open(PIDS).readlines()) == 2):
        time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGTERM)
    list(results)

_cli._run = run
sys.argv[1:] = ["evaluate", "--out", OUT]
sys.exit(_cli.console())
"""


def _terminated_run(tmp_path, workers):
    """The exit status, stderr and worker process ids of a run that gets a SIGTERM."""
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "attack-0123456789-cv-r0.json").write_text("{}")
    script = (_TERMINATED_RUN.replace("OUT", repr(str(tmp_path)))
              .replace("PIDS", repr(str(tmp_path / "pids.txt")))
              .replace("WORKERS", str(workers)))
    # (files, not pipes: the old code's workers, left running, held pipes open)
    with open(tmp_path / "err.txt", "w") as err:
        process = subprocess.Popen([sys.executable, "-c", script], stderr=err,
                                   preexec_fn=_default_signals)
        process.wait(timeout=60)
    pids = tmp_path / "pids.txt"
    pids = [int(line.split()[1]) for line in pids.read_text().splitlines()] if workers else []
    return process.returncode, (tmp_path / "err.txt").read_text(), pids


def test_a_sigterm_ends_the_run_as_an_interrupted_one(tmp_path):
    # Python's default SIGTERM ended the process without a word (exit -15).
    status, err, _ = _terminated_run(tmp_path, workers=False)
    assert status == 143, err
    assert (f"skpoison: terminated (SIGTERM); finished cells are kept in {tmp_path}/cells/ "
            "— rerun the same command to resume.") in err


def test_a_sigterm_stops_the_runs_workers_as_a_ctrl_c_does(tmp_path):
    # The default SIGTERM ended the main process alone: loky's workers went on
    # computing their cells (and the cells queued for them), then lingered idle
    # for minutes, holding the caller's pipes.
    status, err, workers = _terminated_run(tmp_path, workers=True)
    try:
        assert status == 143, err
        deadline = time.monotonic() + 10     # (loky stops them as the process ends)
        while [pid for pid in workers if _running(pid)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2 and not [pid for pid in workers if _running(pid)]
    finally:
        for pid in workers:     # (the old code's, left running)
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def _running(pid):
    """Whether process ``pid`` runs (a worker that exits is one loky no longer waits for:
    it is reaped, or left as a zombie of no one, for a moment)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
