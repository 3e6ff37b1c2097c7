"""What the experiments offer, by name: sizes, strategies, figures (private).

Plain data without numerical imports, so that the command line builds its
parser (``skpoison --help``, ``skpoison reproduce list``) without loading
torch or scikit-learn; the modules that run the experiments import it.

Examples
--------
The figures that :func:`~skpoison.experiments.reproduce` (or ``fig1`` ...
``fig14``) computes, and what each one shows (as ``skpoison reproduce list``
prints them):

>>> import textwrap
>>> from skpoison.experiments import FIGURES
>>> for name, spec in FIGURES.items():
...     print(textwrap.fill(f"{name}: {spec.description}", 80, subsequent_indent="    "))
fig1: 2-D example: validation error and optimal λ as functions of one poisoning
    point's position
fig2: LR, L2: test error vs poisoning ratio per λ strategy
fig3: LR, L2: learned λ and ||w||²/p vs ratio
fig4: LR, L2: trusted-set size, relative decrease of test error
fig5: LR, L2: Kuncheva consistency of the top-k features
fig6: MLP, L2: test error vs ratio
fig7: MLP, L2: λ learned per layer vs ratio
fig8: LR, L1 (the paper's panels: L2 too, Fashion-MNIST, CIFAR-10): learned λ
    and ||w||²/p vs ratio
fig9: LR, L1: trusted-set size, relative decrease
fig10: LR, L1: Kuncheva consistency of the top-k features
fig11: MLP, L1: test error vs ratio
fig12: MLP, L1: λ learned per layer vs ratio
fig13: MLP, L2: ||w||²/p per layer (λ per layer) vs ratio
fig14: MLP, L2 (the paper's panels: L1 too): single learned λ and ||w||²/p vs
    ratio

Each figure's sweep and defaults (Fig. 7: the network, λ learned per layer):

>>> spec = FIGURES["fig7"]
>>> spec.kind, spec.model, spec.penalty, spec.strategies
('attack', 'mlp', 'l2', ('learned_per_layer',))

The λ strategies that the sweeps compare (learned on the trusted set, or
fixed), and the size presets:

>>> from skpoison.experiments import SIZES, STRATEGIES
>>> {name: strategy.learned for name, strategy in STRATEGIES.items()}
{'no_reg': False, 'large': False, 'cv': False, 'learned': True, 'learned_per_layer': True}
>>> SIZES
('tiny', 'quick', 'full')
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SIZES", "STRATEGIES", "Strategy", "FIGURES", "FigureSpec", "DEFAULT_VAL_FRACTIONS",
           "ATTACK_STEP_CHOICES"]

#: Size presets: "full" follows DESIGN.md section 6, "quick" fits a 2-core
#: CPU, "tiny" only checks that the code runs (tests).
SIZES = ("tiny", "quick", "full")


@dataclass(frozen=True)
class Strategy:
    """How one strategy sets λ: learned (and how many λ) or fixed (see ``_strategies``).

    Parameters
    ----------
    name : str
        The strategy's key in :data:`STRATEGIES` (``"no_reg"``, ``"learned"``, ...).
    learned : bool
        Whether λ is learned on the trusted set (else it is fixed: none, a
        large one, or the clean data's cross-validated one).
    lambda_mode : {"single", "per_layer"}, default="single"
        One λ for every weight, or one per layer of a network.
    label : str, default=""
        The strategy's name in the plots' legends.

    Examples
    --------
    >>> from skpoison.experiments import STRATEGIES
    >>> per_layer = STRATEGIES["learned_per_layer"]
    >>> per_layer.learned, per_layer.lambda_mode, per_layer.label
    (True, 'per_layer', 'λ learned per layer')
    """

    name: str
    learned: bool
    lambda_mode: str = "single"
    label: str = ""


STRATEGIES = {
    "no_reg": Strategy("no_reg", False, label="no regularization"),
    "large": Strategy("large", False, label="large λ"),
    "cv": Strategy("cv", False, label="λ by CV (clean)"),
    "learned": Strategy("learned", True, "single", label="λ learned (trusted set)"),
    "learned_per_layer": Strategy("learned_per_layer", True, "per_layer",
                                  label="λ learned per layer"),
}


#: The values of the sweeps' attack step options (``OptimalPoisoner``'s
#: ``lambda_step`` and ``normalize``; a test keeps them equal to its own).
ATTACK_STEP_CHOICES = {"lambda_step": ("adam", "gd", "sign"), "normalize": ("point", "batch")}


#: Fig. 4 / 9: trusted-set sizes as shares of the training set.
DEFAULT_VAL_FRACTIONS = (0.05, 0.1, 0.25)


@dataclass(frozen=True)
class FigureSpec:
    """What a figure shows: the sweep kind, its defaults and its plot.

    Parameters
    ----------
    kind : {"synthetic", "attack", "sensitivity"}
        The computation: Fig. 1's 2-D maps, the attack sweep over poisoning
        ratios, or that sweep for several trusted-set sizes (Fig. 4 and 9).
    model : {"lr", "mlp"}, default="lr"
        The figure's model (a sweep setting may override it).
    penalty : {"l2", "l1"}, default="l2"
        The figure's penalty (a sweep setting may override it).
    plot : str, default="test_error"
        What an attack figure draws: ``"test_error"``, ``"lambda_norm"``,
        ``"kuncheva"``, ``"per_layer_lambda"`` or ``"per_layer_norm"`` (Fig. 1
        and the sensitivity figures have plots of their own).
    strategies : tuple of str, default=()
        The λ strategies compared; ``()`` means the model's default ones.
    description : str, default=""
        What the figure shows, in a line (``skpoison reproduce list``).

    Examples
    --------
    >>> from skpoison.experiments import FIGURES
    >>> FIGURES["fig5"].plot, FIGURES["fig10"].penalty
    ('kuncheva', 'l1')
    """

    kind: str          # "synthetic", "attack" or "sensitivity"
    model: str = "lr"
    penalty: str = "l2"
    plot: str = "test_error"
    strategies: tuple = ()   # () = the model's default strategies
    description: str = ""


FIGURES = {
    "fig1": FigureSpec("synthetic", description="2-D example: validation error and optimal "
                       "λ as functions of one poisoning point's position"),
    "fig2": FigureSpec("attack", plot="test_error",
                       description="LR, L2: test error vs poisoning ratio per λ strategy"),
    "fig3": FigureSpec("attack", plot="lambda_norm",
                       description="LR, L2: learned λ and ||w||²/p vs ratio"),
    "fig4": FigureSpec("sensitivity", strategies=("no_reg", "learned"),
                       description="LR, L2: trusted-set size, relative decrease of test error"),
    "fig5": FigureSpec("attack", plot="kuncheva",
                       description="LR, L2: Kuncheva consistency of the top-k features"),
    "fig6": FigureSpec("attack", model="mlp", plot="test_error",
                       description="MLP, L2: test error vs ratio"),
    "fig7": FigureSpec("attack", model="mlp", plot="per_layer_lambda",
                       strategies=("learned_per_layer",),
                       description="MLP, L2: λ learned per layer vs ratio"),
    "fig8": FigureSpec("attack", penalty="l1", plot="lambda_norm",
                       description="LR, L1 (the paper's panels: L2 too, Fashion-MNIST, "
                                   "CIFAR-10): learned λ and ||w||²/p vs ratio"),
    "fig9": FigureSpec("sensitivity", penalty="l1", strategies=("no_reg", "learned"),
                       description="LR, L1: trusted-set size, relative decrease"),
    "fig10": FigureSpec("attack", penalty="l1", plot="kuncheva",
                        description="LR, L1: Kuncheva consistency of the top-k features"),
    "fig11": FigureSpec("attack", model="mlp", penalty="l1", plot="test_error",
                        description="MLP, L1: test error vs ratio"),
    "fig12": FigureSpec("attack", model="mlp", penalty="l1", plot="per_layer_lambda",
                        strategies=("learned_per_layer",),
                        description="MLP, L1: λ learned per layer vs ratio"),
    "fig13": FigureSpec("attack", model="mlp", plot="per_layer_norm",
                        strategies=("learned_per_layer",),
                        description="MLP, L2: ||w||²/p per layer (λ per layer) vs ratio"),
    "fig14": FigureSpec("attack", model="mlp", plot="lambda_norm",
                        strategies=("no_reg", "large", "learned"),
                        description="MLP, L2 (the paper's panels: L1 too): single learned "
                                    "λ and ||w||²/p vs ratio"),
}
