"""From an estimator's parameters and data to an engine problem (tensors)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .._torch_utils import make_generator, resolve_device, resolve_dtype, to_tensor


class EngineSetup(NamedTuple):
    """Everything the hypergradient engine needs besides the data."""

    problem: object
    w0: torch.Tensor
    steps: int
    lr: float
    device: torch.device
    dtype: torch.dtype


def encode_targets(y_encoded, n_classes, *, device, dtype):
    """Targets as the engine wants them: one {0, 1} column (binary) or one-hot rows.

    Examples
    --------
    >>> encode_targets(np.array([0, 1, 1]), 2, device="cpu", dtype=torch.float64).ravel()
    tensor([0., 1., 1.], dtype=torch.float64)
    """
    y_tensor = torch.as_tensor(np.asarray(y_encoded), device=device, dtype=torch.long)
    if n_classes == 2:
        return y_tensor.to(dtype).unsqueeze(1)
    return torch.nn.functional.one_hot(y_tensor, n_classes).to(dtype)


def build_setup(estimator, X_train, n_classes):
    """Build the :class:`EngineSetup` for ``estimator`` on a training matrix.

    Parameters
    ----------
    estimator : HypergradRegularizedLR or HypergradMLP
        Only its parameters are read (it need not be fitted).
    X_train : ndarray of shape (n_samples, n_features)
        The clean training features; ``inner_lr="auto"`` is derived from them.
    n_classes : int
    """
    device = resolve_device(estimator.device)
    dtype = resolve_dtype(estimator.dtype)
    n_outputs = 1 if n_classes == 2 else n_classes
    problem = estimator._make_problem(X_train.shape[1], n_outputs, device)
    generator = make_generator(estimator.random_state, device)
    w0 = problem.init_params(generator, dtype=dtype, device=device)
    lr = estimator.inner_lr
    if lr == "auto":
        lr = estimator._auto_inner_lr(to_tensor(X_train, device=device, dtype=dtype), n_outputs)
    return EngineSetup(problem, w0, int(estimator.inner_steps), float(lr), device, dtype)
