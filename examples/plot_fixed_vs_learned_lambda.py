"""
Fixed vs learned regularization under the optimal poisoning attack
==================================================================

The attack of Carnerero-Cano et al. (TNNLS 2023) moves the features of
poisoning points to maximize the loss on a small trusted validation set. The
classic analysis keeps the regularization strength λ fixed while the attacker
works (``hyperparams="fixed"``); a defender who *learns* λ on the trusted set
re-learns it while the points move (``hyperparams="learn"``, the minimax
formulation).

This script runs both attacks against logistic regression on scikit-learn's
bundled digits (0 vs 8), trains the victim on each poisoned training set with
the λ it would use (the fixed one, or the one learned at that ratio) and plots
its test error and λ against the poisoning ratio. On this easy problem the
learned λ grows with the ratio and keeps the error below the unregularized
model's, while a large fixed λ, free here on clean data, stays the most robust.

Set ``SKPOISON_QUICK=1`` for a seconds-long run (fewer steps; the numbers are
then only a smoke test).
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from skpoison import HypergradRegularizedLR, OptimalPoisoner
from skpoison.datasets import default_sizes, load_dataset, make_poisoning_splits

QUICK = os.environ.get("SKPOISON_QUICK") == "1"
# T = 300: with fewer steps on these separable digits, stopping early already
# regularizes the model, and the trusted set then asks for no λ at all.
INNER_STEPS = 30 if QUICK else 300       # gradient-descent steps T of the model
ATTACK_STEPS = 3 if QUICK else 20        # hypergradient steps per batch of points
RATIOS = (0.0, 0.1, 0.2) if QUICK else (0.0, 0.04, 0.08, 0.12, 0.16, 0.2)

# %%
# One random split of the pool into training, trusted validation and test sets.
digits = load_dataset("digits")                      # 0 vs 8, pixels in [0, 1]
split = make_poisoning_splits(digits.data, digits.target, **default_sizes("digits"),
                              random_state=0)
print({k: v.shape for k, v in split.items() if k.startswith("X_")})

# %%
# The victim: logistic regression whose λ (log α) starts at -4 and is learned in
# [-12, 0]; a fixed λ given to the attack (-inf: no regularization) is used as is.
model = HypergradRegularizedLR(inner_steps=INNER_STEPS, random_state=0)


def attack(hyperparams, fixed_lambda=None):
    """Run the cumulative attack; return the test error and λ per ratio."""
    poisoner = OptimalPoisoner(model, ratios=RATIOS, batch_size=8, hyperparams=hyperparams,
                               fixed_lambda=fixed_lambda, outer_steps=ATTACK_STEPS,
                               feature_range=digits.feature_range, reuse_validation=True,
                               random_state=0)
    poisoner.fit(split.X_train, split.y_train, X_val=split.X_val, y_val=split.y_val)
    errors, lambdas = [], []
    for result in poisoner.results_:
        # The model the attack evaluated at this ratio, trained with its final λ.
        victim = poisoner.victim_for(result).fit(result.X, result.y, split.X_val,
                                                 split.y_val)
        errors.append(1.0 - victim.score(split.X_test, split.y_test))
        lambdas.append(float(result.log_lambda[0]))
    return np.array(errors), np.array(lambdas)


curves = {
    "no regularization (λ = -inf)": attack("fixed", -np.inf),
    "large λ = 0 (α = 1)": attack("fixed", 0.0),
    "λ learned on the trusted set": attack("learn"),
}

# %%
# Test error and λ against the poisoning ratio.
fig, (ax_err, ax_lam) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
for name, (errors, lambdas) in curves.items():
    ax_err.plot(100 * np.array(RATIOS), 100 * errors, marker="o", label=name)
    print(f"{name:32s} test error (%): {np.round(100 * errors, 1)}")
errors, lambdas = curves["λ learned on the trusted set"]
ax_lam.plot(100 * np.array(RATIOS), lambdas, marker="o", color="tab:green")
print(f"{'learned λ':32s}: {np.round(lambdas, 2)}")
ax_err.set(xlabel="poisoning ratio (%)", ylabel="test error (%)",
           title="test error under the optimal attack (one split)")
ax_lam.set(xlabel="poisoning ratio (%)", ylabel="learned λ = log α",
           title="λ re-learned while the attack runs")
ax_err.legend(fontsize=8)
plt.show()
