"""Benchmark the hypergradient engine against plain training (same run).

Binary logistic regression and the 784-32-8-1 LeakyReLU MLP on MNIST 0 vs 8
(1000 training points of which the last 20 are poisoning points, 100 trusted
validation points, T = 100 inner steps, float32). Every hypergradient method is
timed as a ratio to plain T-step training measured in the same run (median of
the ratios of alternating repeats; on the CPU the times are this thread's CPU
time, far steadier than wall time on a shared machine); naive autograd
through the unrolled loop is the in-run baseline, and ``plain_autograd`` is
plain training written the ordinary way (autograd gradient, then a step): the
baseline the issue's reference figures imply (their naive autograd is 3.2x
it), where ``plain`` is the engine's fused loop, more than twice as fast.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` above what was
allocated before the call; on the CPU the peak resident set (``VmHWM``, reset
through ``/proc/self/clear_refs``) above the resident set before one call, in
a fresh subprocess per method so that memory cached by earlier calls does not
hide it.

On CUDA three more rows time the loops replayed from a CUDA graph, as ratios
to the graphed plain training: ``plain_graph`` and ``rmd_graph`` (the bare
loops, captured here), and ``rmd_engine_graph``, the engine's own
``GraphedHypergradient`` (input copies, replay, output copies and the
divergence check's host read: what a fit or an attack pays per outer step),
with its time over eager ``rmd`` in the same run (``vs_eager``). The targets
are issue 5's GPU ones (LR rmd <= 2.3x).

Uses the real MNIST files when ``$SKPOISON_MNIST_DIR``, ``$SKPOISON_DATA/mnist`` or
``../shared/data/mnist`` holds them, else uniform random data in [0, 1].

Usage::

    python benchmarks/bench_hypergrad.py [--device cpu|cuda] [--repeats 7]
        [--models lr mlp lr-l1 lr-l1prox] [--no-memory]
        [--out benchmarks/results/bench_hypergrad.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from skpoison.hypergrad import (  # noqa: E402
    GraphedHypergradient,
    InnerNotConvergedWarning,
    compute_hypergradient,
    train,
)
from skpoison.models import LinearProblem, MLPProblem  # noqa: E402
from _machine import machine_info, mnist_folder, probe_env  # noqa: E402  (benchmarks/)
from _args import count, device  # noqa: E402  (benchmarks/, beside this script)

N_TRAIN, N_VAL, N_POISON, STEPS = 1000, 100, 20, 100
LOG_LAMBDA = math.log(0.1)
TARGETS = {("lr", "rmd"): 2.0, ("mlp", "rmd"): 3.5, ("lr", "cg"): 1.5}
# Issue 5's targets on a GPU (the issue's reference: a hand-written reverse pass
# with CUDA graphs reaches 2.15-2.35x for LR on an H100). LR cg's 1.5x is a CPU target.
CUDA_TARGETS = {("lr", "rmd"): 2.3, ("mlp", "rmd"): 3.5,
                ("lr", "rmd_graph"): 2.3, ("mlp", "rmd_graph"): 3.5}
METHODS = {
    "lr": ["plain_autograd", "rmd", "fmd_lambda", "cg", "exact", "autograd"],
    "mlp": ["plain_autograd", "rmd", "fmd_lambda", "autograd"],
    # L1 with subgradient steps (the paper's) and with proximal ones (l1_step):
    # what the soft threshold and the masked reverse pass cost (not run by default).
    "lr-l1": ["rmd", "fmd_lambda", "autograd"],
    "lr-l1prox": ["rmd", "fmd_lambda", "autograd"],
}
#: The models a run times by default (the L1 variants on request: --models).
DEFAULT_MODELS = ("lr", "mlp")
SKIPPED = {
    ("lr", "fmd"): "forward mode with 20*784 poison tangents costs ~15,000 "
                   "training runs; timed for lambda only (fmd_lambda)",
    ("mlp", "fmd"): "as for lr: timed for lambda only (fmd_lambda)",
    ("mlp", "cg"): "implicit methods need a converged convex inner problem",
    ("mlp", "exact"): "implicit methods need a converged convex inner problem",
}


def _read_idx(path):
    data = gzip.decompress(Path(path).read_bytes())
    ndim = data[3]
    shape = np.frombuffer(data, ">u4", ndim, 4).astype(int)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_data(seed=0):
    """Return ``(X, Y, X_val, Y_val, source)`` as float64 numpy arrays."""
    rng = np.random.default_rng(seed)
    directory = mnist_folder(ROOT)
    images = directory / "train-images-idx3-ubyte.gz"
    if images.exists():
        y_all = _read_idx(directory / "train-labels-idx1-ubyte.gz")
        keep = np.flatnonzero((y_all == 0) | (y_all == 8))
        idx = rng.choice(keep, N_TRAIN + N_VAL, replace=False)
        X_all = _read_idx(images).reshape(-1, 784)[idx] / 255.0
        y_all = (y_all[idx] == 8).astype(float)
        source = f"MNIST 0 vs 8 ({directory})"
    else:
        X_all = rng.uniform(size=(N_TRAIN + N_VAL, 784))
        y_all = (rng.uniform(size=N_TRAIN + N_VAL) < 0.5).astype(float)
        source = "uniform random data in [0, 1] (MNIST not found)"
    X, y = X_all[:N_TRAIN].copy(), y_all[:N_TRAIN].copy()
    X_val, y_val = X_all[N_TRAIN:], y_all[N_TRAIN:]
    # The last N_POISON training points become clones of validation points
    # with flipped labels, as the attack initializes them.
    X[-N_POISON:], y[-N_POISON:] = X_val[:N_POISON], 1.0 - y_val[:N_POISON]
    return X, y[:, None], X_val, y_val[:, None], source


def setup(model, device, dtype=torch.float32):
    """Problem, tensors and inner learning rate for one model."""
    X, Y, X_val, Y_val, source = load_data()
    as_t = lambda a: torch.tensor(a, dtype=dtype, device=device)  # noqa: E731
    X, Y, X_val, Y_val = map(as_t, (X, Y, X_val, Y_val))
    if model.startswith("lr"):
        penalty = "l1" if model.startswith("lr-l1") else "l2"
        problem = LinearProblem(784, 1, penalty, device=device,
                                l1_step="proximal" if model == "lr-l1prox" else "subgradient")
        # 1 / L with L the smoothness constant of the (augmented) logistic loss.
        X1 = torch.cat([X, torch.ones_like(X[:, :1])], 1).double()
        L = float(torch.linalg.matrix_norm(X1, 2) ** 2) / (4 * X.shape[0]) + 0.1
        lr = 1.0 / L
    else:
        problem = MLPProblem(784, (32, 8), 1, device=device)
        lr = 0.1
    generator = torch.Generator(device=device).manual_seed(0)
    w0 = problem.init_params(generator, dtype=dtype, device=device)
    log_lambda = torch.full((problem.n_hyper,), LOG_LAMBDA, dtype=dtype, device=device)
    return problem, w0, log_lambda, (X, Y, X_val, Y_val), lr, source


def train_with_autograd(problem, w0, log_lambda, X, Y, lr):
    """Plain training written the ordinary way: autograd gradient, then a step.

    Not a hypergradient: the reference point of the issue's targets, whose
    figures ("naive autograd 3.2x plain training") imply a plain-training
    baseline of about this cost, where ``plain`` above is the engine's fused
    loop.
    """
    w = w0.detach().clone()
    for _ in range(STEPS):
        w.requires_grad_(True)
        loss = problem.data_loss(w, X, Y) + problem.penalty_value(w, log_lambda)
        (grad,) = torch.autograd.grad(loss, w)
        w = (w - lr * grad).detach()
    return w


def make_call(model, method, device):
    problem, w0, log_lambda, (X, Y, X_val, Y_val), lr, _ = setup(model, device)
    if method == "plain":
        return lambda: train(problem, w0, log_lambda, X, Y, steps=STEPS, lr=lr)
    if method == "plain_autograd":
        return lambda: train_with_autograd(problem, w0, log_lambda, X, Y, lr)
    n_poison = 0 if method == "fmd_lambda" else N_POISON
    name = "fmd" if method == "fmd_lambda" else method
    options = {"tol": 1e-5} if method == "cg" else {}

    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnerNotConvergedWarning)
            return compute_hypergradient(problem, w0, log_lambda, X, Y, X_val, Y_val,
                                         n_poison=n_poison, steps=STEPS, lr=lr,
                                         method=name, **options)
    return call


def make_graphed(model, method, device):
    """Plain training or rmd captured once into a CUDA graph; returns its replay.

    The unrolled loops themselves (``Unroll.train``, or ``forward``, the
    validation gradient and ``backward``), without the divergence check, which
    synchronizes with the host: measures whether graph replay pays, before any
    graph path is built into the engine.
    """
    problem, w0, log_lambda, (X, Y, X_val, Y_val), lr, _ = setup(model, device)
    with torch.no_grad():
        unroll = problem.unroll(log_lambda, X, Y, lr=lr,
                                n_poison=0 if method == "plain" else N_POISON)

        def body():
            if method == "plain":
                return unroll.train(w0, STEPS)
            w, tape = unroll.forward(w0, STEPS)
            _, a = problem.loss_and_grad(w, X_val, Y_val)
            return unroll.backward(tape, a)

        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):   # warm-up off the capture stream
            for _ in range(3):
                body()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            body()
    return graph.replay


def engine_graph_call(model, device):
    """The engine's own graph path: ``GraphedHypergradient`` (captured on the first call).

    Every call copies the inputs into the graph, replays it, clones the
    outputs and reads the divergence verdicts once: what a fit or an attack
    pays per outer step on a GPU.
    """
    problem, w0, log_lambda, (X, Y, X_val, Y_val), lr, _ = setup(model, device)
    hypergradient = GraphedHypergradient(problem, n_poison=N_POISON, steps=STEPS, lr=lr)
    return lambda: hypergradient(w0, log_lambda, X, Y, X_val, Y_val)


def graph_rows(model, device, repeats):
    """``plain_graph``, ``rmd_graph`` and ``rmd_engine_graph`` rows (or why capture failed).

    ``rmd_engine_graph``'s ratio is to ``plain_graph``; ``vs_eager`` is its
    time over eager ``rmd`` (``compute_hypergradient``) in the same run.
    """
    try:
        plain = make_graphed(model, "plain", device)
        rmd = make_graphed(model, "rmd", device)
    except Exception as exc:  # report, do not hide the other figures
        return [dict(model=model, method="rmd_graph", error=f"{type(exc).__name__}: {exc}")]
    plain_seconds, *_ = time_paired(plain, plain, device, repeats)
    seconds, base, ratio = time_paired(rmd, plain, device, repeats)
    target = CUDA_TARGETS.get((model, "rmd_graph"))
    rows = [dict(model=model, method="plain_graph", seconds=plain_seconds, ratio=1.0),
            dict(model=model, method="rmd_graph", seconds=seconds, ratio=ratio,
                 plain_seconds=base, target=target, passed=bool(ratio <= target))]
    try:
        engine = engine_graph_call(model, device)
        engine()   # the capture
    except Exception as exc:  # as above
        return rows + [dict(model=model, method="rmd_engine_graph",
                            error=f"{type(exc).__name__}: {exc}")]
    engine_seconds, engine_base, engine_ratio = time_paired(engine, plain, device, repeats)
    _, eager_seconds, vs_eager = time_paired(engine, make_call(model, "rmd", device), device,
                                             repeats)
    return rows + [dict(model=model, method="rmd_engine_graph", seconds=engine_seconds,
                        ratio=engine_ratio, plain_seconds=engine_base, target=target,
                        passed=bool(engine_ratio <= target), eager_rmd_seconds=eager_seconds,
                        vs_eager=vs_eager)]


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _clock(device):
    # On a CPU shared with other jobs, this thread's CPU time is far less noisy
    # than wall time (torch runs single-threaded here); CUDA needs wall time.
    return time.perf_counter if torch.device(device).type == "cuda" else time.thread_time


def time_paired(call, baseline, device, repeats):
    """Median seconds of ``call`` and ``baseline`` and the median of their ratios.

    The two are run alternately so that slow drifts of a shared machine hit
    both alike.
    """
    clock = _clock(device)
    call(), baseline()
    _sync(device)
    seconds, base_seconds = [], []
    for _ in range(repeats):
        for fn, out in ((baseline, base_seconds), (call, seconds)):
            start = clock()
            fn()
            _sync(device)
            out.append(clock() - start)
    ratios = np.array(seconds) / np.array(base_seconds)
    return float(np.median(seconds)), float(np.median(base_seconds)), float(np.median(ratios))


def peak_memory_mb(model, method, device):
    """Peak extra memory of one call (MiB): CUDA allocator or a subprocess's RSS."""
    if torch.device(device).type == "cuda":
        call = make_call(model, method, device)
        call()
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        call()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    out = subprocess.run(
        [sys.executable, __file__, "--memory-probe", model, method],
        capture_output=True, text=True, env=probe_env(ROOT),
    )
    if out.returncode:
        raise RuntimeError(f"memory probe {model} {method} failed:\n{out.stderr}")
    return float(out.stdout.strip().splitlines()[-1])


def _status_kib(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def memory_probe(model, method):
    torch.set_num_threads(1)
    call = make_call(model, method, "cpu")
    # Warm up plain training (allocator, kernels) without the method itself.
    make_call(model, "plain", "cpu")()
    try:
        Path("/proc/self/clear_refs").write_text("5")   # reset the peak (VmHWM)
        before = _status_kib("VmRSS")
        call()
        peak = _status_kib("VmHWM")
    except OSError:   # no procfs: the lifetime peak, coarser
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        call()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(max(peak - before, 0) / 1024.0)


def run(device, repeats, memory, models=DEFAULT_MODELS):
    rows = []
    for model in models:
        problem, *_, lr, source = setup(model, device)
        plain_call = make_call(model, "plain", device)
        plain, *_ = time_paired(plain_call, plain_call, device, repeats)
        rows.append(dict(model=model, method="plain", seconds=plain, ratio=1.0,
                         n_params=problem.n_params, lr=lr,
                         peak_mb=peak_memory_mb(model, "plain", device) if memory else None))
        for method in METHODS[model]:
            seconds, plain_seconds, ratio = time_paired(
                make_call(model, method, device), plain_call, device, repeats)
            targets = CUDA_TARGETS if torch.device(device).type == "cuda" else TARGETS
            target = targets.get((model, method))
            rows.append(dict(
                model=model, method=method, seconds=seconds, ratio=ratio,
                plain_seconds=plain_seconds, target=target,
                passed=None if target is None else bool(ratio <= target),
                peak_mb=peak_memory_mb(model, method, device) if memory else None,
                n_params=problem.n_params, lr=lr,
            ))
        if torch.device(device).type == "cuda":
            rows.extend(graph_rows(model, device, repeats))
    # (the skips of the models run: "lr-l1" and "lr-l1prox" skip what "lr" does)
    run_bases = {"lr" if model.startswith("lr") else model for model in models}
    skipped = [dict(model=m, method=k, reason=r) for (m, k), r in SKIPPED.items()
               if m in run_bases]
    return rows, skipped, source


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", type=device)
    parser.add_argument("--repeats", type=count(1), default=7)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--models", nargs="+", choices=list(METHODS), default=list(DEFAULT_MODELS))
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/bench_hypergrad.json"))
    parser.add_argument("--memory-probe", nargs=2, metavar=("MODEL", "METHOD"))
    args = parser.parse_args(argv)
    if args.memory_probe:
        return memory_probe(*args.memory_probe)
    torch.set_num_threads(1)
    rows, skipped, source = run(args.device, args.repeats, not args.no_memory, args.models)
    print(f"data: {source}; device: {args.device}; torch {torch.__version__}; "
          f"1 thread; T={STEPS}; float32; lambda=log 0.1")
    print(f"{'model':10}{'method':17}{'seconds':>10}{'x plain':>9}{'peak MiB':>10}  target")
    for r in rows:
        if "error" in r:
            print(f"{r['model']:10}{r['method']:17}  capture failed: {r['error']}")
            continue
        mem = "" if r.get("peak_mb") is None else f"{r['peak_mb']:.1f}"
        verdict = "" if r.get("target") is None else (
            f"<= {r['target']}: {'PASS' if r['passed'] else 'FAIL'}")
        if "vs_eager" in r:
            verdict += f"  (time x{r['vs_eager']:.2f} of eager rmd)"
        print(f"{r['model']:10}{r['method']:17}{r['seconds']:10.4f}{r['ratio']:9.2f}"
              f"{mem:>10}  {verdict}")
    for s in skipped:
        print(f"skipped {s['model']} {s['method']}: {s['reason']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(
        **machine_info(args.device), threads=1, data=source,
        models=args.models, memory=not args.no_memory,
        steps=STEPS, n_train=N_TRAIN, n_val=N_VAL, n_poison=N_POISON, dtype="float32",
        log_lambda=LOG_LAMBDA, repeats=args.repeats, rows=rows, skipped=skipped,
    ), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
