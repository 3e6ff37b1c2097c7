"""K independent problems batched into one computation vs K sequential calls.

Reverse-mode hypergradients (``method="rmd"``) of binary logistic regression
(785 parameters) and the 784-32-8-1 LeakyReLU MLP on MNIST-sized problems of
uniform random data in [0, 1] with random labels: n = 1000 training points
(the last 20 poisoning points), 100 validation points, T = 100, λ = log 0.1,
float32. Three timings per model and thread count:

* ``K=1``: one problem through ``batched_hypergradient`` (batch of one);
* ``K=10 batched``: ten problems (different data) in one call;
* ``10 sequential``: ten ``compute_hypergradient`` calls;

plus one ``compute_hypergradient`` call for reference. On CUDA also
``single_graph`` and ``k10_graph``: one problem and the ten batched, replayed
from the engine's CUDA graph (``GraphedHypergradient``, captured in the
warm-up call), the device-side ratio behind the batched attack's. Times are wall-clock
medians of ``--repeats`` (CPU time would count both threads at 2 threads).
The headline ratio is ``time(K=10 batched) / time(K=1)``: on a GPU the target
is <= 2 (launch-bound kernels batch for free); on a CPU the work is ten times
larger, so ~10 is the expected floor.

Usage::

    python benchmarks/bench_batched.py [--threads 1 2] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from skpoison.hypergrad import (  # noqa: E402
    GraphedHypergradient,
    batched_hypergradient,
    compute_hypergradient,
)
from skpoison.models import LinearProblem, MLPProblem  # noqa: E402
from _machine import machine_info  # noqa: E402  (benchmarks/, beside this script)
from _args import count, device  # noqa: E402  (benchmarks/, beside this script)

K, N, N_VAL, N_POISON, D, STEPS = 10, 1000, 100, 20, 784, 100
LOG_LAMBDA = math.log(0.1)


def setup(model, device):
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(K, N, D, generator=gen)
    Y = (torch.rand(K, N, 1, generator=gen) < 0.5).float()
    X_val = torch.rand(K, N_VAL, D, generator=gen)
    Y_val = (torch.rand(K, N_VAL, 1, generator=gen) < 0.5).float()
    if model == "lr":
        # 1 / L for the least smooth of the K problems (L: the augmented logistic
        # loss's smoothness constant plus the penalty's 0.1), as bench_hypergrad.
        # A fixed 0.05 was above 2 / L = 0.04 for this data: the training
        # objective rose, which the engine now refuses (InnerDivergenceError).
        X1 = torch.cat([X, torch.ones_like(X[..., :1])], dim=2).double()
        L = float(torch.linalg.matrix_norm(X1, 2).max()) ** 2 / (4 * N) + 0.1
        problem, lr = LinearProblem(D, 1, device=device), 1.0 / L
    else:
        problem, lr = MLPProblem(D, (32, 8), 1, device=device), 0.1
    w0 = torch.stack([problem.init_params(gen, dtype=torch.float32) for _ in range(K)])
    lam = torch.full((K, problem.n_hyper), LOG_LAMBDA)
    return problem, lr, [t.to(device) for t in (w0, lam, X, Y, X_val, Y_val)]


def _timed(fn, device, repeats):
    """Median wall time of ``fn`` over ``repeats`` calls after a warm-up call."""
    return timed_rounds({"fn": fn}, device, repeats)["fn"]


def synchronize(device):
    """Wait for ``device``'s queued work (a CUDA device's; nothing elsewhere)."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


def timed_rounds(runs, device, repeats, *, shuffle=None, samples=None):
    """Median wall time of each of ``runs`` (name -> callable) over ``repeats``
    rounds that time every run once, in turn, after one warm-up call of each
    (interleaved, so that a drift of the machine falls on all alike).

    ``shuffle``: a seed, to time the runs of each round in an order of their
    own (what a run leaves behind, the allocator's state say, then falls on
    every run alike, not always on the one after it). ``samples``: a dict
    that receives every run's times.
    """
    for run in runs.values():
        run()
    seconds = {name: [] for name in runs}
    rng = None if shuffle is None else np.random.default_rng(shuffle)
    for _ in range(repeats):
        order = list(runs) if rng is None else list(rng.permutation(list(runs)))
        for name in order:
            run = runs[name]
            synchronize(device)
            start = time.perf_counter()
            run()
            synchronize(device)
            seconds[name].append(time.perf_counter() - start)
    if samples is not None:
        samples.update(seconds)
    return {name: float(np.median(values)) for name, values in seconds.items()}


def measure(model, device, repeats):
    problem, lr, (w0, lam, X, Y, X_val, Y_val) = setup(model, device)
    opts = dict(n_poison=N_POISON, steps=STEPS, lr=lr)

    def batch(k):
        return lambda: batched_hypergradient(problem, w0[:k], lam[:k], X[:k], Y[:k],
                                             X_val[:k], Y_val[:k], **opts)

    def single(i):
        return compute_hypergradient(problem, w0[i], lam[i], X[i], Y[i], X_val[i],
                                     Y_val[i], **opts)

    times = dict(
        single=_timed(lambda: single(0), device, repeats),
        k1=_timed(batch(1), device, repeats),
        k10=_timed(batch(K), device, repeats),
        seq10=_timed(lambda: [single(i) for i in range(K)], device, repeats),
    )
    if device.startswith("cuda"):
        graphed = GraphedHypergradient(problem, **opts)
        graphed_batch = GraphedHypergradient(problem, batched=True, **opts)
        times.update(
            single_graph=_timed(lambda: graphed(w0[0], lam[0], X[0], Y[0], X_val[0], Y_val[0]),
                                device, repeats),
            k10_graph=_timed(lambda: graphed_batch(w0, lam, X, Y, X_val, Y_val), device,
                             repeats),
        )
        times["k10_graph_over_single_graph"] = times["k10_graph"] / times["single_graph"]
    times["k10_over_k1"] = times["k10"] / times["k1"]
    times["k10_over_single"] = times["k10"] / times["single"]
    times["seq10_over_k10"] = times["seq10"] / times["k10"]
    times["inner_lr"] = lr
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", type=device)
    parser.add_argument("--threads", type=count(1), nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=count(1), default=5)
    parser.add_argument("--models", nargs="+", choices=["lr", "mlp"], default=["lr", "mlp"])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/bench_batched.json"))
    args = parser.parse_args(argv)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for model in args.models:
            row = dict(model=model, threads=threads, **measure(model, args.device, args.repeats))
            rows.append(row)
            print(f"{model:4} {threads} thr  single {row['single'] * 1e3:8.1f} ms  "
                  f"K=1 {row['k1'] * 1e3:8.1f}  K=10 {row['k10'] * 1e3:8.1f}  "
                  f"10 seq {row['seq10'] * 1e3:8.1f}  K10/K1 {row['k10_over_k1']:.2f}  "
                  f"seq/batched {row['seq10_over_k10']:.2f}", flush=True)
            if "k10_graph" in row:
                print(f"     replayed from CUDA graphs: single {row['single_graph'] * 1e3:8.2f} ms"
                      f"  K=10 {row['k10_graph'] * 1e3:8.2f} ms  ratio "
                      f"{row['k10_graph_over_single_graph']:.2f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(
        **machine_info(args.device), dtype="float32", K=K,
        n_train=N, n_val=N_VAL, n_poison=N_POISON, steps=STEPS, repeats=args.repeats,
        data="uniform random in [0, 1]", rows=rows), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
