"""The MLP loops divide by ``float(n)``: bitwise what dividing by the int ``n`` gave.

(An int divisor is converted to a tensor by a kernel of its own at every
step; ``MLPUnroll`` and ``MLPProblem`` pass the float instead, claiming the
same bits in both dtypes.)
"""

import pytest
import torch

from skpoison.models import MLPProblem
from skpoison.models import _mlp_derivatives as calculus


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_gradient_and_hvp_as_with_int_divisor(dtype, n_outputs):
    generator = torch.Generator().manual_seed(n_outputs)
    n, d = 37, 6
    X = torch.rand(n, d, generator=generator, dtype=torch.float64).to(dtype)
    labels = torch.randint(0, max(n_outputs, 2), (n,), generator=generator)
    Y = (labels[:, None].to(dtype) if n_outputs == 1
         else torch.nn.functional.one_hot(labels, n_outputs).to(dtype))
    problem = MLPProblem(d, (5, 4), n_outputs)
    w = problem.init_params(generator, dtype=dtype)
    log_lambda = torch.full((1,), -3.0, dtype=dtype)
    unroll = problem.unroll(log_lambda, X, Y, lr=0.3, n_poison=3)

    layers = problem.unflatten(w)
    pre, hidden, scores = calculus.forward(layers, X)
    P = calculus.activation(scores)
    pieces, deltas = calculus.backward(layers, pre, hidden, (P - Y) / n)   # int n
    gradient, _, _ = unroll._data_gradient(w)
    assert torch.equal(gradient, torch.cat(pieces))

    a = torch.rand(w.shape, generator=generator, dtype=torch.float64).to(dtype)
    expected, expected_poison = calculus.directional(layers, problem.unflatten(a), pre,
                                                     hidden, P, deltas, n, 3)   # int n
    hvp, poison = unroll._data_hvp(w, (pre, P), a, True)
    assert torch.equal(hvp, torch.cat(expected)) and torch.equal(poison, expected_poison)
    hvp_generic, _, poison_generic = problem.reverse_step(w, (pre, P), log_lambda, X, Y, 3, a)
    assert torch.equal(poison_generic, expected_poison)
    assert torch.equal(hvp_generic, torch.cat(expected) + problem.penalty.hvp(log_lambda, a))
