"""The cumulative schedule of an attack: batches, cloned points, flipped labels.

Everything here is drawn once, before any optimization, from one CPU
``torch.Generator``, so that two poisoners given the same ``random_state``
(e.g. :class:`OptimalPoisoner` and :class:`LabelFlipPoisoner`) start from the
same poisoning points on any device.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Schedule(NamedTuple):
    """Where every poisoning point comes from and which batch optimizes it.

    Attributes
    ----------
    targets : list of int
        Cumulative number of poisoning points at each ratio.
    batches : list of (int, int, int)
        ``(ratio_index, start, stop)``: poisoning points ``start:stop`` form one
        batch, completed before ratio ``ratio_index`` is reported.
    val_index : ndarray of int, shape (n_poison,)
        The validation point each poisoning point is cloned from.
    labels : ndarray of int, shape (n_poison,)
        Flipped (encoded) labels of the poisoning points.
    replace_index : ndarray of int, shape (n_poison,) or None
        Training rows the poisoning points replace (``mode="replace"``).
    """

    targets: list
    batches: list
    val_index: np.ndarray
    labels: np.ndarray
    replace_index: np.ndarray | None


def poison_counts(ratios, n_train):
    """Cumulative poisoning points at each ratio: ``round(r * n_train)`` (half to even).

    Examples
    --------
    >>> poison_counts([0.0, 0.05, 0.1], 250)
    [0, 12, 25]
    """
    return [int(round(float(r) * n_train)) for r in ratios]


def largest_batch(targets, batch_size):
    """The most points one batch of :func:`split_batches` optimizes together.

    Examples
    --------
    >>> largest_batch([0, 10, 42], 20)
    16
    """
    return max((stop - start for _, start, stop in split_batches(targets, batch_size)),
               default=0)


def split_batches(targets, batch_size):
    """Cut the increments between cumulative targets into balanced batches.

    Examples
    --------
    >>> split_batches([0, 10, 42], 20)
    [(1, 0, 10), (2, 10, 26), (2, 26, 42)]
    """
    batches, done = [], 0
    for index, target in enumerate(targets):
        need = target - done
        n_batches = -(-need // batch_size)
        for size in np.diff(np.linspace(0, need, n_batches + 1).round().astype(int)):
            batches.append((index, done, done + int(size)))
            done += int(size)
    return batches


def flip_labels(labels, n_classes, strategy, generator):
    """Flipped labels: the other class (binary) or another class (multiclass).

    ``strategy="random"`` draws one of the other classes uniformly,
    ``"next"`` takes ``(label + 1) % n_classes``.

    Examples
    --------
    >>> flip_labels(torch.tensor([0, 1, 2]), 3, "next", None).tolist()
    [1, 2, 0]
    """
    if n_classes == 2 or strategy == "next":
        return (labels + 1) % n_classes
    offset = torch.randint(1, n_classes, labels.shape, generator=generator)
    return (labels + offset) % n_classes


def _draw_validation(n_val, batches, reuse, generator):
    """Validation indices, distinct over the attack (cycling when ``reuse``).

    Within a batch indices are always distinct: identical poisoning points
    with the same label would receive identical hypergradients forever.
    """
    pool, drawn, fills = [], [], 0
    for _, start, stop in batches:
        size, batch = stop - start, []
        while len(batch) < size:
            if not pool:
                taken = set(batch)
                pool = [i for i in torch.randperm(n_val, generator=generator).tolist()
                        if i not in taken]
                fills += 1
                if not pool or (fills > 1 and not reuse):  # callers check budgets first
                    raise ValueError("the validation set is too small for this attack")
            batch.append(pool.pop(0))
        drawn.extend(batch)
    return np.asarray(drawn, dtype=np.int64)


def draw_schedule(targets, batch_size, n_train, y_val, n_classes, *, mode,
                  label_strategy, reuse_validation, generator):
    """Draw the whole attack's :class:`Schedule`.

    Parameters
    ----------
    targets : list of int
        Cumulative number of poisoning points per ratio (non-decreasing).
    batch_size : int
    n_train : int
    y_val : ndarray of int
        Encoded validation labels.
    n_classes : int
    mode : {"replace", "inject"}
    label_strategy : {"random", "next"}
    reuse_validation : bool
    generator : torch.Generator (CPU)

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> s = draw_schedule([0, 2, 4], 2, 10, np.array([0, 1, 0, 1, 1]), 2,
    ...                   mode="replace", label_strategy="random",
    ...                   reuse_validation=False, generator=g)
    >>> len(set(s.val_index.tolist())), s.replace_index.shape
    (4, (4,))
    """
    batches = split_batches(targets, batch_size)
    total = targets[-1] if targets else 0
    val_index = _draw_validation(len(y_val), batches, reuse_validation, generator)
    source = torch.as_tensor(y_val[val_index], dtype=torch.long)
    labels = flip_labels(source, n_classes, label_strategy, generator).numpy()
    replace_index = None
    if mode == "replace":
        replace_index = torch.randperm(n_train, generator=generator)[:total].numpy()
    return Schedule(list(targets), batches, val_index, labels, replace_index)
