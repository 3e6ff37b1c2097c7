"""
Where should a single poisoning point go? (the paper's Fig. 1)
==============================================================

Two Gaussian classes in 2-D and logistic regression. One poisoning point (a
validation clone with its label flipped) is added to the training set. For
every position of that point on a grid we train the model and measure the
error on the trusted validation set, without regularization and with a fixed
λ, and we find the λ with the lowest validation loss. The red line is the
boundary after the optimal attack (star: the optimized point), the dashed
white one the clean boundary.

Without regularization a single well-placed point moves the boundary a lot;
with regularization the error map is much flatter, and the best λ is largest
where the point would hurt most (the largest, λ = -3, at the worst position;
over the whole grid the two maps correlate at about 0.5).

Set ``SKPOISON_QUICK=1`` for a coarse, seconds-long grid.
"""

import os

import matplotlib.pyplot as plt

from skpoison.experiments import plot_synthetic, synthetic_maps

QUICK = os.environ.get("SKPOISON_QUICK") == "1"

maps = synthetic_maps(size="tiny" if QUICK else "quick", fixed_lambda=-1.0)
print(f"validation error, no regularization: {100 * maps['val_error_noreg'].min():.1f}"
      f"-{100 * maps['val_error_noreg'].max():.1f} %")
print(f"validation error, λ = -1:           {100 * maps['val_error_reg'].min():.1f}"
      f"-{100 * maps['val_error_reg'].max():.1f} %")
print(f"optimal λ over the grid: {maps['best_lambda'].min():g} ... "
      f"{maps['best_lambda'].max():g}")

plot_synthetic(maps, title="one poisoning point against logistic regression")
plt.show()
