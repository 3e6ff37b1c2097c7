"""Data sets of the paper: loaders, the 2-D synthetic generator and splits.

Loaders return the joint pool (original train + test) of a class selection
as a :class:`sklearn.utils.Bunch`; :func:`make_poisoning_splits` draws the
disjoint, class-balanced train / trusted validation / test sets of one
repetition. File-based data sets are read from a local data home
(:func:`get_data_home`) and downloaded, with checksums, when missing.
"""

from ._base import DATASET_NAMES, default_sizes, load_dataset
from ._cifar import fetch_cifar10
from ._digits import load_digits_pair
from ._home import get_data_home
from ._idx import read_idx
from ._mnist import fetch_fashion_mnist, fetch_mnist
from ._splits import make_poisoning_splits
from ._synthetic import make_synthetic_2d

__all__ = [
    "DATASET_NAMES",
    "default_sizes",
    "fetch_cifar10",
    "fetch_fashion_mnist",
    "fetch_mnist",
    "get_data_home",
    "load_dataset",
    "load_digits_pair",
    "make_poisoning_splits",
    "make_synthetic_2d",
    "read_idx",
]
