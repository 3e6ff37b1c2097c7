"""Randomized configurations against finite differences (float64, a fixed seed).

A sample of what a randomized sweep of the engine drew (2700 configurations,
none off beyond the finite differences' noise once the logistic loss's tail
was fixed: ``test_logistic_tail.py``). Where the fixed cases of
``test_finite_differences.py`` and the random shapes of ``test_shapes.py``
(fixed rate, λ in [-4, 1], gradient steps only, methods against each other)
stop, these draw λ from exp(-12) to exp(4) with a spread between groups, rates
up to the stability limit, proximal L1 steps, networks of one and two hidden
layers, no poison or all rows poisoned, runs of 0 to 50 steps, and check every
path of reverse mode (checkpoint schedules, K stacked problems in lock step and
one by one, :class:`~skpoison.hypergrad.GraphedHypergradient` run eagerly)
against central differences of the T-step map, not only against each other.
"""

from __future__ import annotations

import random

import pytest
import torch
from hg_cases import DT, assert_close_rel, finite_differences, make_case, unrolled_value

import skpoison.hypergrad._batched as batched_module
from skpoison.hypergrad import GraphedHypergradient, batched_hypergradient

N_CASES = 15
SEED = 1000   # (horizons 0-48, λ from -11 to 2, weights set to 0 and flipped)


def draw(rng, i):
    """Configuration ``i``: the model, its data and the inner run's settings.

    Models and penalties take turns (every pair of them comes up within six);
    under L1, λ is mostly drawn where the penalty sets weights to 0 or flips them.
    """
    model, penalty = ("linear", "mlp")[i % 2], ("l2", "l1", "l1-prox")[i % 3]
    log_lambda = (rng.uniform(-5.0, 2.0) if penalty != "l2" and rng.random() < 0.7
                  else rng.uniform(-12.0, 4.0))
    spec = dict(
        model=model, k=rng.choice([1, 3]), penalty=penalty, log_lambda=log_lambda,
        mode=rng.choice(["single", "per_feature"] if model == "linear"
                        else ["single", "per_layer"]),
        n=rng.randint(3, 20), d=rng.randint(1, 4), n_val=rng.randint(1, 8),
        steps=rng.choice([0, rng.randint(1, 10), rng.randint(10, 30), rng.randint(30, 50)]),
        spread=rng.choice([0.0, 0.3, 2.0]),
        hidden=tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 2))),
        low=rng.choice([0.0, -1.0]), noise=rng.choice([0.0, 0.2, 0.5]),
        fraction=rng.choice([rng.uniform(0.05, 0.5), rng.uniform(0.5, 0.9),
                             rng.uniform(0.9, 0.99)]),
        seed=rng.randint(0, 10**6), K=rng.randint(1, 3), slot_draw=rng.random(),
        schedule=rng.choice([1, 2, 3, "sqrt", "cbrt", (6, 2)]))
    spec["n_poison"] = rng.choice([0, 1, 2, 3, spec["n"]])   # (n: every row poisoned)
    return spec


def build(spec, seed=None):
    """The case of ``spec`` (its data drawn from ``seed``), at a stable rate."""
    case = make_case(spec["model"], spec["k"], spec["mode"], spec["penalty"], n=spec["n"],
                     d=spec["d"], n_poison=spec["n_poison"], n_val=spec["n_val"],
                     steps=spec["steps"], seed=spec["seed"] if seed is None else seed,
                     hidden=spec["hidden"], noise=spec["noise"], low=spec["low"])
    gen = torch.Generator().manual_seed(spec["seed"])
    n_hyper = case.problem.n_hyper
    spread = spec["spread"] * torch.randn(n_hyper, generator=gen, dtype=DT) * (n_hyper > 1)
    case.log_lambda = (spec["log_lambda"] + spread).clamp(-12.0, 4.0)
    # A fraction of 2 / L (L: the smoothness of the linear model's data loss,
    # quadrupled for the networks; plus the largest L2 weight).
    design = torch.cat([case.X, torch.ones(spec["n"], 1, dtype=DT)], 1)
    smooth = float(torch.linalg.matrix_norm(design, 2) ** 2) / spec["n"]
    smooth *= (0.25 if spec["k"] == 1 else 0.5) * (4.0 if spec["model"] == "mlp" else 1.0)
    if spec["penalty"] == "l2":
        smooth += float(torch.exp(case.log_lambda.max()))
    case.lr = spec["fraction"] * 2.0 / smooth
    return case


SPECS = [draw(random.Random(SEED + i), i) for i in range(N_CASES)]


def spec_id(spec):
    hidden = "-".join(map(str, spec["hidden"])) if spec["model"] == "mlp" else ""
    return (f"{spec['model']}{hidden}-k{spec['k']}-{spec['mode']}-{spec['penalty']}"
            f"-T{spec['steps']}-p{spec['n_poison']}-lam{spec['log_lambda']:.0f}")


def reference_derivatives(case):
    """Richardson-extrapolated central differences ``(grad_lambda, along, direction,
    noise_lambda, noise_along)``, or None where a sign or LeakyReLU pattern changes
    within every step size tried (the T-step map is not smooth there)."""
    value, check = unrolled_value(case)
    direction = torch.randn(case.X_poison.shape, generator=torch.Generator().manual_seed(7),
                            dtype=DT)
    for h in (1e-3, 1e-4, 1e-5):
        try:
            fd = [finite_differences(value, case.log_lambda, case.X_poison, direction,
                                     h=s * h, check=check) for s in (1, 2, 4)]
        except AssertionError:
            continue
        (g1, d1), (g2, d2), (g4, d4) = fd
        lam, along = (4 * g1 - g2) / 3, (4 * d1 - d2) / 3
        floor = 100 * torch.finfo(DT).eps * max(1.0, abs(float(value(case.log_lambda,
                                                                       case.X_poison)))) / h
        noise_lam = float(torch.linalg.vector_norm(lam - (4 * g2 - g4) / 3)) + floor
        noise_along = abs(along - (4 * d2 - d4) / 3) + floor * float(
            torch.linalg.vector_norm(direction))
        return lam, along, direction, noise_lam, noise_along
    return None


def unbatched(case, spec):
    """The hypergradient of ``case`` by every unrolled method and single-problem path."""
    results = {"rmd": case.hypergradient("rmd"), "fmd": case.hypergradient("fmd"),
               "autograd": case.hypergradient("autograd"),
               "checkpointed": case.hypergradient("rmd", checkpoint_every=spec["schedule"])}
    graphed = GraphedHypergradient(case.problem, n_poison=case.n_poison, steps=case.steps,
                                   lr=case.lr, checkpoint_every=spec["schedule"])
    results["graphed"] = graphed(case.w0, case.log_lambda, case.X, case.Y, case.X_val,
                                 case.Y_val)
    return results


def batched(case, spec):
    """Row ``slot`` of ``K`` stacked problems: ``case`` at a drawn slot, the others
    on other data (and so their own rates)."""
    K = spec["K"]
    slot = int(spec["slot_draw"] * K)
    cases = [case if k == slot else build(spec, seed=spec["seed"] + 1 + k) for k in range(K)]
    stacked = [torch.stack([getattr(c, name) for c in cases])
               for name in ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")]
    result = batched_hypergradient(
        case.problem, *stacked, n_poison=case.n_poison, steps=case.steps,
        lr=torch.tensor([c.lr for c in cases], dtype=DT), checkpoint_every=spec["schedule"])
    return type(result)(*(t[slot] for t in result[:4]))


@pytest.mark.parametrize("spec", SPECS, ids=[spec_id(s) for s in SPECS])
def test_random_configuration_matches_finite_differences(spec, monkeypatch):
    case = build(spec)
    results = unbatched(case, spec)
    results["batched"] = batched(case, spec)
    monkeypatch.setattr(batched_module, "_CPU_LOCKSTEP_BYTES", 0)   # one problem at a time
    results["one by one"] = batched(case, spec)
    reference = results["rmd"]
    for name, result in results.items():
        for field in ("val_loss", "params", "grad_log_lambda", "grad_X_poison"):
            got = getattr(result, field)
            assert got.shape == getattr(reference, field).shape
            assert bool(torch.isfinite(got).all()), (name, field)
        if name != "autograd":   # (L1: it may see a rounding residue where others see 0)
            assert_close_rel(result.grad_log_lambda, reference.grad_log_lambda, 1e-9,
                             f"{name}: lambda", atol=1e-15)
            assert_close_rel(result.grad_X_poison, reference.grad_X_poison, 1e-9,
                             f"{name}: poison", atol=1e-15)
    fd = reference_derivatives(case)
    if fd is None:
        pytest.skip("the T-step map is not smooth around this point")
    lam, along, direction, noise_lam, noise_along = fd
    for name, result in results.items():
        assert_close_rel(result.grad_log_lambda, lam, 1e-6, f"{name}: d/d log_lambda",
                         atol=10 * noise_lam)
        projected = float(torch.sum(result.grad_X_poison * direction))
        scale = float(torch.linalg.vector_norm(result.grad_X_poison)
                      * torch.linalg.vector_norm(direction))
        assert abs(projected - along) <= 1e-6 * scale + 10 * noise_along, (name, projected,
                                                                            along)
