"""Learned regularization vs grid search on scikit-learn's digits.

Fits three logistic regressions on the 10-class digits and compares test
accuracy and fit time:

* ``GridSearchCV`` over ``LogisticRegression``'s ``C`` (5-fold),
* ``LogisticRegressionCV`` (5-fold, the same grid of 10 values of ``C``),
* ``HypergradRegularizedLR``, which learns ``lambda = log(1 / (C n))`` by
  hypergradient descent on a held-out 20 % of the training set.

It then learns one λ per pixel (``lambda_mode="per_feature"``), a 64-dimensional
hyperparameter that no grid can search, and saves a picture of it,
``digits_per_feature_lambda.png``, in the current folder (or in the folder
``$SKPOISON_EXAMPLE_OUT`` names).

Run ``python examples/plot_digits_vs_gridsearch.py``; set ``SKPOISON_QUICK=1``
for a fast smoke run.
"""

import inspect
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skpoison import HypergradRegularizedLR  # noqa: E402

QUICK = os.environ.get("SKPOISON_QUICK") == "1"
INNER_STEPS = 100 if QUICK else 1000
OUTER_STEPS = 2 if QUICK else 10

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
Cs = np.logspace(-3, 2, 3 if QUICK else 10)
# scikit-learn 1.8 replaced LogisticRegressionCV's penalty by l1_ratios and
# deprecates its old attributes; older versions (>= 1.6 is supported) lack both.
modern_cv = "use_legacy_attributes" in inspect.signature(LogisticRegressionCV).parameters
cv_options = dict(l1_ratios=(0,), use_legacy_attributes=False) if modern_cv else {}
models = {
    "GridSearchCV(LogisticRegression)": make_pipeline(
        StandardScaler(),
        GridSearchCV(LogisticRegression(max_iter=2000), {"C": Cs}, cv=5),
    ),
    "LogisticRegressionCV": make_pipeline(
        StandardScaler(),
        LogisticRegressionCV(Cs=Cs, cv=5, max_iter=2000, scoring="accuracy", **cv_options),
    ),
    "HypergradRegularizedLR": make_pipeline(
        StandardScaler(),
        HypergradRegularizedLR(inner_steps=INNER_STEPS, outer_steps=OUTER_STEPS,
                               random_state=0),
    ),
}

print(f"{'model':<34} {'test accuracy':>13} {'fit time (s)':>13}")
for name, model in models.items():
    start = time.perf_counter()
    model.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    print(f"{name:<34} {model.score(X_test, y_test):>13.4f} {elapsed:>13.2f}")

hyper = models["HypergradRegularizedLR"][-1]
# The final model is trained on all of X_train with alpha = exp(lambda), i.e.
# LogisticRegression's C = 1 / (alpha * n_train).
equivalent_C = 1 / (hyper.alpha_[0] * len(X_train))
print(f"learned λ = {hyper.lambda_[0]:.2f}  (equivalent C = {equivalent_C:.3g})")
# With Adam, λ moves at most about outer_lr (0.2) per outer step: after
# OUTER_STEPS = 10 it is within 2 of its start, -4. Where the trusted loss is
# nearly flat in λ it keeps drifting with more steps (-7.7 after 30, -8.4 after
# 60, the accuracy barely moving): read val_loss_path_ beside lambda_.

per_pixel = make_pipeline(
    StandardScaler(),
    HypergradRegularizedLR(lambda_mode="per_feature", inner_steps=INNER_STEPS,
                           outer_steps=OUTER_STEPS, random_state=0),
).fit(X_train, y_train)
print(f"per-pixel λ: test accuracy {per_pixel.score(X_test, y_test):.4f}")
# (the same step limit: the picture shows which way the trusted set pushes each
# pixel's λ; pixels constant in X_train, all 0 once standardized, get no
# gradient and keep lambda_init = -4)

fig, ax = plt.subplots(figsize=(4, 3.5))
image = ax.imshow(per_pixel[-1].lambda_.reshape(8, 8), cmap="viridis")
ax.set_title(f"λ = log α per pixel (after {OUTER_STEPS} outer steps)")
ax.set_xticks([])
ax.set_yticks([])
fig.colorbar(image, ax=ax, label="λ")
fig.tight_layout()
out = os.environ.get("SKPOISON_EXAMPLE_OUT", ".")
fig.savefig(os.path.join(out, "digits_per_feature_lambda.png"), dpi=100)
