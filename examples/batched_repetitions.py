"""
Repetitions of the attack as one batched computation
====================================================

A robustness study repeats the optimal attack on several random splits.
:func:`skpoison.poisoning.fit_batched` runs those attacks in lock step: every
outer step computes the hypergradients of all repetitions in one batched
reverse pass. The results are those of separate ``fit`` calls, to rounding.
On a GPU, where a step of a small model is bound by kernel launches, ten
repetitions cost about twice one attack, a fifth of ten separate ones
(benchmarks/README.md); on a CPU batching pays for
small data like these digits (fewer, larger operations) and loses once the K
training sets no longer fit in the cache (MNIST-sized problems). The example
uses CUDA when it is there. ``skpoison evaluate
--batch-repetitions K`` does the same for the experiment sweeps.

Set ``SKPOISON_QUICK=1`` for a seconds-long run.
"""

import os
import time

import numpy as np
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits

from skpoison import HypergradRegularizedLR, OptimalPoisoner
from skpoison.datasets import make_poisoning_splits
from skpoison.poisoning import fit_batched

QUICK = os.environ.get("SKPOISON_QUICK") == "1"
K = 3 if QUICK else 10
device = "cuda" if torch.cuda.is_available() else "cpu"
# One CPU thread: on a small shared machine several threads make both timings
# swing by 10x from run to run (the benchmarks time with one thread too).
torch.set_num_threads(1)

X, y = load_digits(n_class=9, return_X_y=True)
keep = (y == 0) | (y == 8)
X, y = X[keep] / 16.0, y[keep]
splits = [make_poisoning_splits(X, y, n_train=150, n_val=40, n_test=100, random_state=seed)
          for seed in range(K)]
datasets = [(s.X_train, s.y_train, s.X_val, s.y_val) for s in splits]

victim = HypergradRegularizedLR(inner_steps=30 if QUICK else 100, device=device,
                                dtype="float32", random_state=0)
attack = OptimalPoisoner(victim, ratios=(0.0, 0.1, 0.2), batch_size=15,
                         outer_steps=3 if QUICK else 10)

start = time.perf_counter()
batched = fit_batched(attack, datasets, random_states=range(K))
batched_seconds = time.perf_counter() - start

start = time.perf_counter()
separate = [clone(attack).set_params(random_state=k).fit(X_tr, y_tr, X_val=X_v, y_val=y_v)
            for k, (X_tr, y_tr, X_v, y_v) in enumerate(datasets)]
separate_seconds = time.perf_counter() - start

difference = max(np.abs(a.results_[-1].X - b.results_[-1].X).max()
                 for a, b in zip(batched, separate))
print(f"{K} attacks on {device}: batched {batched_seconds:.2f} s, "
      f"separate {separate_seconds:.2f} s; largest difference of the poisoned "
      f"features {difference:.1e}")

# (At 0 % λ has moved only as far as the attack's outer steps of Adam allow,
# about 0.2 each from -4: λ reflects the step count as much as the data.)
print("\nλ learned by the defender (log scale), one row per repetition:")
print("ratio      " + "".join(f"{r.ratio:>8.0%}" for r in batched[0].results_))
for k, fitted in enumerate(batched):
    print(f"split {k:<4} " + "".join(f"{float(r.log_lambda[0]):8.2f}"
                                     for r in fitted.results_))
