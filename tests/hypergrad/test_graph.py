"""Reverse mode replayed from a CUDA graph (GraphedHypergradient, make_hypergradient).

On the CPU the callable runs eagerly, and what makes the capture possible is
checked instead: the captured function, ``reverse_pass``, reads nothing back
to the host. The CUDA tests (skipped without a GPU) check that replays with
new inputs give the eager results and that a new shape captures again.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
import time
import threading
import warnings

import pytest
import torch
from hg_cases import GenericProblem, assert_close_rel, make_case
from test_host_sync import host_syncs

from skpoison.hypergrad import (
    GraphedHypergradient,
    InnerDivergenceError,
    batched_hypergradient,
    compute_hypergradient,
    make_hypergradient,
)
from skpoison.hypergrad._batched import _batched_unroll
from skpoison.hypergrad._checkpoint import segment_lengths
from skpoison.hypergrad._graph import capturable
from skpoison.hypergrad._reverse import reverse_pass

CASES = [("linear", 1, "single", "l2"), ("linear", 3, "per_feature", "l1"),
         ("linear", 1, "per_feature", "l1-prox"), ("mlp", 1, "per_layer", "l1"),
         ("mlp", 3, "single", "l2"), ("mlp", 3, "per_layer", "l1-prox")]
SCHEDULES = [None, "sqrt", (12, 3)]
FIELDS = ("val_loss", "grad_log_lambda", "grad_X_poison", "params")


def inputs(case):
    return case.w0, case.log_lambda, case.X, case.Y, case.X_val, case.Y_val


def stacked(cases):
    return [torch.stack([getattr(c, name) for c in cases])
            for name in ("w0", "log_lambda", "X", "Y", "X_val", "Y_val")]


def assert_same(got, want):
    for name in FIELDS:
        assert torch.equal(getattr(got, name), getattr(want, name)), name


# -- what capture needs, checked on the CPU ------------------------------------
@pytest.mark.parametrize(("model", "k", "mode", "penalty"), CASES)
@pytest.mark.parametrize("every", SCHEDULES, ids=["stored", "sqrt", "two-level"])
def test_the_captured_pass_reads_nothing_back(model, k, mode, penalty, every):
    case = make_case(model, k, mode, penalty, steps=24)
    lengths = segment_lengths(every, case.steps)

    def single():
        unroll = case.problem.unroll(case.log_lambda, case.X, case.Y, lr=case.lr,
                                     n_poison=case.n_poison)
        reverse_pass(case.problem, unroll, *inputs(case), steps=case.steps, lr=case.lr,
                     lengths=lengths)

    stack = stacked([case, make_case(model, k, mode, penalty, steps=24, seed=1)])
    rates = torch.tensor([0.4, 0.5], dtype=case.X.dtype)

    def batched():
        w0, lam, X, Y = stack[:4]
        unroll = _batched_unroll(case.problem, lam, X, Y, lr=rates, n_poison=case.n_poison)
        reverse_pass(case.problem, unroll, *stack, steps=case.steps, lr=rates,
                     lengths=lengths)

    with torch.no_grad():
        assert host_syncs(single).total() == 0
        assert host_syncs(batched).total() == 0


def test_built_in_problems_are_capturable_and_others_are_not():
    linear = make_case("linear", 1, "single", "l2").problem
    mlp = make_case("mlp", 1, "single", "l2").problem
    assert capturable(linear) and capturable(mlp)
    assert not capturable(GenericProblem(linear))

    class Subclass(type(linear)):     # may override a loss with a host read
        pass

    assert not capturable(Subclass(4, 1))


# -- on the CPU the callables run eagerly ----------------------------------------
@pytest.mark.parametrize(("model", "k", "mode", "penalty"), CASES)
def test_on_the_cpu_it_is_the_eager_function(model, k, mode, penalty):
    case = make_case(model, k, mode, penalty)
    hypergradient = GraphedHypergradient(case.problem, n_poison=case.n_poison,
                                         steps=case.steps, lr=case.lr, checkpoint_every=5)
    assert_same(hypergradient(*inputs(case)), case.hypergradient("rmd", checkpoint_every=5))
    assert hypergradient.n_captures_ == 0
    cases = [case, make_case(model, k, mode, penalty, seed=1)]
    batched = GraphedHypergradient(case.problem, n_poison=case.n_poison, steps=case.steps,
                                   lr=[0.4, 0.5], batched=True)
    assert_same(batched(*stacked(cases)),
                batched_hypergradient(case.problem, *stacked(cases), n_poison=case.n_poison,
                                      steps=case.steps, lr=[0.4, 0.5]))


@pytest.mark.parametrize("method", ["rmd", "fmd", "cg", "exact", "autograd"])
def test_make_hypergradient_is_compute_hypergradient_with_its_options(method):
    case = make_case("linear", 1, "single", "l2", steps=60)
    hypergradient = make_hypergradient(case.problem, method=method, n_poison=case.n_poison,
                                       steps=case.steps, lr=case.lr)
    assert (type(hypergradient) is GraphedHypergradient) == (method == "rmd")
    with warnings.catch_warnings():   # the implicit methods' not-converged warning
        warnings.simplefilter("ignore")
        assert_same(hypergradient(*inputs(case)), case.hypergradient(method))


def test_batched_non_reverse_methods_are_refused():
    case = make_case("linear", 1, "single", "l2")
    hypergradient = make_hypergradient(case.problem, method="fmd", steps=5, lr=0.5,
                                       batched=True)
    with pytest.raises(ValueError, match="not supported by batched_hypergradient"):
        hypergradient(*stacked([case, case]))


# -- CUDA: capture once, replay with new inputs -----------------------------------
def to_cuda(tensors):
    return [t.cuda() for t in tensors]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
class TestOnCuda:
    @pytest.fixture(autouse=True)
    def _graphs_on(self, monkeypatch):   # whatever the runner's environment says
        monkeypatch.delenv("SKPOISON_CUDA_GRAPHS", raising=False)

    @pytest.mark.parametrize(("model", "k", "mode", "penalty"), CASES)
    @pytest.mark.parametrize("every", [None, "sqrt"], ids=["stored", "sqrt"])
    @pytest.mark.parametrize("batched", [False, True], ids=["single", "batched"])
    def test_replays_match_eager_calls_with_new_inputs(self, model, k, mode, penalty, every,
                                                        batched):
        base = make_case(model, k, mode, penalty, steps=25)
        lr = [0.4, 0.5] if batched else base.lr
        hypergradient = GraphedHypergradient(base.problem, n_poison=base.n_poison,
                                             steps=base.steps, lr=lr, checkpoint_every=every,
                                             batched=batched)
        eager = functools.partial(
            batched_hypergradient if batched else compute_hypergradient, base.problem,
            n_poison=base.n_poison, steps=base.steps,
            lr=torch.tensor(lr, dtype=base.X.dtype, device="cuda") if batched else lr,
            checkpoint_every=every)
        for call in range(3):   # new λ and new poisoning points at every call
            cases = [make_case(model, k, mode, penalty, steps=25, seed=call + s,
                               log_lambda=-2.0 + 0.5 * call) for s in (0, 10)]
            args = to_cuda(stacked(cases) if batched else inputs(cases[0]))
            got, want = hypergradient(*args), eager(*args)
            for name in FIELDS:
                assert_close_rel(getattr(got, name).cpu(), getattr(want, name).cpu(), 1e-12,
                                 f"call {call}: {name}")
        assert hypergradient.n_captures_ == 1

    def test_a_new_shape_captures_again_and_outputs_survive_the_next_replay(self):
        case = make_case("linear", 1, "single", "l2")
        hypergradient = GraphedHypergradient(case.problem, n_poison=case.n_poison,
                                             steps=case.steps, lr=case.lr)
        first = hypergradient(*to_cuda(inputs(case)))
        kept = first.grad_X_poison.clone()
        hypergradient(*to_cuda(inputs(make_case("linear", 1, "single", "l2", seed=3))))
        assert torch.equal(first.grad_X_poison, kept)   # a clone, not the graph's buffer
        bigger = make_case("linear", 1, "single", "l2", n=60)
        got = hypergradient(*to_cuda(inputs(bigger)))
        assert hypergradient.n_captures_ == 2
        assert_close_rel(got.grad_X_poison.cpu(), bigger.hypergradient("rmd").grad_X_poison,
                         1e-9, "new shape")

    def test_a_diverged_replay_raises(self):
        case = make_case("linear", 1, "single", "l2")
        hypergradient = GraphedHypergradient(case.problem, n_poison=case.n_poison,
                                             steps=case.steps, lr=case.lr)
        hypergradient(*to_cuda(inputs(case)))
        w0, lam, *data = to_cuda(inputs(case))
        with pytest.raises(InnerDivergenceError):
            hypergradient(w0, lam + 6.0, *data)      # lr * exp(λ) >= 2: unstable L2 rate
        assert hypergradient.n_captures_ == 1

    def test_a_first_call_in_inference_mode_leaves_later_calls_working(self):
        # Its static buffers made in the caller's inference mode were inference
        # tensors, which every later call outside it failed to copy into.
        case = make_case("linear", 1, "single", "l2")
        hypergradient = GraphedHypergradient(case.problem, n_poison=case.n_poison,
                                             steps=case.steps, lr=case.lr)
        with torch.inference_mode():
            inside = hypergradient(*to_cuda(inputs(case)))
        outside = hypergradient(*to_cuda(inputs(case)))
        assert torch.equal(outside.grad_X_poison, inside.grad_X_poison)
        assert hypergradient.n_captures_ == 1

    def test_threads_capture_while_another_thread_works_on_the_device(self):
        # A thread-based sweep: two threads capture at once while a third
        # allocates and reads back. CUDA's global capture mode would fail here.
        cases = [make_case(*CASES[i], steps=25, seed=i) for i in (0, 2)]
        start, stop = threading.Barrier(3, timeout=20), threading.Event()
        results, captures, errors = {}, {}, []

        def attack(index, case):
            try:
                hypergradient = GraphedHypergradient(case.problem, n_poison=case.n_poison,
                                                     steps=case.steps, lr=case.lr)
                args = to_cuda(inputs(case))
                start.wait()
                results[index] = [hypergradient(*args) for _ in range(5)]
                captures[index] = hypergradient.n_captures_
            except BaseException as exc:   # reported by the main thread
                errors.append(exc)

        def other_work():
            try:
                start.wait()
                size = 1 << 16
                while not stop.is_set():
                    size += 1024                                  # new blocks
                    torch.ones(size, device="cuda").sum().item()  # a host read
            except BaseException as exc:
                errors.append(exc)

        # Daemons, and at most 60 s of waiting in all (the barrier's 20 s
        # included), well inside gpu_checks.sh's 120 s for all the CUDA tests: a
        # hang fails this test by name instead of killing the step.
        workers = [threading.Thread(target=attack, args=(i, c), daemon=True)
                   for i, c in enumerate(cases)]
        busy = threading.Thread(target=other_work, daemon=True)
        for thread in (*workers, busy):
            thread.start()
        deadline = time.monotonic() + 50
        for thread in workers:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        stop.set()
        busy.join(timeout=10)
        hung = [t.name for t in (*workers, busy) if t.is_alive()]
        assert not hung and not errors, f"hung: {hung}; errors: {errors!r}"
        assert captures == {0: 1, 1: 1}
        for index, case in enumerate(cases):
            want = compute_hypergradient(case.problem, *to_cuda(inputs(case)),
                                         n_poison=case.n_poison, steps=case.steps, lr=case.lr)
            for call, got in enumerate(results[index]):
                for name in FIELDS:
                    assert_close_rel(getattr(got, name).cpu(), getattr(want, name).cpu(),
                                     1e-12, f"thread {index}, call {call}: {name}")

    def test_the_environment_switch_turns_capture_off(self, monkeypatch):
        monkeypatch.setenv("SKPOISON_CUDA_GRAPHS", "0")
        case = make_case("linear", 1, "single", "l2")
        hypergradient = GraphedHypergradient(case.problem, n_poison=case.n_poison,
                                             steps=case.steps, lr=case.lr)
        hypergradient(*to_cuda(inputs(case)))
        assert hypergradient.n_captures_ == 0


# A model that declares itself capturable but reads the host in its loss. Run in
# a child process: a failed capture may leave the CUDA context unusable for the
# tests after it.
FAILED_CAPTURE_SCRIPT = textwrap.dedent("""
    import warnings
    import torch
    from skpoison.hypergrad import GraphedHypergradient, reverse_hypergradient
    from skpoison.models import LinearProblem

    class HostReadingProblem(LinearProblem):
        graph_capturable = True          # wrongly: its loss reads the host

        def loss_and_grad(self, w, X, Y):
            if float(X.sum()) != float(X.sum()):      # a host read, never true
                raise AssertionError
            return super().loss_and_grad(w, X, Y)

    torch.manual_seed(0)
    problem = HostReadingProblem(4, 1)
    X, X_val = torch.rand(30, 4, dtype=torch.float64), torch.rand(10, 4, dtype=torch.float64)
    Y = (torch.rand(30, 1) < 0.5).double()
    Y_val = (torch.rand(10, 1) < 0.5).double()
    args = [t.cuda() for t in (problem.init_params(), torch.zeros(1, dtype=torch.float64),
                               X, Y, X_val, Y_val)]
    hypergradient = GraphedHypergradient(problem, n_poison=3, steps=20, lr=0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = hypergradient(*args)
        again = hypergradient(*args)            # no second capture attempt
    want = reverse_hypergradient(problem, *args, n_poison=3, steps=20, lr=0.5)
    failed = [w for w in caught if str(w.message).startswith("CUDA graph capture failed")]
    assert len(failed) == 1, [str(w.message) for w in caught]
    assert torch.cuda.current_stream() == torch.cuda.default_stream()   # restored
    assert hypergradient.n_captures_ == 0
    for result in (got, again):
        assert torch.equal(result.grad_X_poison, want.grad_X_poison)
        assert torch.equal(result.grad_log_lambda, want.grad_log_lambda)
    print("fallback ok")
""")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_failed_capture_warns_once_and_runs_eagerly():
    done = subprocess.run([sys.executable, "-c", FAILED_CAPTURE_SCRIPT], capture_output=True,
                          text=True, timeout=60,   # (see the threads' test)
                          env={**os.environ, "SKPOISON_CUDA_GRAPHS": "1"})
    assert done.returncode == 0, done.stderr
    assert "fallback ok" in done.stdout


@pytest.mark.parametrize(("value", "enabled"), [(None, True), ("1", True), ("yes", True),
                                                 ("true", True), ("0", False)])
def test_only_zero_turns_cuda_graphs_off(monkeypatch, value, enabled):
    # SKPOISON_CUDA_GRAPHS=0 is the documented switch; unset or any other value
    # leaves capture on.
    from skpoison.hypergrad._graph import ENVIRONMENT_SWITCH, cuda_graphs_enabled
    if value is None:
        monkeypatch.delenv(ENVIRONMENT_SWITCH, raising=False)
    else:
        monkeypatch.setenv(ENVIRONMENT_SWITCH, value)
    assert cuda_graphs_enabled() is enabled
