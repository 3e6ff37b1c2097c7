"""The set-up of ``K`` same-shaped training sets, computed together on a device.

``fit_batched`` on a GPU checks and rates ``K`` training sets before its
first outer step: the trusted-set check (:func:`check_trusted_scale`), the
feature-scale check (:func:`check_feature_scales`) and, for ``inner_lr="auto"``,
``[X, 1]``'s squared spectral norm. One at a time on the host, these were most
of an attack's set-up (ten MNIST-sized attacks on an H100's host, 2026-11-28,
in one run: 248 ms of set-up with them on the host, 107 ms with them here;
``benchmarks/README.md``). Here one float64 copy of the ``K`` sets on the
device serves all three: the column statistics in a few batched reductions
and one read back, then one batched Lanczos. The verdicts and warnings are
the host checks' own code, fed with these statistics (which equal the host's
to rounding); a set whose squares leave float64's range is checked on the
host, as a fit would. The same copy, cast on the device, gives the attacks
their designs in the attack's dtype: each set crosses to the device once.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from ._feature_scales import check_feature_scales_with
from ._spectral import (designs_per_batch, is_small_design, lanczos_on_host, norms_of_stack,
                        squared_spectral_norms, stack_on_device)
from ._trusted_scale import check_trusted_scale_with, checked_rows

__all__ = ["DeviceSetup", "set_up_on_device", "sets_up_on_device"]


class DeviceSetup(NamedTuple):
    """What :func:`set_up_on_device` returns."""

    #: ``[X, 1]``'s squared spectral norm for each rated set, None for the others.
    squared_norms: list
    #: Each set on the device in the requested dtype (None: none requested).
    designs: Optional[list]


def sets_up_on_device(device):
    """Whether ``fit_batched`` on ``device`` sets its data sets up here, together
    (a GPU: the devices whose models do not take the host's Lanczos), rather
    than each attack its own on the host."""
    return not lanczos_on_host(device)


def set_up_on_device(Xs, X_vals, device, *, rated, inner_steps, names, sampler=True,
                     dtype=None):
    """Check ``K`` training sets and their trusted sets; the squared norms of the rated.

    Warns as ``check_trusted_scale(X, X_val)`` and
    ``check_feature_scales(X, inner_steps=inner_steps)`` would for each
    pair, in their order, and returns ``squared_spectral_norm(X)`` for the
    sets whose ``rated`` entry is True (None for the others) and, with a
    ``dtype``, each set on the device as ``to_tensor(X, device=device,
    dtype=dtype)`` would make it (to the bit: one rounding from float64).

    Parameters
    ----------
    Xs : list of ndarray of shape (n_samples, n_features)
        The checked training sets, all of one shape.
    X_vals : list of ndarray of shape (n_val, n_features)
        Their trusted sets.
    device : torch.device
        A device whose models do not take the host's Lanczos.
    rated : list of bool
    inner_steps : int
        For the feature-scale warning.
    names : list of str
        What an error calls each set.
    sampler : bool, default=True
        As :func:`check_trusted_scale`'s.
    dtype : torch.dtype or None, default=None
        The dtype of the designs to return (None: return none).

    Returns
    -------
    DeviceSetup
        ``squared_norms``: list of float or None; ``designs``: list of tensors
        of shape ``(n_samples, n_features)`` (views into one stack per batch of
        sets) or None.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> Xs, X_vals = [rng.rand(100, 70) for _ in range(2)], [rng.rand(20, 70)] * 2
    >>> tops, designs = set_up_on_device(Xs, X_vals, torch.device("cpu"),
    ...                                  rated=[True, False], inner_steps=10,
    ...                                  names=["set 0", "set 1"], dtype=torch.float32)
    >>> from skpoison.estimators._spectral import squared_spectral_norm
    >>> tops[1] is None and abs(tops[0] / squared_spectral_norm(Xs[0]) - 1) < 1e-12
    True
    >>> designs[1].dtype, bool((designs[1] == torch.tensor(Xs[1], dtype=torch.float32)).all())
    (torch.float32, True)
    """
    n, d = Xs[0].shape
    per_batch, small = designs_per_batch(n, d), is_small_design(n, d)
    norms, designs = [], None if dtype is None else []
    for start in range(0, len(Xs), per_batch):
        part = slice(start, start + per_batch)
        X = stack_on_device(Xs[part], device)
        wanted = [k for k, rate in enumerate(rated[part]) if rate]
        if designs is not None:
            # A copy where the spectral norms will scale X itself, in place (the others
            # read a copy, X[wanted], or the host's sets)
            scaled = not small and len(wanted) == X.shape[0]
            designs += X.to(dtype, copy=scaled).unbind(0)
        stats = _column_statistics(X, checked_rows(n))
        for X_k, X_val, (mean, std, rms, indicator, nonzero) in zip(Xs[part], X_vals[part],
                                                                     stats):
            check_trusted_scale_with((mean, std), X_k, X_val, sampler=sampler)
            check_feature_scales_with(rms, indicator, nonzero, X_k, inner_steps=inner_steps)
        if small:
            # A dense SVD on the host, as squared_spectral_norm takes for small designs
            # (a single fit's rate, to the bit)
            tops = iter(squared_spectral_norms([Xs[start + k] for k in wanted], device=device,
                                               names=[names[start + k] for k in wanted]))
        else:
            tops = iter(norms_of_stack(X if len(wanted) == X.shape[0] else X[wanted],
                                       [names[start + k] for k in wanted]) if wanted else ())
        norms += [next(tops) if rate else None for rate in rated[part]]
    return DeviceSetup(norms, designs)


def _column_statistics(X, rows):
    """Per set of ``X`` (``(K, n, d)``): the mean and standard deviation of each
    column over ``rows`` (None: all), as :func:`check_trusted_scale` reads them,
    and each column's root mean square, whether it holds only 0s and 1s, and
    whether it holds anything but 0s, as :func:`check_feature_scales` reads them;
    NumPy arrays, in one read by the host."""
    checked = X if rows is None else X[:, torch.as_tensor(rows, device=X.device)]
    mean = checked.mean(dim=1)
    std = (checked - mean[:, None]).square_().sum(dim=1).div_(checked.shape[1]).sqrt_()
    rms = X.square().mean(dim=1).sqrt_()
    indicator = ((X == 0) | (X == 1)).all(dim=1)
    nonzero = (X != 0).any(dim=1)
    columns = torch.stack([mean, std, rms, indicator.to(X.dtype), nonzero.to(X.dtype)], dim=1)
    return [(mean, std, rms, indicator.astype(bool), nonzero.astype(bool))
            for mean, std, rms, indicator, nonzero in columns.cpu().numpy()]
