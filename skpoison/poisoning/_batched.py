"""``K`` runs of one :class:`OptimalPoisoner` as a single batched computation.

Repetitions of an experiment (different splits of the same data set) attack
models of the same shapes with the same settings. :func:`fit_batched` runs
them as one attack whose every tensor carries a leading dimension ``K``: each
outer step is one :func:`~skpoison.hypergrad.batched_hypergradient` call
instead of ``K`` separate ones. On a GPU that pays the kernel-launch cost of a
step once for the ``K`` problems. On a CPU the arithmetic is that of ``K``
sequential attacks: batching still pays for small data (fewer, larger
operations); once the ``K`` training sets no longer fit in the cache together,
or one alone is large, the engine runs the ``K`` problems one after another
inside each call, at the cost of separate attacks (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.base import clone

from .._messages import shown
from .._torch_utils import resolve_device, resolve_dtype
from .._warn import callers_line, on_behalf_of
from ..estimators._device_setup import set_up_on_device, sets_up_on_device
from ..estimators._settings import check_settings
from ._base import check_ratios
from ._cumulative import RatioState, run_cumulative_attack
from ._optimal import OptimalPoisoner
from ._resume import DERIVED, attack_settings

__all__ = ["fit_batched"]


def _same(values, what):
    first = values[0]
    for index, value in enumerate(values[1:], start=1):
        if value != first:
            raise ValueError(
                f"fit_batched needs the attacks to agree on the {what}; attack {index} "
                f"has {value!r}, attack 0 has {first!r}.")


def _batched_lr(rates, tensor):
    """One float when all the attacks share their inner rate, else a ``(K,)`` tensor."""
    if all(rate == rates[0] for rate in rates):
        return rates[0]
    return torch.tensor(rates, **tensor)


def _templates(poisoner, n_datasets, random_states):
    """``K`` unfitted clones, each with its ``random_state`` (``random_states``: a list,
    or None for the templates' own)."""
    many = isinstance(poisoner, (list, tuple))
    templates = list(poisoner) if many else [poisoner] * n_datasets
    for template in templates:
        if not isinstance(template, OptimalPoisoner):
            raise TypeError(f"fit_batched runs OptimalPoisoner attacks; got "
                            f"{type(template).__name__}.")
    if len(templates) != n_datasets:
        raise ValueError(f"poisoner is a list of {len(templates)} poisoners for {n_datasets} "
                         "data sets; give one poisoner, or one per data set.")
    if random_states is not None and len(random_states) != n_datasets:
        raise ValueError(f"random_states has {len(random_states)} entries for "
                         f"{n_datasets} data sets.")
    for template in {id(t): t for t in templates}.values():   # (each template once)
        # First, so that an invalid estimator is named, not compared; the
        # settings alone are checked here, since in an attack's plan a setting
        # at fault would be blamed on "data set 0" (each attack warns itself).
        template._validate_params()
        check_settings(template.estimator)
        check_ratios(template.ratios, warn=False)
    _check_same_params(templates)
    attacks = []
    for k, template in enumerate(templates):
        if template.resume_file is not None:
            raise ValueError("fit_batched does not resume attacks: set resume_file=None "
                             "(a batched run's attacks resume only together; rerun it, or "
                             "fit the attacks one by one with their own resume files).")
        if template.estimator.hypergrad != "rmd":
            raise ValueError(
                f"fit_batched computes reverse-mode hypergradients; the estimator has "
                f"hypergrad={template.estimator.hypergrad!r}: set hypergrad='rmd'.")
        # clone copies a RandomState (the template's stays as it was); a given
        # one is the caller's, used as fit would use it.
        attack = clone(template)
        if random_states is not None:
            attack.set_params(random_state=random_states[k])
            try:
                attack._validate_params()
            except ValueError as exc:   # (InvalidParameterError is a TypeError too: kept)
                raise type(exc)(f"random_states[{k}]: {exc}") from exc
        attacks.append(attack)
    return attacks


# Settings (attack_settings' names) the attacks of one batch may have of their own:
# they change only what each attack draws or starts from, which the batched run
# takes from each attack's own plan. Every other one must match, as the attack
# reads it (a device "auto" and the device it names agree): one model and one
# attack loop, whose derived settings (inner steps, λ bounds and steps, box,
# schedule, dtype, device) then match too. (What only the estimator's own fit
# reads, and verbose, attack_settings leaves out: each attack's victim_ keeps its own.)
_FREE_SETTINGS = {"fixed_lambda", "random_state", "label_strategy", "reuse_validation",
                  "estimator__inner_lr", "estimator__random_state"}
# Compared once the attacks are planned, as the attack reads it (the same box
# may be written (0, 1) or as arrays of 0s and 1s).
_PLANNED_SETTINGS = {"feature_range"}


def _equal(a, b):
    """Parameter equality: a list equals the tuple of its items, arrays compare by value.

    Array-likes (NumPy arrays, tensors, pandas objects: anything with
    ``__array__``) compare by value too: their ``==`` has no truth value.
    """
    sequence = (list, tuple)
    if isinstance(a, sequence) and isinstance(b, sequence):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if hasattr(a, "__array__") or hasattr(b, "__array__"):
        try:
            return np.array_equal(np.asarray(a), np.asarray(b))
        except (TypeError, ValueError, RuntimeError):   # ragged, or not readable as one
            return False
    try:
        return bool(a == b)
    except (TypeError, ValueError, RuntimeError):   # no truth value: not the same
        return False


def _check_same_params(templates):
    """The same model and attack settings, up to the settings free per attack."""
    classes = [type(t.estimator) for t in templates]
    for index, cls in enumerate(classes[1:], start=1):
        if cls is not classes[0]:
            raise ValueError(f"fit_batched needs the attacks to agree on the estimator class; "
                             f"attack {index} has {cls.__qualname__}, attack 0 has "
                             f"{classes[0].__qualname__}.")
    # Each template once, at its first index (one poisoner is K times the same object).
    others = {}
    for index, template in enumerate(templates):
        if template is not templates[0]:
            others.setdefault(id(template), (index, template))
    first = attack_settings(templates[0])
    for index, template in others.values():
        settings = attack_settings(template)
        # (A setting one of them does not read is not compared: the defender's steps
        # against a fixed λ, where hyperparams tells them apart, and lambda_init
        # beside a fixed_lambda, which each attack's own λ_0 replaces.)
        for name in sorted((set(first) & set(settings)) - _FREE_SETTINGS - _PLANNED_SETTINGS):
            if not _equal(settings[name], first[name]):
                raise ValueError(
                    f"fit_batched needs the attacks to agree on {_described(name)}; attack "
                    f"{index} has {settings[name]!r}, attack 0 has {first[name]!r}.")


def _described(name):
    """What the setting ``name`` of :func:`attack_settings` is, for an error message."""
    if name in DERIVED:
        return DERIVED[name]
    owner, _, parameter = name.rpartition("__")
    return (f"the estimator parameter {parameter!r}" if owner
            else f"the OptimalPoisoner parameter {name!r}")


#: What the batched loop takes from attack 0's plan for all the attacks: its
#: configuration's shared fields (the others are stacked per attack).
_SHARED_CONFIG = ("steps", "method", "lambda_low", "lambda_high", "outer_steps", "poison_lr",
                  "normalize", "checkpoint_every")
#: ... and those the loop reads only when the defender learns λ.
_DEFENDER_CONFIG = ("lambda_lr", "lambda_step")


def _check_same_plans(plans):
    """What the batched loop shares, as planned: a last check that the attacks agree
    (their settings were compared before; a group that passed them agrees here)."""
    for name, value in (
            *((f"planned {field}", lambda p, f=field: getattr(p.config, f))
              for field in _SHARED_CONFIG),
            *((f"planned {field}", lambda p, f=field: getattr(p.config, f) if p.learn else None)
              for field in _DEFENDER_CONFIG),
            ("planned model", lambda p: type(p.config.problem)),
            ("planned re-drawn weights", lambda p: p.config.draw_w0 is None),
            ("planned λ learning", lambda p: p.learn),
            ("planned dtype and device", lambda p: (p.X.dtype, p.X.device)),
            ("planned batches", lambda p: (p.schedule.targets, p.schedule.batches))):
        values = [value(plan) for plan in plans]
        for index, other in enumerate(values[1:], start=1):
            if not _equal(other, values[0]):
                raise ValueError(f"fit_batched needs the attacks to agree on the {name}; "
                                 f"attack {index} has {other!r}, attack 0 has {values[0]!r}.")


def _check_same_shapes(attacks, plans):
    _same([tuple(p.X.shape) for p in plans], "training-set shape")
    _same([tuple(p.config.X_val.shape) for p in plans], "validation-set shape")
    _same([a.classes_.size for a in attacks], "number of classes")
    low, high = attacks[0]._box
    for index, attack in enumerate(attacks[1:], start=1):
        if not (np.array_equal(attack._box[0], low) and np.array_equal(attack._box[1], high)):
            raise ValueError(
                f"fit_batched needs the attacks to agree on the feature box; attack {index} "
                f"has feature_range={shown(attack.feature_range)}, attack 0 has "
                f"{shown(attacks[0].feature_range)}.")


def prepare_all(attacks, datasets, n_jobs=None):
    """The ``K`` attacks' checked inputs and plans: a list of ``(plan, (X, y))``.

    ``n_jobs`` threads check each attack's inputs and plan it (see
    :func:`fit_batched`). On a GPU, between the two, the ``K`` training sets'
    scale checks and the inner rates of ``inner_lr="auto"`` are computed
    together on the device (:func:`set_up_on_device`), where each attack
    would make them one at a time on the host, and the copy of the sets they
    read there becomes the plans' designs (each set crosses to the device once).

    An error is the one the attacks' own fits, one after another, would meet
    first: that of the first attack whose inputs or plan fail (named by its
    data set), whatever the threads' timing.
    """
    device = resolve_device(attacks[0]._attack_device())    # (the attacks share it)
    if not sets_up_on_device(device):
        return _raise_first(*_in_order(_prepared, enumerate(zip(attacks, datasets)), n_jobs))
    checked, failure = _in_order(lambda index, pair: _checked(*pair, index, False),
                                 enumerate(zip(attacks, datasets)), n_jobs)
    ready = len(attacks) if failure is None else failure[0]   # (the attacks before it)
    planned = []
    if ready:
        norms, designs = _set_up_together(attacks[:ready], checked[:ready], device)

        def plan(index, item):
            attack, inputs, norm, design = item
            return _planned(attack, inputs, index, norm, False, design)
        planned = _raise_first(*_in_order(
            plan, enumerate(zip(attacks, checked[:ready], norms, designs)), n_jobs))
    return _raise_first(planned, failure)


def _in_order(task, items, n_jobs):
    """``[task(index, item) for index, item in items]`` in ``n_jobs`` threads, and the
    first failure in that order, ``(index, exception)``, or None.

    A task after a failed one is skipped (its result None) where it has not
    started: run one after another, they stop where a loop of fits would.
    The threads share the attacks, which the tasks set up: a backend of
    processes (``parallel_config(backend="loky")``) would set up copies. Their
    warnings name the caller's line, as the fits' own would.
    """
    errors, lock = {}, threading.Lock()
    line = callers_line()   # (a thread's warnings name it, as each attack's fit would)

    def one(index, item):
        with lock:
            if errors and index > min(errors):
                return None
        try:
            with on_behalf_of(line):
                return task(index, item)
        except Exception as exc:  # noqa: BLE001 - raised by _raise_first, in order
            with lock:
                errors[index] = exc
            return None

    results = Parallel(n_jobs=n_jobs, require="sharedmem")(
        delayed(one)(index, item) for index, item in items)
    return results, (min(errors.items()) if errors else None)


def _raise_first(results, failure):
    """``results``, unless a task failed: then its exception."""
    if failure is not None:
        raise failure[1]
    return results


def _prepared(index, pair):
    """One attack's plan and its training set, checked and planned on the host."""
    attack, dataset = pair
    return _planned(attack, _checked(attack, dataset, index, True), index, None, True, None)


def _checked(attack, dataset, index, check_scale):
    """One attack's checked inputs: ``(X, y, y_enc, X_val, y_val_enc)``."""
    if len(dataset) != 4:
        raise ValueError(f"data set {index} must be a tuple (X, y, X_val, y_val); "
                         f"got {len(dataset)} items.")
    with _naming(index):
        return attack._check_inputs(*dataset, check_scale=check_scale)


def _planned(attack, inputs, index, squared_norm, check_scales, design):
    """One attack's plan and its training set: ``(plan, (X, y))``."""
    X, y, y_enc, X_val, y_val_enc = inputs
    with _naming(index):
        return attack._plan_attack(X, y_enc, X_val, y_val_enc, squared_norm=squared_norm,
                                   check_scales=check_scales, X_on_device=design), (X, y)


def _set_up_together(attacks, checked, device):
    """The checks :func:`_checked` and :func:`_planned` left out, for the ``K``
    data sets at once on the attacks' ``device``; returns ``[X, 1]``'s squared
    spectral norm for each attack whose victim derives its ``inner_lr="auto"``
    from it (the linear models), else None, and each training set on the device
    in the attacks' dtype (:class:`DeviceSetup`)."""
    Xs = [inputs[0] for inputs in checked]
    _same([tuple(X.shape) for X in Xs], "training-set shape")    # (stacked below)
    estimators = [attack.estimator for attack in attacks]
    rated = [estimator._auto_rate_reads_spectral_norm
             and isinstance(estimator.inner_lr, str) and estimator.inner_lr == "auto"
             for estimator in estimators]
    return set_up_on_device(Xs, [inputs[3] for inputs in checked], device, rated=rated,
                            inner_steps=estimators[0].inner_steps,
                            names=[f"data set {k}" for k in range(len(attacks))],
                            dtype=resolve_dtype(attacks[0]._attack_dtype()))


@contextmanager
def _naming(index):
    """Errors of data set ``index`` say which of the ``K`` it is."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        message = f"data set {index}: {exc}"
        try:
            named = type(exc)(message)
        except Exception:   # (a class whose constructor takes more than a message)
            named = (ValueError if isinstance(exc, ValueError) else TypeError)(message)
        raise named from exc


def fit_batched(poisoner, datasets, *, random_states=None, n_jobs=None):
    """Run ``K`` optimal attacks as one batched computation; return them fitted.

    Attack ``k`` runs exactly as
    ``clone(poisoner).set_params(random_state=random_states[k]).fit(X, y,
    X_val=X_val, y_val=y_val)`` on data set ``k`` would (same schedule, same
    starting points, same results up to floating-point rounding), but the
    ``K`` attacks advance together: every outer step computes the ``K``
    hypergradients in one batched reverse pass
    (:func:`~skpoison.hypergrad.batched_hypergradient`).

    Parameters
    ----------
    poisoner : OptimalPoisoner or sequence of K OptimalPoisoner
        The template (cloned, not modified), or one per data set. Several
        templates may differ in what each attack draws or starts from
        (``fixed_lambda``, ``random_state``, ``label_strategy``,
        ``reuse_validation``, and their estimator's ``inner_lr`` and
        ``random_state``), in ``verbose`` (attack 0's shows the progress) and
        in what the attack does not read (their estimator's ``verbose`` and
        what only its own ``fit`` uses: ``outer_steps``, ``final_steps``,
        ``tol``, ``n_iter_no_change``, ``validation_fraction``). Every other
        setting must match as the attack reads it: ``device="auto"`` and the
        device it names agree, as do ``dtype=None`` and the estimator's dtype
        it stands for, ``lambda_lr`` / ``lambda_step`` and the estimator's
        ``outer_lr`` / ``outer_optimizer`` they default to (neither read
        against a fixed λ), ``ratios`` in any order, and ``feature_range``
        written as scalars or as arrays of the same box.
        The estimators must use
        ``hypergrad="rmd"``, the only batched method; their ``checkpoint_every``
        bounds the memory of the batched reverse pass as it does a single one's.
    datasets : sequence of (X, y, X_val, y_val)
        The ``K`` training and trusted validation sets, all of the same shapes
        (training and validation sizes, features, number of classes). With
        ``inner_lr="auto"`` every attack keeps its own inner learning rate.
    random_states : sequence or None, default=None
        One ``random_state`` per data set; ``None`` keeps the templates' (a
        ``RandomState`` instance among them is copied by ``clone``, so every
        attack starts from its state and the template's is not advanced). A
        ``RandomState`` given here is drawn from as the fits one after another
        would: attack ``k`` after attacks ``0 … k-1``.
    n_jobs : int or None, default=None
        Threads that prepare the ``K`` attacks before the batched loop (input
        checks, schedules, plans; on the CPU also the scale checks and the
        inner rates of ``inner_lr="auto"``, which on a GPU run for the ``K``
        data sets together on the device), with joblib's meaning (``None``:
        one, or the ``n_jobs`` of joblib's ``parallel_config``; ``-1``: all
        cores); threads whatever backend ``parallel_config`` names (they set
        up the attacks themselves). Little is left for them on a GPU (an H100's
        host, 2026-11-28: ten MNIST-sized set-ups in 99 ms in ten threads
        against 107 ms in one; see ``benchmarks/README.md``), and on a CPU
        they compete with the products for the cores. The results do not
        depend on it (with ``RandomState`` instances in ``random_states`` the
        attacks are prepared one after another), nor does an error: that of
        the first data set whose checks or plan fail, as the attacks' own
        fits one after another would meet it.

    Returns
    -------
    list of OptimalPoisoner
        Fitted clones, one per data set, with ``results_`` as after
        :meth:`OptimalPoisoner.fit`.

    Raises
    ------
    TypeError
        If a poisoner is not an :class:`OptimalPoisoner`.
    ValueError
        If the data sets differ in shape, the attacks in a shared setting,
        ``random_states`` has the wrong length, an estimator's ``hypergrad``
        is not ``"rmd"``, or a poisoner has a ``resume_file``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skpoison import HypergradRegularizedLR, OptimalPoisoner
    >>> from skpoison.poisoning import fit_batched
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> X = X / 16
    >>> datasets = [(X[i:i + 100], y[i:i + 100], X[300:340], y[300:340]) for i in (0, 100)]
    >>> attack = OptimalPoisoner(HypergradRegularizedLR(inner_steps=30), ratios=(0, 0.1),
    ...                          outer_steps=3)
    >>> fitted = fit_batched(attack, datasets, random_states=[0, 1])
    >>> [int(a.results_[-1].poison_mask.sum()) for a in fitted]
    [10, 10]
    """
    if isinstance(datasets, (str, bytes)) or not np.iterable(datasets):
        raise TypeError("datasets must be a sequence of (X, y, X_val, y_val) tuples, one "
                        f"per attack; got {type(datasets).__name__}.")
    datasets = list(datasets)
    if not datasets:
        raise ValueError("fit_batched needs at least one data set.")
    if random_states is not None:
        if isinstance(random_states, (str, bytes)) or not np.iterable(random_states):
            raise TypeError("random_states must be a sequence of one random_state per data "
                            f"set, or None; got {random_states!r}.")
        random_states = list(random_states)   # (read twice)
    attacks = _templates(poisoner, len(datasets), random_states)
    if any(isinstance(seed, np.random.RandomState) for seed in random_states or ()):
        n_jobs = 1   # the caller's generators: attack k draws after attacks 0..k-1, as fit
    prepared = prepare_all(attacks, datasets, n_jobs)
    plans = [plan for plan, _ in prepared]
    inputs = [data for _, data in prepared]
    _check_same_shapes(attacks, plans)
    _check_same_plans(plans)

    first = plans[0]
    tensor = dict(device=first.X.device, dtype=first.X.dtype)
    configs = [p.config for p in plans]
    draws = [c.draw_w0 for c in configs]
    config = first.config._replace(
        w0=torch.stack([c.w0 for c in configs]),
        lr=_batched_lr([c.lr for c in configs], tensor),
        X_val=torch.stack([c.X_val for c in configs]),
        Y_val=torch.stack([c.Y_val for c in configs]),
        # K draws, then one move to the device (per outer step): a copy from the host
        # waits for the device, once instead of K times.
        draw_w0=None if draws[0] is None else (
            lambda: torch.stack([d.on_host() for d in draws]).to(**tensor)),
        batched=True,
    )
    schedule = first.schedule
    if schedule.replace_index is not None:
        schedule = schedule._replace(
            replace_index=np.stack([p.schedule.replace_index for p in plans]))
    poison, states, losses, lambdas = run_cumulative_attack(
        config, schedule, torch.stack([p.X for p in plans]),
        torch.stack([p.Y for p in plans]), torch.stack([p.X_poison for p in plans]),
        torch.stack([p.Y_poison for p in plans]), torch.stack([p.lambda0 for p in plans]),
        learn=first.learn, mode=attacks[0].mode, verbose=attacks[0].verbose,
    )
    # One transfer to the host, then each attack takes its slice.
    poison, losses, lambdas = poison.cpu(), losses.cpu(), lambdas.cpu()
    states = [RatioState(s.log_lambda.cpu(), s.val_loss.cpu(), s.path_length)
              for s in states]
    for k, (attack, plan, (X, y)) in enumerate(zip(attacks, plans, inputs)):
        mine = [RatioState(s.log_lambda[k], s.val_loss[k], s.path_length) for s in states]
        attack.results_ = attack._collect(plan, X, y, poison[k], mine, losses[:, k],
                                          lambdas[:, k])
    return attacks
