"""L1 steps keep a data gradient that cancels exactly at 0, on every path.

At ``w = 0`` every probability is 1/2, and on features that are multiples of
1/16 (digits) a column's data gradient often cancels exactly. L1's subgradient
has ``sign(0) = 0``, so a weight whose gradient is exactly 0 stays 0, while a
rounding residue of 1e-18 gets a full ``lr * exp(λ)`` step. The batched loop
scaled before summing and differed from the single one by 2 % in the
hypergradient (and fit_batched from separate fits by 0.5 % in the poisoning
points); the multiclass single loop differed from forward mode by 4e-6.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skpoison.hypergrad import batched_hypergradient, compute_hypergradient
from skpoison.models import LinearProblem


def digits_problem(classes, n_train, n_val=20):
    X, y = load_digits(return_X_y=True)
    X = X / 16
    rows = np.random.RandomState(0).permutation(np.flatnonzero(np.isin(y, classes)))
    k = 1 if len(classes) == 2 else len(classes)

    def targets(index):
        labels = np.searchsorted(classes, y[index])
        if k == 1:
            return torch.tensor(labels, dtype=torch.float64)[:, None]
        return torch.nn.functional.one_hot(torch.tensor(labels), k).to(torch.float64)

    train, val = rows[:n_train], rows[n_train:n_train + n_val]
    return (LinearProblem(64, k, "l1"), torch.tensor(X[train]), targets(train),
            torch.tensor(X[val]), targets(val))


@pytest.mark.parametrize("classes, n_train", [((0, 8), 50), ((0, 3, 8), 60)],
                         ids=["binary", "three-classes"])
def test_every_l1_path_agrees_to_rounding_on_dyadic_features(classes, n_train):
    problem, X, Y, X_val, Y_val = digits_problem(classes, n_train)
    log_lambda = torch.tensor([-4.0], dtype=torch.float64)
    args = (problem, problem.init_params(), log_lambda, X, Y, X_val, Y_val)
    options = dict(n_poison=3, steps=15, lr=0.4)
    reference = compute_hypergradient(*args, **options, method="rmd")
    others = [compute_hypergradient(*args, **options, method="fmd"),
              compute_hypergradient(*args, **options, method="rmd", checkpoint_every=4)]
    stacked = [torch.stack([t, t]) for t in (X, Y, X_val, Y_val)]
    for lr in (0.4, torch.tensor([0.4, 0.4], dtype=torch.float64)):   # shared, per problem
        batched = batched_hypergradient(problem, problem.init_params(), log_lambda, *stacked,
                                        n_poison=3, steps=15, lr=lr)
        others += [type(reference)(*(None if t is None else t[1] for t in batched))]
    for other in others:
        torch.testing.assert_close(other.grad_log_lambda, reference.grad_log_lambda,
                                   rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(other.grad_X_poison, reference.grad_X_poison,
                                   rtol=1e-10, atol=1e-15)
