"""GPU path: reverse mode on CUDA agrees with the CPU (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch
from hg_cases import assert_close_rel, make_case

from skpoison.hypergrad import batched_hypergradient

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available"),
]


def to_device(case, device):
    moved = {name: (value.to(device) if torch.is_tensor(value) else value)
             for name, value in vars(case).items()}
    return type(case)(**moved)


@pytest.mark.parametrize("penalty", ["l2", "l1"])
@pytest.mark.parametrize(("model", "k", "mode"), [
    ("linear", 1, "single"), ("linear", 3, "per_feature"),
    ("mlp", 1, "per_layer"), ("mlp", 3, "single"),
])
@pytest.mark.parametrize("method", ["rmd", "cg"])
def test_cuda_matches_cpu(model, k, mode, penalty, method):
    case = make_case(model, k, mode, penalty, steps=30)
    cpu = case.hypergradient(method) if method == "rmd" else None
    if method == "cg":
        if penalty == "l1" or model == "mlp":
            pytest.skip("implicit route: convex L2 linear problems only")
        case.steps, case.lr = 400, 1.0
        case.log_lambda = case.log_lambda + 1.5
        cpu = case.hypergradient(method)
    gpu = to_device(case, "cuda").hypergradient(method)
    assert gpu.grad_X_poison.device.type == "cuda"
    assert gpu.grad_log_lambda.device.type == "cuda"
    assert_close_rel(gpu.grad_log_lambda.cpu(), cpu.grad_log_lambda, 1e-9, "lambda")
    assert_close_rel(gpu.grad_X_poison.cpu(), cpu.grad_X_poison, 1e-9, "poison")
    assert_close_rel(gpu.params.cpu(), cpu.params, 1e-10, "params")


@pytest.mark.parametrize(("k", "mode"), [(1, "single"), (3, "per_feature")])
@pytest.mark.parametrize("batched", [False, True], ids=["single", "batched"])
def test_proximal_steps_on_cuda_match_cpu(k, mode, batched):
    cases = [make_case("linear", k, mode, "l1-prox", steps=30, log_lambda=-3.5, seed=seed)
             for seed in (0, 1)]
    if batched:
        def run(device):
            moved = [to_device(case, device) for case in cases]
            stack = [torch.stack([getattr(c, name) for c in moved])
                     for name in ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")]
            return batched_hypergradient(cases[0].problem, *stack, n_poison=cases[0].n_poison,
                                         steps=30, lr=cases[0].lr)
        cpu, gpu = run("cpu"), run("cuda")
    else:
        cpu, gpu = cases[0].hypergradient("rmd"), to_device(cases[0], "cuda").hypergradient("rmd")
    assert bool((cpu.params == 0).any())         # (exact zeros: the threshold was met)
    assert torch.equal(gpu.params.cpu() == 0, cpu.params == 0)
    assert_close_rel(gpu.grad_log_lambda.cpu(), cpu.grad_log_lambda, 1e-9, "lambda")
    assert_close_rel(gpu.grad_X_poison.cpu(), cpu.grad_X_poison, 1e-9, "poison")


def test_penalty_built_on_cpu_follows_the_data_to_cuda():
    case = to_device(make_case("linear", 1, "per_feature", "l2"), "cuda")
    assert case.problem.penalty.group_index.device.type == "cpu"
    result = case.hypergradient("rmd")
    assert torch.isfinite(result.grad_X_poison).all()


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_cuda_checkpointed_and_batched_match_cpu(model):
    from skpoison.hypergrad import batched_hypergradient

    case = make_case(model, 3, "single", "l2", steps=30)
    cpu = case.hypergradient("rmd")
    gpu_case = to_device(case, "cuda")
    gpu = gpu_case.hypergradient("rmd", checkpoint_every="sqrt")
    assert_close_rel(gpu.grad_X_poison.cpu(), cpu.grad_X_poison, 1e-9, "checkpointed")
    stack = [t[None].expand(2, *t.shape) for t in (gpu_case.w0, gpu_case.log_lambda,
                                                   gpu_case.X, gpu_case.Y,
                                                   gpu_case.X_val, gpu_case.Y_val)]
    batched = batched_hypergradient(case.problem, *stack, n_poison=case.n_poison,
                                    steps=case.steps, lr=case.lr)
    assert batched.grad_X_poison.device.type == "cuda"
    assert_close_rel(batched.grad_X_poison[1].cpu(), cpu.grad_X_poison, 1e-9, "batched")
    checkpointed = batched_hypergradient(case.problem, *stack, n_poison=case.n_poison,
                                         steps=case.steps, lr=case.lr,
                                         checkpoint_every=(9, 3))
    assert_close_rel(checkpointed.grad_X_poison[0].cpu(), cpu.grad_X_poison, 1e-9,
                     "batched, checkpointed")


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_cuda_batched_per_problem_rates_match_cpu(model):
    from skpoison.hypergrad import batched_hypergradient

    cases = [make_case(model, 1, "single", "l1", steps=20, seed=seed) for seed in (0, 1)]
    stack = [torch.stack([getattr(c, name) for c in cases])
             for name in ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")]
    lrs = torch.tensor([0.3, 0.6], dtype=stack[0].dtype)
    options = dict(n_poison=cases[0].n_poison, steps=20, checkpoint_every=6)
    cpu = batched_hypergradient(cases[0].problem, *stack, lr=lrs, **options)
    gpu = batched_hypergradient(cases[0].problem, *[t.cuda() for t in stack],
                                lr=lrs.cuda(), **options)
    assert_close_rel(gpu.grad_X_poison.cpu(), cpu.grad_X_poison, 1e-9, "poison")
    assert_close_rel(gpu.grad_log_lambda.cpu(), cpu.grad_log_lambda, 1e-9, "lambda")
