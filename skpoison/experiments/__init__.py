"""Experiments that reproduce the paper's figures, and the CLI behind them.

:func:`evaluate` is the main job (test error of every λ strategy under the
optimal attack); :func:`reproduce` (or ``fig1`` ... ``fig14``) computes one
figure of Carnerero-Cano et al. (TNNLS 2023). Sweeps run their cells with
joblib and store each finished cell at once, so an interrupted run resumes.
Results are tidy CSV files (one row per strategy, ratio and repetition);
plots need matplotlib. The command line is ``skpoison`` (or ``python -m
skpoison``).
"""

from ._aggregate import format_table, relative_decrease_rows, summarize
from ._attack_cell import run_attack_cell
from ._config import DEFAULT_TOP_K, LARGE_LAMBDA, SIZES, SweepConfig, make_config
from ._figures import (FIGURES, fig1, fig2, fig3, fig4, fig5, fig6, fig7, fig8, fig9,
                       fig10, fig11, fig12, fig13, fig14, reproduce)
from ._plots import (plot_kuncheva, plot_lambda_and_norm, plot_per_layer, plot_sensitivity,
                     plot_synthetic, plot_test_error)
from ._runner import evaluate, run_attack_sweep
from ._strategies import STRATEGIES, cross_validate_lambda
from ._sweep import read_csv, run_sweep, write_csv
from ._synthetic import synthetic_maps

__all__ = [
    "DEFAULT_TOP_K", "FIGURES", "LARGE_LAMBDA", "SIZES", "STRATEGIES", "SweepConfig",
    "cross_validate_lambda", "evaluate", "fig1", "fig2", "fig3", "fig4", "fig5", "fig6",
    "fig7", "fig8", "fig9", "fig10", "fig11", "fig12", "fig13", "fig14", "format_table",
    "make_config", "plot_kuncheva", "plot_lambda_and_norm", "plot_per_layer",
    "plot_sensitivity", "plot_synthetic", "plot_test_error", "read_csv",
    "relative_decrease_rows", "reproduce", "run_attack_cell", "run_attack_sweep",
    "run_sweep", "summarize", "synthetic_maps", "write_csv",
]
