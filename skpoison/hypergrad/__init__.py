"""The hypergradient engine: pure torch, no scikit-learn.

Inner problems implement :class:`InnerProblem`; the algorithms take one, a
starting point, the hyperparameters and the data as tensors and return a
:class:`HypergradResult`. A loop that calls one setting again and again (the
outer steps of a fit or an attack) holds :func:`make_hypergradient`'s
callable: on a GPU, reverse mode then replays a CUDA graph
(:class:`GraphedHypergradient`).
"""

from ._batched import batched_hypergradient, batched_train
from ._dispatch import METHODS, compute_hypergradient, make_hypergradient
from ._forward import forward_hypergradient
from ._graph import GraphedHypergradient
from ._implicit import implicit_hypergradient
from ._linear_solve import dense_operator, solve_cg, solve_exact
from ._naive import unrolled_autograd_hypergradient
from ._problem import InnerProblem
from ._divergence import check_finite
from ._errors import (
    HessianSolveWarning,
    HypergradientOverflowError,
    InnerDivergenceError,
    InnerNotConvergedWarning,
)
from ._result import HypergradResult
from ._reverse import reverse_hypergradient
from ._unroll import Unroll
from ._unrolled import train

__all__ = [
    "GraphedHypergradient",
    "HessianSolveWarning",
    "HypergradResult",
    "HypergradientOverflowError",
    "InnerDivergenceError",
    "InnerNotConvergedWarning",
    "InnerProblem",
    "METHODS",
    "batched_hypergradient",
    "batched_train",
    "check_finite",
    "compute_hypergradient",
    "dense_operator",
    "forward_hypergradient",
    "implicit_hypergradient",
    "make_hypergradient",
    "reverse_hypergradient",
    "solve_cg",
    "solve_exact",
    "Unroll",
    "train",
    "unrolled_autograd_hypergradient",
]
