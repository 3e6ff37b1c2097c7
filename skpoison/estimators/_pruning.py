"""Linear models trained on the columns that are not all zero (private).

A linear model starts from zero weights. A feature that is 0 in every
training row adds nothing to the data gradient, and its weight's penalty
gradient at 0 is 0 (L2's ``w``, L1's ``sign(0)``, the soft threshold of 0):
its weight stays exactly 0 through every step, adds nothing to the
hypergradient of any λ (each term carries ``w_t``, ``sign(w_t)`` or
``sign(w_{t+1})``), and nothing to a score. Training without such columns
therefore gives the same model, the same λ path (a per-feature λ of such a
column keeps its start: its hypergradient is 0) and the same trusted-set
losses, up to the order in which the products sum (and CG's tolerance). On
MNIST 0 vs 8, a third of the 784 pixels are 0 in a 1000-row training set:
the fit takes 0.54-0.72 times as long (``benchmarks/bench_fit.py``).

What follows the trained weights rather than all of them:

- the implicit methods under subgradient L1 solve with the data Hessian,
  which is 0 on a dropped weight; where ``X_val`` has that column, the full
  system had a right-hand side the Hessian cannot reach (CG broke down, the
  exact solve warned): the pruned one is the trained weights' own, and CG
  and the exact solve agree on it;
- the divergence checks: an L2 rate judged unstable only for a dropped
  column's per-feature λ no longer fails the fit, and the subgradient L1
  zigzag allowance counts the trained weights (at rates beyond ~1e5 a rise
  that the dropped weights' allowance had covered is now an error);
- the exact solve's ``max_size``, and CG's default ``maxiter``, count the
  trained parameters.

Networks are not pruned: their first-layer weights start random and stay
nonzero.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["kept_columns", "pruned_setup", "pruned_lambda", "full_lambda", "full_weights"]


def kept_columns(X):
    """The columns of ``X`` that are not all zero (a bool mask), or None to keep all.

    None also where every column is zero (nothing would be left to train).

    Examples
    --------
    >>> kept_columns(np.array([[0.0, 1.0, 0.0], [0.0, 2.0, -1.0]]))
    array([False,  True,  True])
    >>> kept_columns(np.eye(2)) is None
    True
    """
    kept = np.any(X != 0, axis=0)
    return None if kept.all() or not kept.any() else kept


def pruned_setup(estimator, setup, kept):
    """``setup`` for the ``kept`` columns: their problem and its (zero) start."""
    if kept is None:
        return setup
    problem = estimator._make_problem(int(kept.sum()), setup.problem.n_outputs, setup.device)
    return setup._replace(problem=problem, w0=setup.w0.new_zeros(problem.n_params))


def pruned_lambda(log_lambda, kept, lambda_mode):
    """The λ of the ``kept`` columns (per feature), or ``log_lambda`` itself (one λ)."""
    if kept is None or lambda_mode != "per_feature":
        return log_lambda
    return log_lambda[torch.as_tensor(kept, device=log_lambda.device)]


def full_lambda(pruned, kept, start, lambda_mode):
    """A λ of the pruned problem back on every column; dropped ones keep ``start``'s."""
    if kept is None or lambda_mode != "per_feature":
        return pruned
    full = start.clone()
    full[torch.as_tensor(kept, device=start.device)] = pruned
    return full


def full_weights(w, kept, n_outputs):
    """The pruned problem's ``[W.ravel(), b]`` back on every column (zeros in between).

    Examples
    --------
    >>> w = torch.tensor([1.0, 2.0, 9.0])       # two kept features, one output, b = 9
    >>> full_weights(w, np.array([False, True, True]), 1)
    tensor([0., 1., 2., 9.])
    """
    if kept is None:
        return w
    index = torch.as_tensor(kept, device=w.device)
    weights = w.new_zeros((kept.size, n_outputs))
    weights[index] = w[:-n_outputs].view(-1, n_outputs)
    return torch.cat([weights.reshape(-1), w[-n_outputs:]])
