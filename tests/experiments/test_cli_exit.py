"""The command's last moments: a Ctrl-C once the run is over."""

import signal
import subprocess
import sys

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


def _ctrl_c_after_the_run(status):
    # (A shell that started pytest in the background ignores SIGINT, and children
    # inherit that: give the command the default handler back, as a terminal would.)
    return subprocess.run([sys.executable, "-c",
                           _RUN_OVER_THEN_CTRL_C.replace("STATUS", str(status))],
                          capture_output=True, text=True, timeout=25,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_a_ctrl_c_once_the_run_is_over_is_ignored_while_it_exits():
    # It printed the traceback of joblib's interrupted join (loky), or the
    # process died of the SIGINT (threading: exit -2, 130 to the shell, no word
    # said), though every output was written; the run's status now stands.
    done = _ctrl_c_after_the_run(2)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
    assert done.stdout == "wrote the results\n"
