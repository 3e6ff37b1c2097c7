"""Peak memory of checkpointed reverse mode on a long unroll of a CIFAR-sized MLP.

The 3072-64-32-1 LeakyReLU MLP (198 785 parameters) on 1000 training points
(the last 20 poisoning points) and 200 validation points of uniform random
data in [-1, 1] with random labels (CIFAR-10's shape and range; the values do
not change the memory or the time), T = 1000 inner steps, float32, one torch
thread. Plain T-step training (``train``) against reverse mode storing the
whole trajectory (``checkpoint_every=None``) and checkpointed reverse mode
(``k = 10, ceil(sqrt(T)) = 32, 100, 250``, the nested ``"cbrt"`` schedule
``(100, 10)`` and three levels ``(250, 50, 10)``).

Every configuration runs once in a fresh subprocess: after ``import torch``
the peak resident set is reset (``/proc/self/clear_refs``) and the resident
set recorded; the data, the problem and ``w_0`` are built and two training
steps warm the kernels up; the resident set is recorded again and the peak
reset; then the call runs. Two figures per configuration:

* ``job MiB``: the peak (``VmHWM``) above the resident set right after
  ``import torch``: data, model, warm-up buffers and the call itself: the
  memory the computation needs, and what the target compares;
* ``call MiB``: the peak above the resident set just before the call (the
  data already built): the call's own working memory and tapes.

Time is this thread's CPU time of the same call, as a ratio to plain training
(median over ``--repeats`` subprocesses).

With ``--device cuda`` the figures are those of torch's CUDA allocator
(``max_memory_allocated`` above ``memory_allocated`` at the same two points:
the GPU memory the job and the call need; host memory is not measured) and
the time is wall-clock after ``torch.cuda.synchronize``.

``--batch K`` runs ``K`` such problems (different data) as one batched
computation instead: ``batched_train`` against ``batched_hypergradient``
(``BatchedMLPUnroll``: the MLP's loops on stacked operands), the same
schedules.

Usage::

    python benchmarks/bench_memory.py [--steps 1000] [--repeats 1] [--batch 1]
        [--device cpu|cuda] [--out benchmarks/results/bench_memory.json]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))
from _machine import machine_info, probe_env  # noqa: E402  (benchmarks/, beside this script)
from _args import count, device  # noqa: E402  (benchmarks/, beside this script)

N_TRAIN, N_VAL, N_POISON, D, HIDDEN = 1000, 200, 20, 3072, (64, 32)
LR, LOG_LAMBDA = 0.05, math.log(0.01)
TARGET = 2.0   # checkpointed RMD job peak <= 2 x plain training job peak
CONFIGS = ["plain", "rmd", "rmd:10", "rmd:sqrt", "rmd:100", "rmd:250", "rmd:cbrt",
           "rmd:250,50,10"]


def parse_schedule(config):
    """``"rmd:32"`` -> 32, ``"rmd:sqrt"`` -> "sqrt", ``"rmd:250,50,10"`` -> (250, 50, 10)."""
    _, _, every = config.partition(":")
    if not every or every in ("sqrt", "cbrt"):
        return every or None
    return tuple(map(int, every.split(","))) if "," in every else int(every)


def config_name(text):
    """An argparse ``type``: a configuration :func:`parse_schedule` reads (``"plain"``,
    ``"rmd"``, ``"rmd:"`` and a positive int, ``sqrt``, ``cbrt`` or ints joined by
    commas), else argparse's usage error. (Any other name had run as full-tape
    ``"rmd"`` under its own label, and a bad schedule failed in its probe, after
    the configurations before it.)"""
    method, colon, every = text.partition(":")
    if text == "plain" or (method == "rmd" and not colon):
        return text
    if method == "rmd" and every in ("sqrt", "cbrt"):
        return text
    lengths = every.split(",") if method == "rmd" and every else []
    if lengths and all(length.isdigit() and int(length) > 0 for length in lengths):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a configuration: 'plain', 'rmd', or 'rmd:' and a checkpoint "
        "schedule (a positive int, 'sqrt', 'cbrt' or positive ints joined by commas)")


def _status_kib(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _reset_peak():
    Path("/proc/self/clear_refs").write_text("5")


class _HostMemory:
    """Resident memory of this process (``VmRSS``, peak ``VmHWM``), MiB."""

    def now(self):
        return _status_kib("VmRSS") / 1024

    def reset_peak(self):
        _reset_peak()

    def peak(self):
        return _status_kib("VmHWM") / 1024

    def seconds(self):
        return time.thread_time()


class _CudaMemory:
    """Memory held by torch's CUDA allocator on ``device``, MiB; wall-clock time."""

    def __init__(self, device):
        import torch

        self.torch, self.device = torch, device

    def now(self):
        return self.torch.cuda.memory_allocated(self.device) / 2**20

    def reset_peak(self):
        self.torch.cuda.synchronize(self.device)
        self.torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self):
        return self.torch.cuda.max_memory_allocated(self.device) / 2**20

    def seconds(self):
        self.torch.cuda.synchronize(self.device)
        return time.perf_counter()


def probe(config, steps, batch=1, device="cpu"):
    """Run one configuration; print ``job_mib call_mib seconds``."""
    import torch

    torch.set_num_threads(1)
    from skpoison.hypergrad import (batched_hypergradient, batched_train,
                                    compute_hypergradient, train)
    from skpoison.models import MLPProblem

    memory = _CudaMemory(device) if device.startswith("cuda") else _HostMemory()
    memory.reset_peak()
    base = memory.now()
    gen = torch.Generator().manual_seed(0)   # the same data on every device
    lead = (batch,) if batch > 1 else ()
    X = torch.rand(*lead, N_TRAIN, D, generator=gen) * 2 - 1
    Y = (torch.rand(*lead, N_TRAIN, 1, generator=gen) < 0.5).float()
    X_val = torch.rand(*lead, N_VAL, D, generator=gen) * 2 - 1
    Y_val = (torch.rand(*lead, N_VAL, 1, generator=gen) < 0.5).float()
    X[..., -N_POISON:, :] = X_val[..., :N_POISON, :]
    Y[..., -N_POISON:, :] = 1 - Y_val[..., :N_POISON, :]
    X, Y, X_val, Y_val = (t.to(device) for t in (X, Y, X_val, Y_val))
    problem = MLPProblem(D, HIDDEN, 1, device=device)
    w0 = problem.init_params(gen, dtype=torch.float32).to(device)
    lam = torch.full((problem.n_hyper,), LOG_LAMBDA, device=device)
    fit, hypergradient = ((batched_train, batched_hypergradient) if batch > 1
                          else (train, compute_hypergradient))
    fit(problem, w0, lam, X, Y, steps=2, lr=LR)          # warm-up
    if config == "plain":
        def call():
            return fit(problem, w0, lam, X, Y, steps=steps, lr=LR)
    else:
        every = parse_schedule(config)

        def call():
            return hypergradient(problem, w0, lam, X, Y, X_val, Y_val, n_poison=N_POISON,
                                 steps=steps, lr=LR, method="rmd", checkpoint_every=every)
    before = memory.now()
    memory.reset_peak()
    start = memory.seconds()
    result = call()
    seconds = memory.seconds() - start
    peak = memory.peak()
    check = result if config == "plain" else result.grad_log_lambda
    assert bool(torch.isfinite(check).all())
    print(peak - base, peak - before, seconds)


def run_probe(config, steps, batch=1, device="cpu"):
    out = subprocess.run([sys.executable, __file__, "--probe", config, "--steps", str(steps),
                          "--batch", str(batch), "--device", device],
                         capture_output=True, text=True, env=probe_env(ROOT))
    if out.returncode:
        raise RuntimeError(f"memory probe {config} (T = {steps}) failed:\n{out.stderr}")
    job, call, seconds = map(float, out.stdout.split()[-3:])
    return job, call, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=count(1), default=1000)
    parser.add_argument("--repeats", type=count(1), default=1)
    parser.add_argument("--configs", nargs="+", type=config_name, default=CONFIGS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/bench_memory.json"))
    parser.add_argument("--batch", type=count(1), default=1,
                        help="K problems as one batched computation (default 1: one)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--probe")
    args = parser.parse_args(argv)
    if args.probe:
        return probe(args.probe, args.steps, args.batch, args.device)
    try:   # (here, not as the argument's type: a probe imports no more than torch)
        args.device = device(args.device)
    except argparse.ArgumentTypeError as exc:
        parser.error(f"argument --device: {exc}")
    if "plain" not in args.configs:
        parser.error("--configs must include 'plain': every ratio is to plain training.")
    from skpoison.hypergrad._checkpoint import segment_lengths

    rows = []
    for config in args.configs:
        runs = [run_probe(config, args.steps, args.batch, args.device)
                for _ in range(args.repeats)]
        job, call, seconds = (float(np.median(v)) for v in zip(*runs))
        every = parse_schedule(config)
        rows.append(dict(config=config, job_mib=job, call_mib=call, seconds=seconds,
                         segments=None if config == "plain"
                         else segment_lengths(every, args.steps),
                         runs=runs))
        print(f"{config:14} job {job:8.1f} MiB  call {call:8.1f} MiB  {seconds:7.2f} s",
              flush=True)
    plain = next(r for r in rows if r["config"] == "plain")
    rmd = next((r for r in rows if r["config"] == "rmd"), None)
    batched = f", {args.batch} problems batched" if args.batch > 1 else ""
    print(f"\nMLP 3072-64-32-1, n_train={N_TRAIN} (uniform random in [-1, 1]), "
          f"n_val={N_VAL}, T={args.steps}, float32, 1 thread, {args.device}{batched}")
    print(f"{'config':14}{'segments':>10}{'job MiB':>10}{'x plain':>9}{'call MiB':>10}"
          f"{'time x plain':>14}{'x rmd':>7}  target")
    for r in rows:
        r["job_ratio"] = r["job_mib"] / plain["job_mib"]
        r["time_ratio"] = r["seconds"] / plain["seconds"]
        r["time_vs_rmd"] = None if rmd is None else r["seconds"] / rmd["seconds"]
        checkpointed = r["config"].startswith("rmd:")
        r["passed"] = bool(r["job_ratio"] <= TARGET) if checkpointed else None
        verdict = "" if r["passed"] is None else (
            f"<= {TARGET}x: {'PASS' if r['passed'] else 'FAIL'}")
        seg = "" if not r["segments"] else ",".join(map(str, r["segments"]))
        vs_rmd = "" if r["time_vs_rmd"] is None else f"{r['time_vs_rmd']:.2f}"
        print(f"{r['config']:14}{seg:>10}{r['job_mib']:10.1f}{r['job_ratio']:9.2f}"
              f"{r['call_mib']:10.1f}{r['time_ratio']:14.2f}{vs_rmd:>7}  {verdict}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(
        **machine_info(args.device), threads=1, dtype="float32",
        model="MLP 3072-64-32-1", n_train=N_TRAIN, n_val=N_VAL, n_poison=N_POISON,
        steps=args.steps, lr=LR, log_lambda=LOG_LAMBDA, data="uniform random in [-1, 1]",
        repeats=args.repeats, batch=args.batch, target=TARGET, rows=rows,
    ), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
