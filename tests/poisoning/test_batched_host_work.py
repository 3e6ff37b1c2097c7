"""fit_batched's outer steps issue what one attack's do, whatever K.

On a GPU an outer step costs its kernel launches and host reads: ``K``
attacks in lock step should launch the kernels of one (each over ``K``
problems) and read the host once (the divergence check), never once per
problem. The aten calls are counted with a ``TorchDispatchMode``, which sees
them on CPU tensors too; the counts are exact, so each step's share is the
difference between attacks of 4 and 2 outer steps (the set-up, which is per
data set, cancels out).
"""

from collections import Counter

from torch.utils._python_dispatch import TorchDispatchMode

from skpoison import HypergradMLP, HypergradRegularizedLR, OptimalPoisoner
from skpoison.poisoning import fit_batched

from .conftest import digits

# aten ops whose value or size the host reads (tests/hypergrad/test_host_sync.py)
_HOST_READS = {"_local_scalar_dense", "nonzero", "masked_select", "equal", "allclose"}


class _Calls(TorchDispatchMode):
    """aten calls by name."""

    def __init__(self):
        super().__init__()
        self.counts = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def _per_outer_step(estimator, k, **options):
    """aten calls per outer step of a batched attack of ``k`` digit splits (a Counter)."""
    datasets = [digits([0, 8], 40, 20, seed=seed)[:4] for seed in range(k)]

    def calls(outer_steps):
        poisoner = OptimalPoisoner(estimator, ratios=(0.1,), batch_size=2,
                                   outer_steps=outer_steps, **options)
        with _Calls() as counter:
            fit_batched(poisoner, datasets, random_states=list(range(k)))
        return counter.counts

    # Two batches of 2 points (10 % of 40): 2 * 2 more outer steps.
    more, fewer = calls(4), calls(2)
    return Counter({name: (more[name] - fewer[name]) / 4 for name in more | fewer
                    if more[name] != fewer[name]})


def test_an_outer_step_reads_the_host_once_and_launches_the_same_kernels_whatever_k():
    # inner_lr="auto": every split has its own inner rate, checked once per attack
    # (it was read back at every outer step).
    estimator = HypergradRegularizedLR(inner_steps=10)
    two, four = (_per_outer_step(estimator, k) for k in (2, 4))
    assert sum(two[name] for name in _HOST_READS) == 1, two
    assert four == two


def test_redrawn_weights_move_to_the_device_once_per_outer_step():
    # The K draws (float64, on the host) are stacked and moved at once: on a GPU
    # each move of host memory waits for the device. (float32: the move is a
    # conversion that the counter sees on the CPU too.)
    estimator = HypergradMLP(hidden_layer_sizes=(3,), inner_steps=5, random_state=0,
                             dtype="float32")
    two, four = (_per_outer_step(estimator, k, reinit_each_step=True) for k in (2, 4))
    assert two["_to_copy"] == four["_to_copy"] > 0
    for counts in (two, four):
        assert sum(counts[name] for name in _HOST_READS) == 1, counts
