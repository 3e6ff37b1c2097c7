"""Time a clean HypergradRegularizedLR fit with and without zero-column pruning.

MNIST 0 vs 8 (1000 training points, 100 trusted ones), the estimator's
defaults (T = 200, 30 outer steps, L2, ``inner_lr="auto"``). A linear fit
skips the columns that are 0 in every training row (estimators/_pruning.py:
the same model); here the fit is timed with that on and off, alternately,
in CPU time (wall time on a GPU, whose work the CPU time leaves out), and
the two models compared. Uses the real MNIST files (as
bench_hypergrad.py finds them), else uniform random data with a third of
its columns set to 0.

Usage::

    python benchmarks/bench_fit.py [--repeats 3] [--device cpu] [--out PATH]
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
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from skpoison import HypergradRegularizedLR  # noqa: E402
from _machine import machine_info, mnist_folder  # noqa: E402  (benchmarks/)
from bench_hypergrad import _read_idx  # noqa: E402
from _args import count, device  # noqa: E402  (benchmarks/, beside this script)


def load_data(seed=0, n_train=1000, n_val=100):
    """``(X, y, X_val, y_val, source)``."""
    rng = np.random.default_rng(seed)
    directory = mnist_folder(ROOT)
    images = directory / "train-images-idx3-ubyte.gz"
    if images.exists():
        labels = _read_idx(directory / "train-labels-idx1-ubyte.gz")
        index = rng.choice(np.flatnonzero((labels == 0) | (labels == 8)), n_train + n_val,
                           replace=False)
        X, y = _read_idx(images).reshape(-1, 784)[index] / 255.0, labels[index]
        source = f"MNIST 0 vs 8 ({directory})"
    else:
        X = rng.uniform(size=(n_train + n_val, 784))
        X[:, ::3] = 0.0
        y = (X[:, 1] > 0.5).astype(int)
        source = "uniform random data, a third of the columns 0 (MNIST not found)"
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:], source


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=count(1), default=3)
    parser.add_argument("--device", default="cpu", type=device)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/bench_fit.json"))
    args = parser.parse_args(argv)
    X, y, X_val, y_val, source = load_data()
    cuda = args.device.startswith("cuda")
    clock, clock_name = (time.perf_counter, "wall") if cuda else (time.process_time, "CPU")
    seconds, models = {True: [], False: []}, {}
    try:
        for _ in range(args.repeats):
            for prune in (False, True):
                HypergradRegularizedLR._prune_zero_columns = prune
                start = clock()   # (the fit ends with its arrays on the host: synchronized)
                models[prune] = HypergradRegularizedLR(device=args.device, random_state=0).fit(
                    X, y, X_val=X_val, y_val=y_val)
                seconds[prune].append(clock() - start)
    finally:   # (the class attribute outlives main() when a caller imports it)
        HypergradRegularizedLR._prune_zero_columns = True
    full, pruned = models[False], models[True]
    result = dict(
        source=source, machine=machine_info(args.device), repeats=args.repeats,
        threads=torch.get_num_threads(), clock=clock_name,
        zero_columns=int((~np.any(X != 0, axis=0)).sum()), n_features=X.shape[1],
        seconds_full=float(np.median(seconds[False])),
        seconds_pruned=float(np.median(seconds[True])),
        coef_max_relative_difference=float(np.max(np.abs(full.coef_ - pruned.coef_))
                                           / np.max(np.abs(full.coef_))),
        lambda_max_difference=float(np.max(np.abs(full.lambda_ - pruned.lambda_))))
    result["ratio"] = result["seconds_pruned"] / result["seconds_full"]
    print(f"data: {source}; device: {args.device}, {result['threads']} torch thread(s); "
          f"{result['zero_columns']} of "
          f"{X.shape[1]} columns are 0 in every training row")
    print(f"fit, all columns:     {result['seconds_full']:.2f} s ({clock_name} time, median of "
          f"{args.repeats})")
    print(f"fit, pruned columns:  {result['seconds_pruned']:.2f} s  "
          f"(x{result['ratio']:.2f}; coef differs by "
          f"{result['coef_max_relative_difference']:.1e} relative, λ by "
          f"{result['lambda_max_difference']:.1e})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
