"""Does ``torch.compile`` pay for the unrolled LR loops? Eager vs compiled steps.

One training step (``sigmoid(X1 theta)``, then ``theta * shrink + scale *
X1^T (p - y)``) and one reverse step (``a * shrink + scale * X1^T (p (1-p) *
X1 a)``) of the binary logistic regression of ``bench_hypergrad.py`` (MNIST
0 vs 8, 1000 x 785 augmented design, float32), each run T = 100 times eagerly
and through ``torch.compile`` (inductor, static shapes). Prints the compile
time, the median times of the 100-step loops (this thread's CPU time on a CPU,
wall time after synchronization on CUDA) and the largest difference of the
results. Writes ``benchmarks/results/bench_compile.json``.

Usage::

    python benchmarks/bench_compile.py [--device cpu|cuda] [--repeats 11]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import bench_hypergrad  # noqa: E402
from _machine import machine_info  # noqa: E402  (benchmarks/, beside this script)
from _args import count, device  # noqa: E402  (benchmarks/, beside this script)

STEPS = 100


def loops(device):
    problem, w0, log_lambda, (X, Y, _, _), lr, source = bench_hypergrad.setup("lr", device)
    unroll = problem.unroll(log_lambda, X, Y, lr=lr)
    X1, X1T, YT, shrink, scale = unroll.X1, unroll.X1T, unroll.YT, unroll.shrink, unroll.scale
    factor = torch.full_like(YT, 0.2)

    def train_step(theta):
        prob = torch.sigmoid(torch.mv(X1, theta))
        return torch.addmv(theta * shrink, X1T, prob - YT, alpha=scale)

    def reverse_step(a):
        return torch.addmv(a * shrink, X1T, factor * torch.mv(X1, a), alpha=scale)

    return {"train step": train_step, "reverse step": reverse_step}, w0, source


def run(step, start):
    value = start
    for _ in range(STEPS):
        value = step(value)
    return value


def timed(fn, device, repeats):
    cuda = torch.device(device).type == "cuda"
    clock = time.perf_counter if cuda else time.thread_time
    seconds = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = clock()
        fn()
        if cuda:
            torch.cuda.synchronize()
        seconds.append(clock() - start)
    return float(np.median(seconds))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", type=device)
    parser.add_argument("--repeats", type=count(1), default=11)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/bench_compile.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    steps, w0, source = loops(args.device)
    rows = []
    with torch.no_grad():
        for name, step in steps.items():
            start = time.perf_counter()
            compiled = torch.compile(step, dynamic=False)
            compiled(w0)
            compile_seconds = time.perf_counter() - start
            eager = timed(lambda: run(step, w0), args.device, args.repeats)
            fast = timed(lambda: run(compiled, w0), args.device, args.repeats)
            diff = float((run(step, w0) - run(compiled, w0)).abs().max())
            rows.append(dict(loop=name, compile_seconds=compile_seconds, eager=eager,
                             compiled=fast, speedup=eager / fast, max_abs_diff=diff))
            print(f"{name:13} compile {compile_seconds:6.1f} s   eager {eager * 1e3:7.2f} ms   "
                  f"compiled {fast * 1e3:7.2f} ms   x{eager / fast:.2f}   "
                  f"max |diff| {diff:.1e}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(**machine_info(args.device), data=source, steps=STEPS,
                                   dtype="float32", threads=1, repeats=args.repeats,
                                   rows=rows), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
