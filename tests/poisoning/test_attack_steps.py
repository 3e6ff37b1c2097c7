"""The attack loop's pieces: ascent directions and the batches of a schedule."""

import math

import torch

from skpoison.poisoning._attack import ascent_direction
from skpoison.poisoning._schedule import split_batches

DT = torch.float64


def test_batch_normalization_is_over_the_whole_batch_point_over_each_point():
    grad = torch.tensor([[3.0, 4.0], [0.0, 1.0]], dtype=DT)
    torch.testing.assert_close(ascent_direction(grad, "batch"), grad / math.sqrt(26.0))
    torch.testing.assert_close(
        torch.linalg.vector_norm(ascent_direction(grad, "point"), dim=-1),
        torch.ones(2, dtype=DT))
    stacked = torch.stack([grad, 2 * grad])     # K attacks: one batch norm each
    torch.testing.assert_close(ascent_direction(stacked, "batch"),
                               torch.stack([grad, grad]) / math.sqrt(26.0))


def test_batches_are_rounded_not_truncated():
    # Pinned: the schedule, and so every attack's result, depends on where the
    # batch boundaries fall.
    assert split_batches([5], 2) == [(0, 0, 2), (0, 2, 3), (0, 3, 5)]
    # (numpy rounds halves to even: 2.5 -> 2)
    assert split_batches([0, 7, 7, 12], 3) == [(1, 0, 2), (1, 2, 5), (1, 5, 7),
                                                 (3, 7, 9), (3, 9, 12)]
