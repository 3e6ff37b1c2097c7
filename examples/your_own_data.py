"""
The robustness comparison on your own data
==========================================

``skpoison evaluate`` compares the λ strategies (no regularization, a large
constant, 5-fold CV on clean data, λ learned on the trusted set) under the
optimal attack. On data of your own, save the features (scaled as the model
should see them) and the class labels (integers or names) in an ``.npz`` file
and name it as the data set: here scikit-learn's breast-cancer set,
standardized.

The poisoning points stay in a box: by default one range for all features,
the data's smallest and largest value; ``feature_range`` in the file sets
it, one range per feature if you like (``np.stack([low, high])``), as here:
a point cannot take a value no patient had (standardized, the features' upper
ends run from 2.7 to 12.1; one range would let every feature reach 12.1).

The strategies' ranking depends on the data: here, with a trusted set of 42
rows, the learned λ need not beat no regularization at every ratio.

The data file and the sweep's outputs go to a temporary folder, removed at
the end (the CSV named in the last line with it); give ``out`` a lasting
folder to keep them, or run ``skpoison evaluate --dataset FILE.npz``.

Set ``SKPOISON_QUICK=1`` for a seconds-long run.
"""

import os
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from skpoison.experiments import evaluate

QUICK = os.environ.get("SKPOISON_QUICK") == "1"

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)               # (the pool; the sweep splits it)

with tempfile.TemporaryDirectory() as folder:
    data = Path(folder) / "breast_cancer.npz"
    np.savez(data, X=X, y=y, feature_range=np.stack([X.min(axis=0), X.max(axis=0)]))
    result = evaluate(str(data), size="tiny" if QUICK else "quick",
                      out=Path(folder) / "results", n_jobs=1 if QUICK else -1, plot=False)
    print(result.table)
    print(f"\n{result.config.n_train} training, {result.config.n_val} trusted and "
          f"{result.config.n_test} test points per repetition; tidy rows in {result.csv.name}")
