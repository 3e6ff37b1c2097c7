"""What the figures say: legends, axes and notes drawn from tidy rows (matplotlib)."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from skpoison.experiments._plots import (  # noqa: E402
    plot_lambda_and_norm,
    plot_per_layer,
    plot_sensitivity,
)


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_per_layer_lines_name_their_strategy_when_there_are_several():
    offset = {"no_reg": 0.0, "learned_per_layer": 1.0}
    rows = [dict(strategy=s, ratio=r, repetition=k, weight_norm_0=offset[s] + r + k,
                 weight_norm_1=offset[s] + 0.5)
            for s in offset for r in (0.0, 0.1) for k in (0, 1)]
    (ax,) = plot_per_layer(rows, "weight_norm_", "norm", log=True).axes
    assert legend_texts(ax) == ["no regularization: hidden layer 1",
                                "no regularization: output layer",
                                "λ learned per layer: hidden layer 1",
                                "λ learned per layer: output layer"]
    # Each line is its own strategy's mean at ratio 0, not the mean over strategies.
    starts = [float(bars.lines[0].get_ydata()[0]) for bars in ax.containers]
    assert starts == pytest.approx([0.5, 0.5, 1.5, 1.5])
    (one,) = plot_per_layer([r for r in rows if r["strategy"] == "no_reg"],
                            "weight_norm_", "norm").axes
    assert legend_texts(one) == ["hidden layer 1", "output layer"]


def test_per_layer_lines_count_each_strategys_own_layers():
    # Rows without the columns draw nothing and name nothing; a strategy's last
    # column is its output layer.
    rows = ([dict(strategy="no_reg", ratio=r, repetition=0, log_lambda=-np.inf)
             for r in (0.0, 0.1)]
            + [dict(strategy="learned_per_layer", ratio=r, repetition=0, log_lambda_0=-5.0,
                    log_lambda_1=-4.0, log_lambda_2=-3.0) for r in (0.0, 0.1)])
    (ax,) = plot_per_layer(rows).axes
    assert legend_texts(ax) == ["hidden layer 1", "hidden layer 2", "output layer"]
    shallow = [dict(strategy="large", ratio=r, repetition=0, log_lambda_0=-2.0,
                    log_lambda_1=-2.0) for r in (0.0, 0.1)]
    (ax,) = plot_per_layer(rows + shallow).axes
    assert legend_texts(ax)[-2:] == ["large λ: hidden layer 1", "large λ: output layer"]


def test_lambda_ticks_are_plain_numbers_not_offsets():
    rows = [dict(strategy="learned", ratio=r, repetition=0, log_lambda=-4.398 + r / 200,
                 weight_norm=0.1) for r in (0.0, 0.1, 0.2)]
    fig = plot_lambda_and_norm(rows)
    fig.canvas.draw()
    ax_lam = fig.axes[0]
    assert ax_lam.yaxis.get_offset_text().get_text() == ""
    # (and a range one unit tall: λ moving by 0.001 filled the panel, a visual review)
    low, high = ax_lam.get_ylim()
    assert high - low >= 1.0 - 1e-12 and low < -4.398 < -4.397 < high
    assert all(t.get_text().startswith(("−4", "−3", "−5")) for t in ax_lam.get_yticklabels()
               if t.get_text())


def test_the_relative_decrease_panel_counts_its_undefined_points():
    rows = [dict(strategy=s, ratio=r, repetition=0, n_val=5, test_error=e)
            for s, r, e in (("no_reg", 0.0, 0.0), ("learned", 0.0, 0.0),
                            ("no_reg", 0.2, 0.1), ("learned", 0.2, 0.05))]
    decrease = [dict(n_val=5, ratio=0.0, relative_decrease=np.nan),
                dict(n_val=5, ratio=0.2, relative_decrease=0.5)]
    ax_err, ax_dec = plot_sensitivity(rows, decrease).axes[:2]
    # (said under the axis: a note inside the panel sat on its data)
    assert ax_dec.get_xlabel().endswith("(1 of 2 points undefined: no-reg. error 0)")
    assert not ax_dec.texts
    assert ax_dec.get_shared_x_axes().joined(ax_err, ax_dec)
    assert "no regularization → λ learned" in ax_dec.get_title()


def test_error_bars_are_in_the_units_of_the_means():
    # Percent plots scale the error bars by 100 as they do the means.
    import matplotlib.pyplot as plt

    from skpoison.experiments._plots import plot_test_error
    rows = [{"strategy": "no_reg", "ratio": ratio, "repetition": i, "test_error": error}
            for ratio, errors in ((0.0, (0.10, 0.20)), (0.1, (0.30, 0.50)))
            for i, error in enumerate(errors)]
    fig = plot_test_error(rows)
    _, _, (bars,) = fig.axes[0].containers[0]
    ends = [(segment[0][1], segment[1][1]) for segment in bars.get_segments()]
    plt.close(fig)
    np.testing.assert_allclose(ends, [(10.0, 20.0), (30.0, 50.0)])   # mean ± std (ddof=0), %


def test_multi_panel_legends_sit_under_the_panels():
    # (inside a panel, the legend covered data: the norm panel, fig1's map, fig5's bars)
    from skpoison.experiments import plot_kuncheva, plot_lambda_and_norm
    rows = [{"strategy": s, "ratio": r, "repetition": 0, "log_lambda": -4.0 - r,
             "weight_norm": 0.5 + r, "kuncheva_k5": 1 - r}
            for s in ("no_reg", "learned", "learned_per_layer") for r in (0.0, 0.1)]
    for fig in (plot_lambda_and_norm(rows), plot_kuncheva(rows, top_k=(5, 70))):
        assert all(ax.get_legend() is None for ax in fig.axes)
        (legend,) = fig.legends
        texts = [t.get_text() for t in legend.get_texts()]
        assert len(texts) == len(set(texts)) == 3
    assert plot_lambda_and_norm(rows).axes[0].get_ylabel().endswith("the layers' mean)")
    # k = 70 has no index in the rows (k >= the features): no empty panel for it
    assert [ax.get_title() for ax in plot_kuncheva(rows, top_k=(5, 70)).axes] == \
        ["top 5 features"]


def test_fig1s_cells_are_centred_on_the_positions_computed():
    from skpoison.experiments import plot_synthetic, synthetic_maps
    maps = synthetic_maps(size="tiny")
    fig = plot_synthetic(maps)
    grid = maps["grid"]
    left, right, _, _ = fig.axes[0].get_images()[0].get_extent()
    step = grid[1] - grid[0]
    assert (left, right) == pytest.approx((grid[0] - step / 2, grid[-1] + step / 2))
    low, high = fig.axes[2].get_images()[0].get_clim()
    assert (low, high) == (min(maps["lambda_grid"]), max(maps["lambda_grid"]))


def test_the_ratio_axis_spans_every_line_of_a_panel():
    # (a first line at one ratio fixed a window of ±1 % that later lines only stretched)
    rows = [{"strategy": "no_reg", "ratio": 0.0, "log_lambda_0": -1.0, "log_lambda_1": -2.0}]
    rows += [{"strategy": "learned_per_layer", "ratio": r, "log_lambda_0": -1.0 + r,
              "log_lambda_1": -2.0} for r in (0.0, 0.1, 0.2)]
    ax = plot_per_layer(rows).axes[0]
    low, high = ax.get_xlim()
    assert low < 0 and high > 20 and list(ax.get_xticks()) == [0, 10, 20]


def test_a_dataframe_of_rows_draws_and_summarizes_as_the_rows_do(tmp_path):
    # pandas.read_csv of a sweep's CSV raised "'str' object has no attribute 'get'".
    import matplotlib.pyplot as plt

    pd = pytest.importorskip("pandas")
    from skpoison.experiments import format_table, read_csv, write_csv
    from skpoison.experiments._plots import plot_kuncheva, plot_test_error

    rows = [{"strategy": s, "ratio": r, "repetition": i, "test_error": 0.1 * r + 0.01 * i,
             "kuncheva_k5": None if s == "no_reg" else 1.0 - r}
            for s in ("no_reg", "learned") for r in (0.0, 0.1) for i in range(3)]
    path = write_csv(rows, tmp_path / "rows.csv")
    frame = pd.read_csv(path)
    assert format_table(frame) == format_table(read_csv(path))
    for plot in (plot_test_error, lambda r: plot_kuncheva(r, top_k=(5,))):
        from_frame, from_rows = plot(frame), plot(read_csv(path))
        lines = [[line.get_ydata().tolist() for line in fig.axes[0].get_lines()]
                 for fig in (from_frame, from_rows)]
        plt.close(from_frame)
        plt.close(from_rows)
        # (to the last bit or so: pandas < 3 parses some floats one unit off)
        np.testing.assert_allclose(lines[0], lines[1], rtol=1e-14)
        assert lines[0]


def test_percent_error_bars_stop_at_zero_and_sizes_are_not_strategy_colours():
    # (bars of test error reached below 0 %; fig. 4's sizes took the strategies'
    # blue, orange and green, which mean no_reg, large and cv everywhere else)
    import matplotlib.pyplot as plt

    from skpoison.experiments._plots import plot_test_error
    rows = [{"strategy": "no_reg", "ratio": 0.1, "repetition": i, "test_error": error}
            for i, error in enumerate((0.0, 0.02))]
    fig = plot_test_error(rows)
    _, _, (bars,) = fig.axes[0].containers[0]
    assert min(segment[0][1] for segment in bars.get_segments()) == 0.0
    plt.close(fig)
    rows = [dict(strategy=s, ratio=r, repetition=0, n_val=n, test_error=0.1)
            for s in ("no_reg", "learned") for r in (0.0, 0.2) for n in (5, 10)]
    fig = plot_sensitivity(rows, [])
    colours = {line.get_color() for line in fig.axes[0].get_lines()}
    assert not colours & {"tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"}
    plt.close(fig)


def test_norms_at_zero_that_a_log_axis_cannot_draw_are_counted():
    # (a proximal L1 model shrunk to all-zero weights has ||w||²/p = 0: on the
    # log scale its line stopped short, as if those ratios had not been run)
    import matplotlib.pyplot as plt

    norms = {"no_reg": (2e-3, 2e-3, 2e-3), "large": (1e-4, 0.0, 0.0)}
    rows = [dict(strategy=s, ratio=r, repetition=k, log_lambda=-np.inf, weight_norm=v)
            for s, values in norms.items() for r, v in zip((0.0, 0.1, 0.2), values)
            for k in (0, 1)]
    fig = plot_lambda_and_norm(rows)
    ax_norm = fig.axes[1]
    assert ax_norm.get_yscale() == "log"
    assert "2 points at 0" in ax_norm.get_xlabel()
    plt.close(fig)
    rows = [dict(strategy="learned_per_layer", ratio=r, repetition=0, weight_norm_0=v,
                 weight_norm_1=0.5) for r, v in zip((0.0, 0.1, 0.2), (1e-3, 1e-4, 0.0))]
    fig = plot_per_layer(rows, "weight_norm_", "norm", log=True)
    assert "1 point at 0" in fig.axes[0].get_xlabel()
    plt.close(fig)
    # Nothing hidden, nothing said; nor on a linear axis, which draws the zeros.
    rows = [{**r, "weight_norm_0": 1e-3} for r in rows]
    fig = plot_per_layer(rows, "weight_norm_", "norm", log=True)
    assert fig.axes[0].get_xlabel() == "poisoning ratio (%)"
    plt.close(fig)


def test_consistency_points_over_fewer_repetitions_are_counted():
    # (an index undefined for one repetition, NaN, is left out: the point is then a
    # mean over fewer repetitions than the title's, which the tables mark "(n=2)")
    import matplotlib.pyplot as plt

    from skpoison.experiments._plots import plot_kuncheva
    rows = [dict(strategy=s, ratio=r, repetition=i, kuncheva_k5=1.0 - r,
                 kuncheva_k10=np.nan if (s, i) == ("large", 0) and r > 0 else 1.0 - r)
            for s in ("no_reg", "large") for r in (0.0, 0.1, 0.2) for i in range(3)]
    fig = plot_kuncheva(rows, top_k=(5, 10))
    assert fig.axes[0].get_xlabel() == "poisoning ratio (%)"
    assert "2 points average fewer repetitions" in fig.axes[1].get_xlabel()
    plt.close(fig)
