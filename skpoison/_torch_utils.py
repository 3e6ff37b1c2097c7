"""Device and dtype resolution, generators and numpy <-> tensor moves.

This is the only module that moves data between numpy and torch or between
devices; everything else asks it to.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(device="cpu"):
    """Return the :class:`torch.device` named by ``device``.

    Parameters
    ----------
    device : {"cpu", "cuda", "cuda:N", "auto"} or torch.device
        ``"auto"`` picks CUDA when it is available, else the CPU.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        resolved = device
    elif device == "auto":
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            resolved = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"device={device!r} is not a valid device; use 'cpu', 'cuda', "
                "'cuda:N' or 'auto'."
            ) from exc
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device={device!r} is not supported: skpoison runs on the CPU or CUDA; use "
            "'cpu', 'cuda', 'cuda:N' or 'auto'.")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this "
            "machine; use device='cpu' or device='auto'."
        )
    if resolved.type == "cuda" and resolved.index is not None:
        count = torch.cuda.device_count()
        if resolved.index >= count:   # (torch would fail later: "invalid device ordinal")
            raise ValueError(
                f"device={device!r} names GPU {resolved.index}, but this machine has "
                f"{count} CUDA device{'s' if count != 1 else ''} (cuda:0 to "
                f"cuda:{count - 1}).")
    return resolved


def resolve_dtype(dtype="float64"):
    """Return the floating :class:`torch.dtype` named by ``dtype``.

    ``dtype``: ``"float64"`` or ``"float32"``, or the same as a torch dtype, a
    NumPy scalar type (``np.float32``) or a NumPy dtype (``X.dtype``).

    Examples
    --------
    >>> resolve_dtype("float32"), resolve_dtype(np.dtype("float64"))
    (torch.float32, torch.float64)
    """
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise ValueError(f"dtype={dtype} is not supported; use float32 or float64.")
        return dtype
    if isinstance(dtype, np.dtype) or (isinstance(dtype, type)
                                       and issubclass(dtype, np.floating)):
        dtype = np.dtype(dtype).name     # (np.float32, an array's dtype: "float32")
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; use 'float64' or 'float32'.")
    return _DTYPES[dtype]


def torch_seed(random_state):
    """The int seed :func:`make_generator` seeds its generator with (see there).

    A :class:`numpy.random.RandomState` or ``None`` (NumPy's global state)
    moves on by one draw; an int is the seed itself.

    Examples
    --------
    >>> torch_seed(7), torch_seed(np.random.RandomState(0)) == torch_seed(np.random.RandomState(0))
    (7, True)
    """
    if random_state is None:
        return int(check_random_state(None).randint(0, 2**31 - 1))
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    raise ValueError(f"random_state={random_state!r} cannot seed a torch.Generator.")


def make_generator(random_state, device="cpu"):
    """Return a :class:`torch.Generator` seeded from a scikit-learn ``random_state``.

    ``None`` draws a seed from NumPy's global random state (as scikit-learn
    does: ``np.random.seed`` then fixes it), an int seeds directly and a
    :class:`numpy.random.RandomState` / :class:`numpy.random.Generator`
    provides the seed, so results follow scikit-learn's conventions.
    The global torch seed is never touched.

    Examples
    --------
    >>> g = make_generator(0)
    >>> float(torch.rand(1, generator=g)) == float(torch.rand(1, generator=make_generator(0)))
    True
    """
    generator = torch.Generator(device=torch.device(device))
    generator.manual_seed(torch_seed(random_state))
    return generator


def to_tensor(array, *, device, dtype=None):
    """Copy ``array`` into a new tensor on ``device`` (never shares caller memory).

    Examples
    --------
    >>> to_tensor(np.ones(2), device="cpu", dtype=torch.float32)
    tensor([1., 1.])
    """
    if isinstance(array, torch.Tensor):
        return array.detach().to(device=device, dtype=dtype, copy=True)
    # ascontiguousarray: torch refuses numpy views with negative strides.
    return torch.tensor(np.ascontiguousarray(array), device=device, dtype=dtype)


def to_numpy(tensor):
    """Return a CPU numpy copy of ``tensor`` (detached).

    Examples
    --------
    >>> to_numpy(torch.zeros(2, dtype=torch.float64))
    array([0., 0.])
    """
    return tensor.detach().cpu().numpy().copy()
