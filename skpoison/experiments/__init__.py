"""Experiments that reproduce the paper's figures, and the CLI behind them.

:func:`evaluate` is the main job (test error of every λ strategy under the
optimal attack); :func:`reproduce` (or ``fig1`` ... ``fig14``) computes one
figure of Carnerero-Cano et al. (TNNLS 2023). Sweeps run their cells with
joblib and store each finished cell at once, so an interrupted run resumes.
Results are tidy CSV files (one row per strategy, ratio and repetition);
plots need matplotlib. The command line is ``skpoison`` (or ``python -m
skpoison``).
"""

from .._lazy import lazy_attributes

#: Public name -> the private module that defines it (imported on first use:
#: the command line's parser needs none of them).
_EXPORTS = {
    **dict.fromkeys(("format_table", "relative_decrease_rows", "summarize"), "_aggregate"),
    "run_attack_cell": "_attack_cell",
    **dict.fromkeys(("DEFAULT_TOP_K", "LARGE_LAMBDA", "SweepConfig", "make_config"),
                    "_config"),
    **dict.fromkeys(("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "fig9",
                     "fig10", "fig11", "fig12", "fig13", "fig14", "reproduce"), "_figures"),
    **dict.fromkeys(("plot_kuncheva", "plot_lambda_and_norm", "plot_per_layer",
                     "plot_sensitivity", "plot_test_error"), "_plots"),
    "plot_synthetic": "_plot_synthetic",
    **dict.fromkeys(("FIGURES", "SIZES", "STRATEGIES"), "_registry"),
    **dict.fromkeys(("evaluate", "run_attack_sweep"), "_runner"),
    "cross_validate_lambda": "_strategies",
    **dict.fromkeys(("read_csv", "write_csv"), "_csv"),
    "run_sweep": "_sweep",
    "synthetic_maps": "_synthetic",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)
