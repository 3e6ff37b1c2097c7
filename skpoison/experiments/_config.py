"""Settings of the experiments: one frozen dataclass and its size presets (private).

Every number here is the project's own choice (the paper's tables were lost
from our copy of it); DESIGN.md section 6 gives the proportions we keep.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Optional

import numpy as np

from ..datasets import default_sizes
from ..datasets._base import DEFAULT_CLASSES, canonical_name
from ..datasets._npz import data_label, is_data_file, npz_sizes, npz_top_k
from ..estimators._log_lambda import check_log_lambda
from ._canonical import as_count, as_float, drop_defaults, dtype_name, step_size
from ._config_checks import (SEQUENCES, check_scales, check_sequences, checked_l1_step,
                             checked_ratios, class_label)
from ._pools import load_pool
from ._registry import ATTACK_STEP_CHOICES, SIZES

__all__ = ["SweepConfig", "make_config", "SIZES", "LARGE_LAMBDA", "DEFAULT_TOP_K"]

#: The "large" constant log-strength λ (alpha = exp(λ)) of the fixed-λ
#: baseline, by (model, penalty); measured on clean MNIST 0 vs 8 (T = 200).
#: LR, L2: λ = 0 (alpha = 1), the top of the estimators' learnable box
#: (-12, 0): it doubles the clean test error (about 1.1 % -> 2.6 %) yet keeps
#: the model useful. LR, L1: alpha = 1 zeroes every weight, so λ = -2
#: (alpha ~ 0.14), about the same clean cost. Networks collapse to a constant
#: (50 % error) well before that, because all-zero weights attract strongly
#: shrunk networks: L2 λ = -2 (0.9 % -> 1.5 %; λ = -1 collapses on digits)
#: and L1 λ = -5 (0.7 % -> 1.4 %; λ = -3 collapses), one λ for all layers.
LARGE_LAMBDA = {("lr", "l2"): 0.0, ("lr", "l1"): -2.0,
                ("mlp", "l2"): -2.0, ("mlp", "l1"): -5.0}

#: k of Kuncheva's consistency index (top-k features by |w|), by data set.
DEFAULT_TOP_K = {"digits": (5, 10, 20), "mnist": (10, 20, 50),
                 "fashion-mnist": (10, 20, 50), "cifar10": (20, 50, 100),
                 "synthetic": (1,)}

#: The paper's networks (DESIGN.md section 6); digits gets a smaller one.
DEFAULT_HIDDEN = {"digits": (16, 8), "mnist": (32, 8), "fashion-mnist": (32, 8),
                  "cifar10": (64, 32), "synthetic": (8,)}

_PRESETS = {
    # per model ("lr", "mlp"): inner steps T, attack steps per batch, batch
    # size as a share of the training set; then repetitions and the CV grid.
    "full": dict(repetitions=10, inner_steps={"lr": 200, "mlp": 200},
                 attack_steps={"lr": 30, "mlp": 30}, batch_share={"lr": 0.02, "mlp": 0.02},
                 cv_points=13, cv_folds=5),
    "quick": dict(repetitions=3, inner_steps={"lr": 100, "mlp": 100},
                  attack_steps={"lr": 15, "mlp": 15}, batch_share={"lr": 0.02, "mlp": 0.02},
                  cv_points=7, cv_folds=5),
    "tiny": dict(repetitions=2, inner_steps={"lr": 10, "mlp": 5},
                 attack_steps={"lr": 2, "mlp": 2}, batch_share={"lr": 0.1, "mlp": 0.1},
                 cv_points=3, cv_folds=2),
}
_TINY_SPLIT = dict(n_train=50, n_val=10, n_test=40)


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """Everything that determines the numbers of an attack sweep.

    Build it with :func:`make_config`, which fills every field in from a size
    preset; the fields' own defaults are not a preset.

    Execution settings (``n_jobs``, joblib backend, output folder, data home)
    are not part of it: they do not change the results, so an interrupted
    sweep may resume with other ones. ``device`` is kept here but left out of
    :meth:`identity` for the same reason.

    Parameters
    ----------
    dataset : str
        A name accepted by :func:`skpoison.datasets.load_dataset`.
    classes : tuple of int or None
        Class pair; ``None`` is the data set's default pair.
    model : {"lr", "mlp"}
    penalty : {"l2", "l1"}
    l1_step : {"proximal"} or None
        ``"proximal"``: the victim takes proximal L1 steps
        (``HypergradRegularizedLR`` or ``HypergradMLP`` with
        ``l1_step="proximal"``; L1 only);
        ``None``: the estimator's default, the paper's subgradient steps.
    strategies : tuple of str
        Names from :data:`skpoison.experiments.STRATEGIES`.
    ratios : tuple of float
        Poisoning ratios (share of the training set); 0 is the clean model.
        :func:`make_config` sorts them, drops duplicates and always adds 0
        (the reference of every "increase under attack").
    repetitions : int
        Random train / validation / test draws (seeds ``seed + r``).
    n_train, n_val, n_test : int
    batch_size : int
        Poisoning points optimized together (cumulative batches).
    inner_steps : int
        Gradient-descent steps T of the inner problem: of the attack, of the
        λ the defender learns and of the CV baseline; also of the victim
        unless ``victim_steps`` is set.
    attack_steps : int
        Outer (hyper)iterations of the attack per batch; also the number of
        hypergradient steps that learn λ on the clean set (ratio 0).
    poison_lr, lambda_lr : float or None
        Step sizes of the attack; ``None`` keeps the poisoner's defaults.
    victim_steps : int or None
        Gradient-descent steps of the victim, the model trained on each
        poisoned set with its ratio's λ and scored (the paper tests its
        attacks with training settings of their own, its Table V); ``None``:
        ``inner_steps``, the attack's own.
    lambda_step : {"adam", "gd", "sign"} or None
        The defender's step on λ during the attack (``OptimalPoisoner``'s
        ``lambda_step``; ``"sign"`` is our reading of the paper's λ step);
        ``None``: the estimator's Adam.
    normalize : {"point", "batch"} or None
        The attacker's step normalization (``OptimalPoisoner``'s
        ``normalize``); ``None``: its default, ``"point"``.
    hidden_layer_sizes : tuple of int
        Network of ``model="mlp"``.
    large_lambda : float
        λ of the "large" strategy.
    cv_grid : tuple of float
        λ values searched by the "cv" strategy (k-fold on the clean set).
    cv_folds : int
    top_k : tuple of int
        k values of Kuncheva's consistency index (linear models).
    seed : int
    device, dtype : str
    preset : {"tiny", "quick", "full"} or None
        The size preset :func:`make_config` filled the config in from (None:
        not known). Like ``device``, no part of :meth:`identity` nor of
        equality: it changes no number. It says which preset CV grid names
        the cells of the strategies that do not read ``cv_grid``
        (:func:`~skpoison.experiments.run_attack_sweep`).

    Examples
    --------
    :func:`make_config` fills one in from a size preset:

    >>> import dataclasses
    >>> from skpoison.experiments import make_config
    >>> config = make_config("digits", size="tiny", ratios=(0.2, 0.1))
    >>> config.ratios, config.repetitions, config.inner_steps
    ((0.0, 0.1, 0.2), 2, 10)
    >>> dataclasses.replace(config, device="cuda").identity() == config.identity()
    True
    """

    dataset: str = "digits"
    classes: Optional[tuple] = None
    model: str = "lr"
    penalty: str = "l2"
    l1_step: Optional[str] = None
    strategies: tuple = ("no_reg", "large", "cv", "learned")
    ratios: tuple = (0.0, 0.04, 0.08, 0.12, 0.16, 0.2)
    repetitions: int = 10
    n_train: int = 200
    n_val: int = 40
    n_test: int = 100
    batch_size: int = 8
    inner_steps: int = 200
    attack_steps: int = 30
    poison_lr: Optional[float] = None
    lambda_lr: Optional[float] = None
    victim_steps: Optional[int] = None
    lambda_step: Optional[str] = None
    normalize: Optional[str] = None
    hidden_layer_sizes: tuple = (32, 8)
    large_lambda: float = 0.0
    cv_grid: tuple = tuple(float(v) for v in np.linspace(-12.0, 0.0, 13))
    cv_folds: int = 5
    top_k: tuple = (5, 10, 20)
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float64"
    preset: Optional[str] = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        if 0.0 not in {float(r) for r in self.ratios}:
            raise ValueError(f"ratios={tuple(self.ratios)} must include 0: the clean model is "
                             "the reference of the consistency index and of every increase "
                             "under attack (make_config adds it).")
        ratios = [float(r) for r in self.ratios]
        if any(b <= a for a, b in zip(ratios, ratios[1:])):
            raise ValueError(f"ratios={tuple(self.ratios)} must be increasing and distinct: "
                             "the attack is cumulative, ratio by ratio (make_config sorts "
                             "them).")

    def check_batches_fit(self, n_val):
        """Refuse batches of poisoning points larger than a trusted set of ``n_val``.

        Every batch is cloned from the trusted set: found before the sweep,
        with the command line's names, not by the first cell's attack.
        """
        from ..poisoning._schedule import largest_batch, poison_counts

        largest = largest_batch(poison_counts(self.ratios, self.n_train), self.batch_size)
        if largest > n_val:
            raise ValueError(
                f"Batches of {largest} poisoning points (batch_size={self.batch_size}) are "
                f"larger than the trusted set (n_val={n_val}) they are cloned from; "
                "lower batch_size (--batch-size) or raise n_val (--n-val).")

    def identity(self):
        """The settings that determine the results, as a JSON-able dict.

        A data file of your own counts by its name; its content, not its
        folder, names the cells (see :func:`~skpoison.experiments.run_attack_sweep`).
        """
        fields = dataclasses.asdict(self)
        fields.pop("device")
        fields.pop("preset")
        fields["dataset"] = data_label(self.dataset)
        for name in _LATER_FIELDS:
            if fields[name] is None:
                del fields[name]
        if self.model == "mlp" and self.dtype == "float32":
            # (float32 networks start from a float64 draw since 029c8d1, another
            # network than before: not the cells of earlier float32 MLP sweeps)
            fields["init_draw"] = "float64"
        return fields

    def key(self, **extra):
        """Short hash of :meth:`identity` (plus ``extra``) naming result cells."""
        payload = json.dumps({**self.identity(), **extra}, sort_keys=True, default=str)
        return hashlib.sha1(payload.encode()).hexdigest()[:10]


#: Fields added after sweeps had been run: left out of :meth:`SweepConfig.identity`
#: while None (their default), so that earlier results keep their keys and resume.
_LATER_FIELDS = ("victim_steps", "lambda_step", "normalize", "l1_step")


def _auto_batch_size(n_train, share):
    # DESIGN.md: 20 points per batch for 1000 training points, i.e. 2 %; we
    # keep a share of the training set and never go below one point.
    return max(1, int(round(share * n_train)))


def make_config(dataset="digits", *, size="full", model="lr", penalty="l2", l1_step=None,
                **overrides):
    """Build a :class:`SweepConfig` from a size preset and overrides.

    Parameters
    ----------
    dataset : str, default="digits"
        A registered name, or the path of an ``.npz`` file of your own
        (:func:`skpoison.datasets.load_dataset`; its sizes:
        :func:`skpoison.datasets.default_sizes`, at most those of ``"tiny"``
        at that size; its network (16, 8); its Kuncheva k a tenth, a fifth
        and half of its features).
    size : {"tiny", "quick", "full"}, default="full"
        ``"full"``: DESIGN.md section 6 (10 repetitions, default split sizes,
        batches of 2 % of the training set, T = 200, 30 attack steps,
        13-point CV grid). ``"quick"``: 3 repetitions, T = 100, 15 attack
        steps, 7-point grid. ``"tiny"``: seconds, to check that the code runs (50/10/40
        split, ratios 0, 10, 20 %, batches of 5, 2 attack steps).
    model : {"lr", "mlp"}
    penalty : {"l2", "l1"}
    l1_step : {"subgradient", "proximal"} or None, default=None
        The L1 inner step of the victim (either model): ``"proximal"``
        needs ``penalty="l1"`` (refused otherwise);
        ``"subgradient"`` is the default, None (the same cells).
    **overrides
        Any :class:`SweepConfig` field; ``None`` values are ignored.

    Returns
    -------
    SweepConfig

    Notes
    -----
    Settings that give the same numbers are written one way, so that they
    name the same cells (:meth:`SweepConfig.key`): numbers as floats, as the
    defaults and the command line write them (``large_lambda=0`` is ``0.0``);
    ``ratios`` sorted, each value once, with 0 (the attack is cumulative: it
    reaches the ratios in increasing order, whatever the order given, as
    :class:`~skpoison.poisoning.OptimalPoisoner` does; no warning, since the
    results do not depend on it), a float32 one by its shortest decimal
    (``np.float32(0.1)`` as ``0.1``); ``cv_grid`` sorted, each value once (the
    CV search gives ties to the largest λ, whatever the order); ``classes``
    sorted (the default pair: None); an option at the value its None stands for as None
    (``normalize="point"``, ``victim_steps=inner_steps``); the network of
    ``model="lr"`` and the Kuncheva k of ``model="mlp"``, which they do not
    use, as the preset's; ``dtype`` by its name.

    Examples
    --------
    >>> from skpoison.experiments import make_config
    >>> cfg = make_config("digits", size="quick")
    >>> cfg.n_train, cfg.n_val, cfg.batch_size, cfg.repetitions
    (200, 40, 4, 3)
    >>> make_config("mnist", size="full").batch_size
    20
    """
    if size not in SIZES:
        raise ValueError(f"size={size!r} must be one of {SIZES}.")
    if model not in ("lr", "mlp"):
        raise ValueError(f"model={model!r} must be 'lr' or 'mlp'.")
    if penalty not in ("l2", "l1"):
        raise ValueError(f"penalty={penalty!r} must be 'l2' or 'l1'.")
    if overrides.get("preset") not in (None, size):
        raise ValueError(f"preset={overrides['preset']!r} is the size the config is made "
                         f"from, size={size!r} here: give it as size.")
    overrides.pop("preset", None)
    overrides["l1_step"] = checked_l1_step(l1_step, penalty)
    check_sequences(overrides)
    if overrides.get("classes") is not None:   # (read once, as ints: a file's loader reads them)
        overrides["classes"] = tuple(class_label(c) for c in overrides["classes"])
    name = canonical_name(dataset)
    preset = _PRESETS[size]
    sizes, top_k = _sizes_and_top_k(name, size, overrides.get("classes"))
    overrides = {k: v for k, v in overrides.items() if v is not None}
    for key in ("n_train", "n_val", "n_test"):
        sizes[key] = as_count(key, overrides.pop(key, sizes[key]), 1)
    n_grid = preset["cv_points"]
    hidden = (4,) if size == "tiny" else DEFAULT_HIDDEN.get(name, (16, 8))
    values = dict(
        dataset=name, model=model, penalty=penalty,
        repetitions=preset["repetitions"],
        inner_steps=preset["inner_steps"][model],
        attack_steps=preset["attack_steps"][model],
        batch_size=_auto_batch_size(sizes["n_train"], preset["batch_share"][model]),
        hidden_layer_sizes=hidden,
        large_lambda=LARGE_LAMBDA[(model, penalty)],
        cv_grid=tuple(float(v) for v in np.linspace(-12.0, 0.0, n_grid)),
        cv_folds=preset["cv_folds"],
        top_k=top_k,
        **sizes,
    )
    if size == "tiny":
        values["ratios"] = (0.0, 0.1, 0.2)
    if model == "mlp":
        # The paper drops the CV baseline for networks (its grid is too costly).
        values["strategies"] = ("no_reg", "large", "learned", "learned_per_layer")
    values.update(overrides)
    values.setdefault("ratios", SweepConfig.ratios)
    for key in SEQUENCES:
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    if values.get("classes") is not None:
        # Their order changes no number: the loaders keep the rows in file order
        # and the original labels, which the estimators encode sorted.
        values["classes"] = tuple(sorted(class_label(c) for c in values["classes"]))
        if values["classes"] == DEFAULT_CLASSES.get(name):   # the same sweep, the same cells
            values["classes"] = None
    for key in ("top_k", "hidden_layer_sizes"):
        values[key] = tuple(as_count(key, v, 1) for v in values[key])
    # Kuncheva's k: one column each, whatever their order; only linear models have them.
    values["top_k"] = tuple(sorted(set(values["top_k"]))) if model == "lr" else top_k
    if model == "lr":   # (no network)
        values["hidden_layer_sizes"] = hidden
    if "dtype" in values:
        values["dtype"] = dtype_name(values["dtype"])
    values["ratios"] = checked_ratios(values["ratios"], sizes["n_train"])
    strategies = values.get("strategies", ())
    if len(set(strategies)) < len(strategies):
        twice = sorted({s for s in strategies if strategies.count(s) > 1})
        raise ValueError(f"strategies {twice} are listed more than once (--strategies); "
                         "name each once.")
    for key, choices in ATTACK_STEP_CHOICES.items():
        if key in values and values[key] not in choices:
            raise ValueError(f"{key}={values[key]!r} must be one of {choices}.")
    for key in ("poison_lr", "lambda_lr"):
        if key in values:
            values[key] = step_size(key, values[key])
    _check_fixed_lambdas(values)
    # attack_steps = 0 is label flipping; CV needs two folds.
    for key, least in (("repetitions", 1), ("inner_steps", 1), ("attack_steps", 0),
                       ("batch_size", 1), ("cv_folds", 2), ("seed", 0),
                       ("victim_steps", 1)):
        if key in values:
            values[key] = as_count(key, values[key], least)
    drop_defaults(values, model)
    # Repetition r draws with seed + r, which numpy takes below 2**32.
    last_seed = values.get("seed", SweepConfig.seed) + values["repetitions"] - 1
    if last_seed >= 2**32:
        raise ValueError(f"seed={values.get('seed')} + repetitions - 1 = {last_seed} must be "
                         "below 2**32 (repetition r draws its split with seed + r).")
    return SweepConfig(**values, preset=size)


def _sizes_and_top_k(name, size, classes):
    """The split sizes and Kuncheva's k of data set ``name`` at ``size``.

    A registered data set's own (``"tiny"``: 50 / 10 / 40 and k 3, 5); a
    file of your own's from its class-balanced part and its features (at
    ``"tiny"``, at most 50 / 10 / 40).
    """
    if is_data_file(name):
        own = load_pool(name, classes)      # (read once: the sweep reads the same pool)
        check_scales(name, own.data)
        sizes = npz_sizes(own)
        if size == "tiny":
            sizes = {key: min(n, _TINY_SPLIT[key]) for key, n in sizes.items()}
        return sizes, npz_top_k(own)
    if size == "tiny":
        return dict(_TINY_SPLIT), (3, 5)
    return default_sizes(name), DEFAULT_TOP_K[name]


def _check_fixed_lambdas(values):
    """``large_lambda`` one log λ, ``cv_grid`` a non-empty tuple of them (in place, as
    :func:`as_float`).

    Checked here, by their own names: the poisoner and the CV search would
    refuse them later, per cell, as ``fixed_lambda`` or ``grid``.
    """
    dtype = values.get("dtype", SweepConfig.dtype)
    if "large_lambda" in values:
        large = check_log_lambda(values["large_lambda"], "large_lambda", dtype=dtype)
        if large.ndim:
            raise ValueError(f"large_lambda must be one number (log λ); got {large.tolist()}.")
        values["large_lambda"] = as_float(values["large_lambda"], large)
    if "cv_grid" in values:
        if np.size(values["cv_grid"]) == 0 and "cv" not in values.get(
                "strategies", SweepConfig.strategies):
            values["cv_grid"] = ()        # (unused without the cv strategy)
        else:
            grid = np.atleast_1d(check_log_lambda(values["cv_grid"], "cv_grid", dtype=dtype))
            given = values["cv_grid"]
            given = list(given) if np.ndim(given) == 1 else [given]
            # The search's choice does not depend on the grid's order or repeats (ties
            # go to the largest λ): sorted, once each.
            values["cv_grid"] = tuple(sorted({as_float(v, g) for v, g in zip(given, grid)}))
