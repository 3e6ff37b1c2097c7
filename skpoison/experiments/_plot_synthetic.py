"""The plot of the 2-D synthetic example, Fig. 1 (private).

Its own module: maps over a grid of positions, not the tidy result rows that
:mod:`._plots` draws against the poisoning ratio.
"""

from __future__ import annotations

import numpy as np

from ._plots import _figure, _figure_legend

__all__ = ["plot_synthetic"]


def plot_synthetic(maps, title=""):
    """The 2-D example (Fig. 1): validation error maps and optimal λ map.

    Three panels over the position of one poisoning point: the validation
    error without regularization, the validation error with the fixed λ
    (both in %, on one colour scale), and the optimal λ. Each panel shows
    the training points and the clean model's boundary; the first two also
    the optimal poisoning point and the poisoned model's boundary.

    Parameters
    ----------
    maps : dict
        The dictionary returned by :func:`skpoison.experiments.synthetic_maps`.
    title : str, default=""
        Title of the figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Three panels and their colour bars (see :func:`plot_test_error`
        about pyplot).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from skpoison.experiments import plot_synthetic, synthetic_maps
    >>> fig = plot_synthetic(synthetic_maps(size="tiny"))
    >>> len(fig.axes)   # three panels, three colour bars
    6
    >>> plt.close(fig)
    """
    fig, axes = _figure(3, width=3.9, height=3.5)
    grid = maps["grid"]
    half = (grid[1] - grid[0]) / 2 if len(grid) > 1 else 0.5   # (pixels centred on the grid)
    extent = [grid[0] - half, grid[-1] + half] * 2
    X, y = maps["X_train"], maps["y_train"]
    errors = 100 * np.stack([maps["val_error_noreg"], maps["val_error_reg"]])
    limits = dict(vmin=errors.min(), vmax=errors.max())  # one colour scale for both
    for ax, key, name in ((axes[0], "noreg", "no regularization"),
                          (axes[1], "reg", f"λ = {maps['fixed_lambda']:g}")):
        image = ax.imshow(100 * maps[f"val_error_{key}"].T, origin="lower", extent=extent,
                          cmap="viridis", aspect="auto", **limits)
        fig.colorbar(image, ax=ax, label="validation error (%)")
        ax.set_title(f"validation error vs poisoning-point position\n({name})", fontsize=8)
    low, high = np.min(maps["lambda_grid"]), np.max(maps["lambda_grid"])
    image = axes[2].imshow(maps["best_lambda"].T, origin="lower", extent=extent,
                           cmap="magma", aspect="auto", vmin=low, vmax=high)
    fig.colorbar(image, ax=axes[2],
                 label=f"optimal λ = log α (grid {low:g} … {high:g})")
    axes[2].set_title("optimal λ vs poisoning-point position", fontsize=8)
    span = np.linspace(extent[0], extent[1], 2)
    # White circles and black triangles: blue and green points vanished into
    # the colour maps (viridis holds both colours).
    colors = {0: "white", 1: "black"}
    markers = {0: "o", 1: "^"}
    for ax, key in zip(axes, ("noreg", "reg", None)):
        for label, color in colors.items():
            mine = y == label
            ax.scatter(X[mine, 0], X[mine, 1], c=color, s=10, marker=markers[label],
                       edgecolors=colors[1 - label], linewidths=0.4, label=f"class {label}")
        _boundary(ax, maps["w_clean"], span, "--", "white", "clean model")
        if key is not None:
            _boundary(ax, maps[f"w_poisoned_{key}"], span, "-", "red", "poisoned model")
            point = maps[f"poison_{key}"]
            # Filled with its class's colour, outlined in red: the optimal point.
            ax.scatter([point[0]], [point[1]], c=colors.get(maps["poison_label"], "red"),
                       s=110, marker="*", edgecolors="red", linewidths=1.0, clip_on=False,
                       zorder=5, label=f"optimal poisoning point (class {maps['poison_label']})")
        pad = 0.03 * (extent[1] - extent[0])  # the optimal point often sits on the box edge
        ax.set_xlim(extent[0] - pad, extent[1] + pad)
        ax.set_ylim(extent[2] - pad, extent[3] + pad)
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
    _figure_legend(fig, axes[:1], facecolor="lightgrey",    # (grey: shows the white line)
                   markerscale=1.5)
    fig.suptitle(title, fontsize=9)
    return fig


def _boundary(ax, w, span, style, color, label):
    w1, w2, b = (float(v) for v in w)
    if abs(w2) > 1e-12:
        ax.plot(span, -(w1 * span + b) / w2, style, color=color, lw=1.2, label=label)
    elif abs(w1) > 1e-12:
        ax.axvline(-b / w1, ls=style, color=color, lw=1.2, label=label)
