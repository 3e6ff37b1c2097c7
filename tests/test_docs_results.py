"""The measured numbers the documentation quotes agree with what they were measured from.

docs/results_mnist.md's tables are summaries (mean ± std over repetitions, ddof=0) of the
CSVs committed in docs/results/ (and so is the README's MNIST table): each printed value
must be the CSV's, rounded to the digits it is printed with. The README's breast-cancer
example of a drifting λ is rerun.
"""

import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
RATIOS = (0.0, 0.04, 0.08, 0.12, 0.16, 0.2)

L2, AS30 = "mnist_lr_l2_quick.csv", "mnist_lr_l2_quick_as30.csv"
L1, PROX = "mnist_lr_l1_quick_fig8.csv", "mnist_lr_l1-prox_quick_fig8.csv"
MLP1, MLP1P = "digits_mlp_l1_quick_fig11.csv", "digits_mlp_l1-prox_quick_fig11.csv"
STRATEGIES = {s: {"strategy": s} for s in ("no_reg", "large", "cv", "learned",
                                           "learned_per_layer")}
ERROR = ("test_error", 100)


def _rows(csv, column, scale, **where):
    return (csv, column, scale, where)


# One entry per table of results_mnist.md with a column per ratio, in the file's
# order: {row label: (csv, column, scale, filter)}.
TABLES = [
    {k: _rows(L2, *ERROR, **v) for k, v in STRATEGIES.items() if k != "learned_per_layer"},
    {k: _rows(AS30, *ERROR, **v) for k, v in STRATEGIES.items() if k != "learned_per_layer"},
    {"15 steps": _rows(L2, "log_lambda", 1, strategy="learned"),
     "30 steps": _rows(AS30, "log_lambda", 1, strategy="learned")},
    {k: _rows(AS30, "weight_norm", 1, strategy=k) for k in ("no_reg", "large", "learned")},
    *({"no_reg (= cv)": _rows(L2, f"kuncheva_k{k}", 1, strategy="no_reg"),
       "large": _rows(L2, f"kuncheva_k{k}", 1, strategy="large"),
       "learned": _rows(L2, f"kuncheva_k{k}", 1, strategy="learned")} for k in (10, 20, 50)),
    {f"{s}, {n}": _rows("mnist_lr_l2_quick_fig4.csv", *ERROR, strategy=s, n_val=n)
     for s in ("no_reg", "learned") for n in (50, 100, 250)},
    {"no_reg (= cv)": _rows(L1, *ERROR, strategy="no_reg"),
     "large (λ = -2)": _rows(L1, *ERROR, strategy="large"),
     "learned": _rows(L1, *ERROR, strategy="learned")},
    {"L1": _rows(L1, "log_lambda", 1, strategy="learned")},
    {"no_reg (= cv)": _rows(L1, "kuncheva_k10", 1, strategy="no_reg"),
     "large": _rows(L1, "kuncheva_k10", 1, strategy="large"),
     "learned": _rows(L1, "kuncheva_k10", 1, strategy="learned")},
    {"no_reg (= cv)": _rows(PROX, *ERROR, strategy="no_reg"),
     "large (λ = -2)": _rows(PROX, *ERROR, strategy="large"),
     "learned": _rows(PROX, *ERROR, strategy="learned")},
    {"learned λ": _rows(PROX, "log_lambda", 1, strategy="learned"),
     "large: ‖w‖²/p": _rows(PROX, "weight_norm", 1, strategy="large"),
     "Kuncheva k = 10, learned": _rows(PROX, "kuncheva_k10", 1, strategy="learned"),
     "Kuncheva k = 10, no_reg": _rows(PROX, "kuncheva_k10", 1, strategy="no_reg")},
    {k: _rows("fmnist_lr_l2_quick.csv", *ERROR, **v) for k, v in STRATEGIES.items()
     if k != "learned_per_layer"},
    {k: _rows("cifar10_jpeg_lr_l2_quick.csv", *ERROR, **v) for k, v in STRATEGIES.items()
     if k != "learned_per_layer"},
    {"no_reg": _rows("digits_mlp_l2_quick.csv", *ERROR, strategy="no_reg"),
     "large (λ = -2)": _rows("digits_mlp_l2_quick.csv", *ERROR, strategy="large"),
     "learned": _rows("digits_mlp_l2_quick.csv", *ERROR, strategy="learned"),
     "learned_per_layer": _rows("digits_mlp_l2_quick.csv", *ERROR,
                                strategy="learned_per_layer")},
    {"no_reg": _rows(MLP1, *ERROR, strategy="no_reg"),
     "large, subgradient": _rows(MLP1, *ERROR, strategy="large"),
     "large, proximal": _rows(MLP1P, *ERROR, strategy="large"),
     "learned, subgradient": _rows(MLP1, *ERROR, strategy="learned"),
     "learned, proximal": _rows(MLP1P, *ERROR, strategy="learned")},
]


def _ratio_tables(text):
    """Every markdown table whose columns after the first are the six ratios."""
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[1:] == ["0 %", "4 %", "8 %", "12 %", "16 %", "20 %"]:
            rows = {}
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                values = [c.strip() for c in row.strip().strip("|").split("|")]
                rows[values[0]] = values[1:]
            tables.append(rows)
    return tables


def _half_unit(printed):
    """Half a unit in the last printed digit of a number (its rounding error)."""
    mantissa, _, exponent = printed.strip().lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals)


def _agrees(printed, value):
    return abs(float(printed) - value) <= _half_unit(printed) * (1 + 1e-9) + 1e-12


def _summaries(csv, column, scale, where):
    import pandas as pd

    frame = pd.read_csv(RESULTS / csv, dtype={"dataset": str})
    for key, wanted in where.items():
        frame = frame[frame[key] == wanted]
    out = []
    for ratio in RATIOS:
        values = frame.loc[np.isclose(frame["ratio"], ratio), column].to_numpy(float) * scale
        values = values[~np.isnan(values)]
        out.append((values.mean(), values.std()) if values.size else (math.nan, math.nan))
    return out


# The README's MNIST table (Fig. 2 at --quick).
README_TABLES = [
    {"no regularization": _rows(L2, *ERROR, strategy="no_reg"),
     "large λ (λ = 0)": _rows(L2, *ERROR, strategy="large"),
     "λ by 5-fold CV": _rows(L2, *ERROR, strategy="cv"),
     "λ learned (minimax)": _rows(L2, *ERROR, strategy="learned")},
]


@pytest.mark.parametrize("document, specs", [("docs/results_mnist.md", TABLES),
                                             ("README.md", README_TABLES)])
def test_results_tables_are_their_csvs_rounded(document, specs):
    tables = _ratio_tables((ROOT / document).read_text(encoding="utf-8"))
    assert len(tables) == len(specs)
    wrong = []
    for number, (table, spec) in enumerate(zip(tables, specs)):
        assert sorted(table) == sorted(spec), f"table {number}: rows {sorted(table)}"
        for label, (csv, column, scale, where) in spec.items():
            for ratio, cell, (mean, std) in zip(RATIOS, table[label],
                                                _summaries(csv, column, scale, where)):
                printed = cell.split("±")
                if printed[0].strip() == "-":
                    ok = math.isnan(mean)
                else:
                    ok = _agrees(printed[0], mean) and (
                        len(printed) == 1 or _agrees(printed[1], std))
                if not ok:
                    wrong.append(f"table {number}, {label!r} at {ratio}: printed {cell!r}, "
                                 f"CSV {mean:.6g} ± {std:.3g}")
    assert wrong == []


def test_readme_breast_cancer_drift_recipe():
    # README, "The model": standardized breast cancer, 30 % test then 60 trusted rows
    # (both splits stratified, random_state=0): λ -7.7 and trusted loss 0.0535 after
    # 30 outer steps, test accuracy 0.959; tol=1e-3 stops after 14 steps at λ -6.4.
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from skpoison import HypergradRegularizedLR

    X, y = load_breast_cancer(return_X_y=True)
    X, X_test, y, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    X, X_val, y, y_val = train_test_split(X, y, test_size=60, stratify=y, random_state=0)
    assert len(X) == 338
    scaler = StandardScaler().fit(X)
    X, X_val, X_test = scaler.transform(X), scaler.transform(X_val), scaler.transform(X_test)
    clf = HypergradRegularizedLR(outer_steps=30).fit(X, y, X_val=X_val, y_val=y_val)
    assert clf.lambda_[0] == pytest.approx(-7.7, abs=0.05)
    assert clf.val_loss_path_[-1] == pytest.approx(0.0535, abs=5e-5)
    assert round(clf.score(X_test, y_test), 3) == 0.959
    settled = HypergradRegularizedLR(outer_steps=300, tol=1e-3).fit(X, y, X_val=X_val,
                                                                     y_val=y_val)
    assert settled.n_iter_ == 14
    assert settled.lambda_[0] == pytest.approx(-6.4, abs=0.05)
