"""The ``skpoison`` command line (private).

::

    skpoison evaluate [options]            # the main job: strategies x ratios table
    skpoison reproduce fig2 [options]      # one figure of the paper (fig1 ... fig14)
    skpoison reproduce list                # what each figure shows
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import signal
import sys
import threading
import time
import warnings
from concurrent.futures import BrokenExecutor
from pathlib import Path

from .. import __version__
# Only the registry: the parser is built without torch (a quick --help).
from ._registry import (ATTACK_STEP_CHOICES, DEFAULT_VAL_FRACTIONS, FIGURES, SIZES,
                        STRATEGIES)

__all__ = ["main", "console", "build_parser"]

_EPILOG = """\
sizes: --full follows the project's defaults for the paper (DESIGN.md section 6:
10 repetitions, T=200 inner steps, 30 attack steps per batch of 2 %); --quick
fits a 2-core CPU (3 repetitions, T=100, 15 attack steps); evaluate takes
T=300 at both sizes, and 5 repetitions at --quick; --tiny
only checks that everything runs.
Finished cells are kept in OUT/cells/: rerun the same command to resume an
interrupted sweep.
"""


_SIZE_HELP = {
    "tiny": "seconds: checks that the code runs (2 repetitions, tiny splits)",
    "quick": "3 repetitions, T = 100, 15 attack steps (evaluate: 5 repetitions, T = 300)",
    "full": "the project's sizes for the paper: 10 repetitions, T = 200, 30 attack steps "
            "(evaluate: T = 300)",
}
#: What the size presets mean for fig1 (reproduce's help only).
_FIG1_SIZE_HELP = {"quick": " (fig1: a 25 x 25 grid, 20 attack steps)",
                   "full": " (fig1: a 41 x 41 grid, 50 attack steps)"}


def _common(parser, default_size, default_out, size_notes=None):
    data = parser.add_argument_group("data and model")
    data.add_argument("--dataset", default=None,
                      help="digits (bundled, default), mnist, fashion-mnist, cifar10, "
                           "synthetic (Fig. 1's two Gaussians), or FILE.npz: your own data "
                           "(arrays X, scaled, and y, class labels: integers or names)")
    data.add_argument("--classes", type=int, nargs="+", default=None, metavar="C",
                      help="classes to keep: two, or more for a multiclass problem "
                           "(default: the paper's pair for the data set; all of a FILE.npz)")
    data.add_argument("--data-home", default=None,
                      help="folder with the data files (default: SKPOISON_DATA or "
                           "~/skpoison_data)")
    data.add_argument("--model", choices=("lr", "mlp"), default=None,
                      help="lr (logistic regression) or mlp (default: lr for evaluate, "
                           "the figure's for reproduce)")
    data.add_argument("--penalty", choices=("l2", "l1"), default=None,
                      help="regularizer (default: the figure's, l2 for evaluate)")
    data.add_argument("--l1-step", choices=("subgradient", "proximal"), default=None,
                      help="inner step of the victim (lr or mlp) under --penalty l1: the "
                           "paper's subgradient steps (default) or proximal "
                           "(soft-thresholding) ones")
    data.add_argument("--strategies", nargs="+", choices=sorted(STRATEGIES), default=None,
                      metavar="S", help="λ strategies to compare, among "
                      f"{', '.join(STRATEGIES)} (default: no_reg large cv learned for lr, "
                      "no_reg large learned learned_per_layer for mlp, or the figure's)")
    data.add_argument("--ratios", type=float, nargs="+", default=None, metavar="R",
                      help="poisoning ratios, in any order: the attack is cumulative, so "
                           "they are sorted (default: 0 0.04 0.08 0.12 0.16 0.2, with "
                           "--tiny 0 0.1 0.2; 0, the clean reference, is always added)")
    size = parser.add_argument_group("size")
    group = size.add_mutually_exclusive_group()
    for name in SIZES:
        group.add_argument(f"--{name}", dest="size", action="store_const", const=name,
                           help=_SIZE_HELP[name] + (size_notes or {}).get(name, "")
                           + (" (default)" if name == default_size else ""))
    parser.set_defaults(size=default_size)
    size.add_argument("--repetitions", type=int, default=None, help="random splits")
    size.add_argument("--inner-steps", type=int, default=None, help="inner GD steps T")
    size.add_argument("--attack-steps", type=int, default=None,
                      help="hypergradient steps of the attack per batch")
    size.add_argument("--victim-steps", type=int, default=None, metavar="T",
                      help="GD steps of the victim trained and scored on each poisoned set "
                           "(the paper's testing settings, its Table V; default: T)")
    size.add_argument("--batch-size", type=int, default=None, help="poisoning batch size")
    for name in ("n-train", "n-val", "n-test"):
        size.add_argument(f"--{name}", type=int, default=None, metavar="N",
                          help=f"{name[2:]} split size")
    size.add_argument("--seed", type=int, default=None, help="seed of repetition 0")
    fixed = parser.add_argument_group("fixed-λ strategies")
    fixed.add_argument("--large-lambda", type=float, default=None, metavar="LOG_LAMBDA",
                       help="λ = log α of the large strategy (default: 0 for lr l2, -2 for "
                            "lr l1 and mlp l2, -5 for mlp l1; calibrated on MNIST)")
    fixed.add_argument("--cv-grid", type=float, nargs="+", default=None,
                       metavar="LOG_LAMBDA",
                       help="λ values the cv strategy searches (default: evenly spaced "
                            "from -12 to 0: 13 at full size, 7 at quick, 3 at tiny)")
    steps = parser.add_argument_group("attack steps")
    steps.add_argument("--poison-lr", type=float, default=None, metavar="LR",
                       help="length of a poisoning point's step (default 0.5)")
    steps.add_argument("--lambda-lr", type=float, default=None, metavar="LR",
                       help="step size of the defender's λ steps (default 0.2)")
    steps.add_argument("--lambda-step", choices=ATTACK_STEP_CHOICES["lambda_step"],
                       default=None,
                       help="the defender's λ step (default adam; sign: our reading of "
                            "the paper's)")
    steps.add_argument("--normalize", choices=ATTACK_STEP_CHOICES["normalize"], default=None,
                       help="normalize the attacker's step per point (default) or per "
                            "batch")
    run = parser.add_argument_group("execution")
    run.add_argument("--device", default=None, help="cpu (default), cuda, cuda:N, auto")
    run.add_argument("--dtype", choices=("float64", "float32"), default=None,
                     help="float64 (default) or float32")
    run.add_argument("--n-jobs", type=int, default=None,
                     help="parallel cells (default -1: all cores)")
    run.add_argument("--backend", default=None,
                     help="joblib backend (loky, threading, dask; ray from the Python API)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="with --backend dask: the Dask scheduler to connect to "
                          "(default: a local cluster)")
    run.add_argument("--batch-repetitions", type=int, default=1, metavar="K",
                     help="attack up to K repetitions of a strategy as one batched "
                          "computation (pays off on a GPU and for small data; default 1)")
    run.add_argument("--out", default=default_out, help=f"output folder ({default_out})")
    run.add_argument("--no-plot", action="store_true",
                     help="write the CSV (and its settings JSON) only")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser():
    """The :class:`argparse.ArgumentParser` of ``skpoison``."""
    parser = argparse.ArgumentParser(
        prog="skpoison", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Hyperparameter learning under data poisoning (Carnerero-Cano et al., "
                    "TNNLS 2023): attack sweeps and the paper's figures.", epilog=_EPILOG)
    parser.add_argument("--version", action="version", version=f"skpoison {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_CommandParser)
    ev = sub.add_parser("evaluate", formatter_class=argparse.RawDescriptionHelpFormatter,
                        help="test error of each λ strategy under the optimal attack",
                        description="Test error (mean ± std) of each λ strategy x ratio "
                                    "under the optimal attack; writes OUT/<stem>.csv, "
                                    "OUT/<stem>_settings.json and PNGs, <stem> = "
                                    "<dataset>_<model>_<penalty>_<size>_evaluate.",
                        epilog=_EPILOG)
    _common(ev, "quick", "skpoison-results/evaluate")
    rep = sub.add_parser("reproduce", formatter_class=argparse.RawDescriptionHelpFormatter,
                         help="one figure of the paper (fig1 ... fig14, or list)",
                         description="Compute one figure of the paper: writes "
                                     "OUT/<stem>.csv, OUT/<stem>_settings.json and "
                                     "OUT/<stem>.png, <stem> = "
                                     "<dataset>_<model>_<penalty>_<size>_figN (fig4/fig9 "
                                     "also <stem>_relative_decrease.csv; fig1: <stem> = "
                                     "synthetic_<size>_fig1).", epilog=_EPILOG)
    rep.add_argument("figure", choices=[*FIGURES, "list"])
    _common(rep, "full", "skpoison-results", size_notes=_FIG1_SIZE_HELP)
    rep.add_argument("--val-fractions", type=float, nargs="+", default=None,
                     help="fig4/fig9: trusted-set sizes as shares of the training set "
                          f"(default: {' '.join(map(str, DEFAULT_VAL_FRACTIONS))})")
    rep.add_argument("--grid-points", type=int, default=None,
                     help="fig1: poisoning-point positions per axis")
    for command in (ev, rep):
        # A value read as text is read as given (see _negative_numbers_as_values);
        # not by the top parser, which would unmark every token it hands a command.
        command.register("type", None, _unmarked)
    return parser


def _overrides(args):
    names = ("classes", "strategies", "ratios", "repetitions", "inner_steps", "attack_steps",
             "victim_steps", "batch_size", "n_train", "n_val", "n_test", "seed", "poison_lr",
             "lambda_lr", "lambda_step", "normalize", "large_lambda", "cv_grid", "device",
             "dtype", "l1_step")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _can_plot(args):
    """Plots unless ``--no-plot``; without matplotlib, the CSV only (with a note)."""
    if args.no_plot:
        return False
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        print("skpoison: matplotlib is not installed, so no PNG is written "
              "(pip install 'skpoison[plot]'); the table and the CSV follow.",
              file=sys.stderr)
        return False
    return True


def _dask_client(args):
    """A Dask client for ``--backend dask`` (joblib's Dask backend needs one)."""
    if args.backend != "dask":
        if args.scheduler is not None:
            raise ValueError("--scheduler goes with --backend dask.")
        return contextlib.nullcontext()
    try:
        from distributed import Client
    except ImportError as exc:
        raise ImportError("--backend dask needs dask.distributed "
                          "(pip install 'dask[distributed]').") from exc
    return Client(args.scheduler) if args.scheduler else Client(dashboard_address=None)


def _run(args):
    from ._figures import reproduce
    from ._runner import evaluate

    with _dask_client(args):
        return _run_command(args, evaluate, reproduce)


def _run_command(args, evaluate, reproduce):
    # fig1 computes no cells: it refuses --n-jobs, so only a given one goes through.
    synthetic = args.command == "reproduce" and FIGURES[args.figure].kind == "synthetic"
    n_jobs = args.n_jobs if args.n_jobs is not None or synthetic else -1
    common = dict(size=args.size, out=args.out,
                  data_home=args.data_home, n_jobs=n_jobs, backend=args.backend,
                  verbose=not args.no_progress, plot=_can_plot(args),
                  batch_repetitions=args.batch_repetitions)
    if args.command == "evaluate":
        return evaluate(dataset="digits" if args.dataset is None else args.dataset,
                        model=args.model or "lr", penalty=args.penalty or "l2", **common,
                        **_overrides(args))
    return reproduce(args.figure, dataset=args.dataset, model=args.model, penalty=args.penalty,
                     val_fractions=None if args.val_fractions is None
                     else tuple(args.val_fractions), grid_points=args.grid_points,
                     **common, **_overrides(args))


def console():
    """The ``skpoison`` console script and ``python -m skpoison``: :func:`main`, then exit.

    After a Ctrl-C under the threading backend the cells' worker threads are
    still inside torch, and an interpreter shutting down under them aborts
    (``std::terminate``, exit 134): the process then leaves at once, every
    finished cell being on disk already (atomic renames). A SIGTERM (``kill
    PID``, ``timeout``, a batch scheduler) stops the run as a Ctrl-C does,
    with status 143: by default it ended the main process alone, and loky's
    workers computed on (their cells and those queued for them), then stayed
    for minutes, idle, holding the caller's pipes. Once the run is over (its
    outputs written, its message printed), a Ctrl-C or a SIGTERM is ignored
    while the process exits with the run's status: joblib joins its worker
    processes at exit (seconds on a loaded machine), and a Ctrl-C there
    printed the join's traceback (loky), or killed the process by SIGINT
    where torch was shutting down (threading: exit 130, no word said),
    though every output was written (so ``console`` returns with SIGINT and
    SIGTERM ignored: it is the process's last act). In-process callers
    of :func:`main` keep their process. Warnings are printed as
    ``skpoison: warning (Category): message``, without the file and line
    of the console script that Python would show.

    OpenMP's idle threads sleep (``OMP_WAIT_POLICY=PASSIVE``, unless the
    environment sets it): by default they spin after each of the loops'
    parallel regions, and on a machine whose other core is busy they took
    the core the loops need (``evaluate`` 1.8-3.8 times slower on the 2-core
    development machine; as fast as before with a core free). Set before
    torch loads OpenMP, which reads it once.
    """
    warnings.showwarning = _show_warning
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main_thread = threading.current_thread() is threading.main_thread()   # (signal's rule)
    if main_thread and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    status, args = _main(None)
    if status in (130, 143) and args.backend == "threading":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    if main_thread:
        # (SIG_IGN, not a handler: Python gives SIGINT its default action back
        # before torch's own shutdown, where a handler would no longer run)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if signal.getsignal(signal.SIGTERM) in (_terminate, signal.SIG_DFL):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return status


class _Terminated(KeyboardInterrupt):
    """A SIGTERM, raised where the run is, as a Ctrl-C's KeyboardInterrupt: joblib then
    stops its workers, and the run ends as an interrupted one (status 143)."""


def _terminate(signum, frame):
    """The SIGTERM handler of :func:`console`; a second SIGTERM ends the process at once."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise _Terminated


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as the command line shows it (with its category: what a filter names)."""
    print(f"skpoison: warning ({category.__name__}): {message}",
          file=sys.stderr if file is None else file)


def main(argv=None):
    """Run the command line ``argv``; return the exit status.

    Parameters
    ----------
    argv : list of str or None
        Arguments (None: ``sys.argv[1:]``).

    Examples
    --------
    >>> from skpoison.experiments._cli import main
    >>> main(["reproduce", "list"])  # doctest: +ELLIPSIS
    fig1   2-D example: ...
    0
    """
    return _main(argv)[0]


def _what_is_kept(args):
    """What an interrupted run leaves for the next one, for the message that ends it."""
    if args.command == "reproduce" and FIGURES[args.figure].kind == "synthetic":
        return " (fig1 keeps no partial results)."
    cells = Path(args.out) / "cells"     # (run_sweep's folder: it may not be there yet)
    finished = _holds(cells, "*.json")
    # (a batched attack keeps no partial state: a batched rerun starts its cells over)
    partial = args.batch_repetitions == 1 and _holds(cells, "*.resume.pt")
    if not finished and not partial:
        return ("; no cell had finished, so nothing is kept — rerun the same command to "
                "start over.")
    batches = "the finished batches of the cells that were running"
    if not finished:
        return f"; {batches} are kept in {cells}/ — rerun the same command to resume."
    batches = f", with {batches}" if partial else ""
    return f"; finished cells are kept in {cells}/{batches} — rerun the same command to resume."


def _holds(folder, pattern):
    """Whether ``folder`` holds a file matching ``pattern`` (False if it is not there)."""
    try:
        return next(folder.glob(pattern), None) is not None
    except OSError:
        return False


def _flags(parser):
    """Each option's destination -> its long flag (``n_jobs`` -> ``--n-jobs``), all commands."""
    flags = {}
    for action in parser._actions:     # (argparse has no public walk of its options)
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                flags.update(_flags(command))
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.dest not in ("help", "version"):
            flags.setdefault(action.dest, longs[0])
    return flags


def _naming_flags(message, flags):
    """``message`` (from the Python API, which names parameters) with the flags of the
    parameters it gives values of or quotes (``n_jobs=0``, ``grid_points == 1``,
    ``n_train + n_val = ...``, ``ratios [0.001]``, ``['n_jobs']``) or opens with
    (``grid_points must ...``, ``large_lambda is ...``), where it does not name
    them already."""
    named = [flag for dest, flag in flags.items()
             if flag not in message
             and re.search(rf"(?<![\w.-]){dest}\s?(==?\s?\S|\+|\[)|'{dest}'"
                           rf"|^{dest} (must|is|holds)\b", message)]
    return f"{message} (command line: {', '.join(named)})" if named else message


def _negative_numbers_as_values(argv):
    """``argv`` with ``-inf``, ``-1e1`` and the like read as values, not options.

    argparse takes only plain negative numbers (``-3``, ``-0.5``) for values;
    ``--large-lambda -inf`` said "expected one argument". No option of ours
    looks like a number, so such a token gets a leading space, which float()
    and int() ignore, and the values read as text drop (:func:`_unmarked`).

    Examples
    --------
    >>> _negative_numbers_as_values(["--cv-grid", "-8", "-inf", "-1e1", "--tiny"])
    ['--cv-grid', '-8', ' -inf', ' -1e1', '--tiny']
    """
    return [" " + token if _number_like(token) else token for token in argv]


def _number_like(token):
    """Whether argparse would take ``token`` for an option, though it is a number."""
    try:
        float(token)
    except ValueError:
        return False
    return token.startswith("-") and not re.fullmatch(r"-\d+|-\d*\.\d+", token)


class _CommandParser(argparse.ArgumentParser):
    """A command's parser, whose errors show a number-like value as typed (argparse
    quotes the token it was handed: ``invalid int value: ' -1e3'`` for ``--seed -1e3``,
    with :func:`_negative_numbers_as_values`' space)."""

    def error(self, message):
        super().error(re.sub(r"' (-[^']*)'", lambda m: f"'{_unmarked(' ' + m.group(1))}'"
                             if _number_like(m.group(1)) else m.group(0), message))


def _unmarked(value):
    """A value read as text (``--out``, ``--device``, a choice) without the space that
    :func:`_negative_numbers_as_values` put before it: ``--out -1e5`` writes into
    ``-1e5``, as ``--out -5`` into ``-5``, not into `` -1e5``.

    Examples
    --------
    >>> _unmarked(" -1e5"), _unmarked("results")
    ('-1e5', 'results')
    """
    return value[1:] if value.startswith(" ") and _number_like(value[1:]) else value


def _main(argv):
    """:func:`main`'s exit status, and the parsed arguments."""
    parser = build_parser()
    args = parser.parse_args(_negative_numbers_as_values(sys.argv[1:] if argv is None
                                                         else argv))
    if args.command == "reproduce" and args.figure == "list":
        for name, spec in FIGURES.items():
            print(f"{name:<6} {spec.description}")
        return 0, args
    start = time.perf_counter()
    try:
        result = _run(args)
    # FloatingPointError: the engine's InnerDivergenceError.
    except (ValueError, OSError, ImportError, FloatingPointError) as exc:
        print(f"skpoison: error: {_naming_flags(str(exc), _flags(parser))}", file=sys.stderr)
        return 2, args
    except KeyboardInterrupt as exc:    # (a Ctrl-C, or console's SIGTERM: _Terminated)
        terminated = isinstance(exc, _Terminated)
        print(f"\nskpoison: {'terminated (SIGTERM)' if terminated else 'interrupted'}"
              f"{_what_is_kept(args)}", file=sys.stderr)
        return (143 if terminated else 130), args
    except BrokenExecutor as exc:   # a worker process died (killed, out of memory)
        print(f"skpoison: error: a worker process died ({type(exc).__name__}: {exc})"
              f"{_what_is_kept(args)}", file=sys.stderr)
        return 1, args
    print(result.table)
    written = [str(p) for p in (result.csv, result.get("extra_csv"), result.get("settings"),
                                *(result.get("pngs") or [result.get("png")])) if p]
    print(f"wrote {', '.join(written)} in {time.perf_counter() - start:.1f} s")
    return 0, args
