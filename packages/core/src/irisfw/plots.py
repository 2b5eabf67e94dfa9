"""Plots of a Comparison, drawn with matplotlib.

Figures are built with ``matplotlib.figure.Figure`` and never through
pyplot, so no GUI backend starts and no global figure list grows. Saving a
Figure without a canvas renders PNG with Agg and SVG or PDF with their own
vector backends, which works on machines without a display.

Each ``plot_*`` function returns a Figure, or None when the comparison contains
nothing to draw (e.g. every run failed). Runs are grouped by backend label
and spec, so a backend that ran several times (repeated seeds) gets one
line, bar or matrix that summarises its runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from irisfw.grouping import RunGroup, group_runs
from irisfw.reports import PlotImage
from irisfw.results import Comparison, RunResult

PLOT_FORMATS = ("png", "svg", "pdf")
DPI = 150
# Leave out the creation date and fix the salt of SVG element ids, which is
# random by default, so the same comparison gives the same files.
SVG_HASH_SALT = "irisfw"
SAVE_METADATA: dict[str, dict[str, Any]] = {
    "png": {},
    "svg": {"Date": None},
    "pdf": {"CreationDate": None},
}
# tab10 has ten distinct colours. More groups switch to tab20, whose colours
# repeat only past twenty.
MAX_TAB10_GROUPS = 10
LEGEND_COLUMNS = 4
# Single runs are drawn this far beside their backend's bar or marker, in
# x-axis units, so they do not hide the error bar.
RUN_DOTS_OFFSET = 0.2


def parse_plot_formats(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list such as ``png,svg`` into known formats."""
    formats = tuple(
        dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip())
    )
    unknown = [fmt for fmt in formats if fmt not in PLOT_FORMATS]
    if unknown or not formats:
        from irisfw.errors import IrisfwError

        raise IrisfwError(
            f"invalid --plot-format {text!r}; pass one or more of"
            f" {', '.join(PLOT_FORMATS)} separated by commas, e.g. png,svg"
        )
    return formats


def group_colors(groups: Sequence[RunGroup]) -> dict[str, Any]:
    """Assign a qualitative colour to each group that has a finished run.

    Every plot calls this with all groups, so a backend has the same colour
    in each of them. Groups without a finished run draw nothing in colour
    and use none up.
    """
    drawn = [group for group in groups if group.ok_runs]
    colormap = colormaps["tab10" if len(drawn) <= MAX_TAB10_GROUPS else "tab20"]
    return {
        group.name: colormap(index % colormap.N) for index, group in enumerate(drawn)
    }


def _legend_label(group: RunGroup, runs: Sequence[RunResult]) -> str:
    return group.name if len(runs) == 1 else f"{group.name} ({len(runs)} runs)"


def _tick_rotation(names: Sequence[str]) -> int:
    """Tilt tick labels when many or long names would overlap."""
    return 30 if len(names) > 4 or max(map(len, names), default=0) > 12 else 0


def _format_seconds(seconds: float) -> str:
    """Format a duration with three significant digits, e.g. 2.13 s or 41.2 ms."""
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-6:.3g} µs"


def _label_log_axis(axis: Any, formatter: Callable[[float], str]) -> None:
    """Label a log axis at 1, 2 and 5 times each power of ten.

    Matplotlib's default labels powers of ten and adds minor labels only on
    narrow ranges, so axes spanning one or two decades show few values.
    """
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: formatter(value)))
    axis.set_minor_formatter(NullFormatter())


def _loss_label(runs: Sequence[RunResult]) -> str:
    losses = {run.spec.loss for run in runs}
    if losses == {"cross_entropy"}:
        return "training loss (cross-entropy, nats; log scale)"
    if losses == {"mse"}:
        return "training loss (mean squared error; log scale)"
    return "training loss (cross-entropy in nats or MSE; log scale)"


def epoch_series(
    runs: Sequence[RunResult], field: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return epochs and the mean, min and max of ``field`` over ``runs``.

    Runs are aligned by epoch number; an epoch's statistics use the runs that
    recorded a value for it, so runs of different lengths still combine.
    """
    values: dict[int, list[float]] = {}
    for run in runs:
        for record in run.history:
            value = getattr(record, field)
            if value is not None:
                values.setdefault(record.epoch, []).append(value)
    epochs = np.array(sorted(values), dtype=int)
    stacked = [np.array(values[epoch]) for epoch in epochs]
    mean = np.array([column.mean() for column in stacked])
    low = np.array([column.min() for column in stacked])
    high = np.array([column.max() for column in stacked])
    return epochs, mean, low, high


def _draw_epoch_lines(
    axes: Any,
    group: RunGroup,
    runs: Sequence[RunResult],
    field: str,
    color: Any,
) -> None:
    epochs, mean, low, high = epoch_series(runs, field)
    axes.plot(
        epochs,
        mean,
        color=color,
        linewidth=1.8,
        marker="o" if len(epochs) == 1 else None,
        label=_legend_label(group, runs),
    )
    if len(runs) > 1:
        axes.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)


def plot_learning_curves(comparison: Comparison) -> Figure | None:
    """Draw training loss and accuracy per epoch, one line per backend.

    A backend with several runs gets the mean as its line and the min-max
    range as a band. The accuracy panel leaves out backends whose history
    has no accuracy and names them, and it is dropped when no backend has any.
    """
    all_groups = group_runs(comparison.runs)
    colors = group_colors(all_groups)
    groups = [
        (group, [run for run in group.ok_runs if run.history]) for group in all_groups
    ]
    groups = [(group, runs) for group, runs in groups if runs]
    if not groups:
        return None

    def has_accuracy(runs: list[RunResult]) -> bool:
        return any(
            record.accuracy is not None for run in runs for record in run.history
        )

    with_accuracy = [(group, runs) for group, runs in groups if has_accuracy(runs)]
    without_accuracy = [group.name for group, runs in groups if not has_accuracy(runs)]
    panels = 2 if with_accuracy else 1
    legend_rows = math.ceil(len(groups) / LEGEND_COLUMNS)
    figure = Figure(
        figsize=(6.0 * panels, 4.6 + 0.3 * legend_rows), layout="constrained"
    )
    axes = figure.subplots(1, panels, squeeze=False)[0]

    loss_axes = axes[0]
    for group, runs in groups:
        _draw_epoch_lines(loss_axes, group, runs, "loss", colors[group.name])
    loss_axes.set_yscale("log")
    _label_log_axis(loss_axes.yaxis, lambda value: f"{value:g}")
    loss_axes.set_title("Training loss per epoch")
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel(_loss_label([run for _, runs in groups for run in runs]))
    loss_axes.grid(True, which="major", alpha=0.3)

    if with_accuracy:
        accuracy_axes = axes[1]
        for group, runs in with_accuracy:
            _draw_epoch_lines(
                accuracy_axes, group, runs, "accuracy", colors[group.name]
            )
        accuracy_axes.set_ylim(0, 1.02)
        accuracy_axes.set_title("Training accuracy per epoch")
        accuracy_axes.set_xlabel("epoch")
        accuracy_axes.set_ylabel("training accuracy (fraction of training rows)")
        accuracy_axes.grid(True, alpha=0.3)
        if without_accuracy:
            accuracy_axes.text(
                0.98,
                0.03,
                "not recorded per epoch: " + ", ".join(without_accuracy),
                transform=accuracy_axes.transAxes,
                ha="right",
                va="bottom",
                fontsize="small",
                color="dimgray",
            )

    title = "Learning curves"
    if any(len(runs) > 1 for _, runs in groups):
        title += " (line: mean over runs, band: min to max)"
    figure.suptitle(title)
    handles, labels = loss_axes.get_legend_handles_labels()
    figure.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=min(len(groups), LEGEND_COLUMNS),
        title="backend",
        frameon=False,
    )
    return figure


def _summed_confusion(runs: Sequence[RunResult]) -> np.ndarray:
    return np.sum([np.array(run.metrics.confusion_matrix) for run in runs], axis=0)


def plot_confusion_matrices(comparison: Comparison) -> Figure | None:
    """Draw one confusion matrix per backend, summed over its runs.

    Cells show counts of test rows. The colour is the count's share of its
    true class, so classes of different sizes compare on one scale.
    """
    groups = [group for group in group_runs(comparison.runs) if group.ok_runs]
    if not groups:
        return None
    class_names = comparison.data.class_names
    classes = len(class_names)
    # At most 4 panels per row (3 for many classes), spread evenly over the
    # rows so that the last row is not left nearly empty.
    rows = math.ceil(len(groups) / (4 if classes <= 6 else 3))
    columns = math.ceil(len(groups) / rows)
    side = max(3.2, 0.45 * classes + 1.8)
    figure = Figure(
        figsize=(columns * side + 1.2, rows * side + 0.8), layout="constrained"
    )
    grid = figure.subplots(rows, columns, squeeze=False)
    longest = max(map(len, class_names))
    rotation = 45 if longest > 6 or longest * classes > 30 else 0
    image = None
    for index, axes in enumerate(grid.flat):
        if index >= len(groups):
            axes.set_visible(False)
            continue
        group = groups[index]
        runs = group.ok_runs
        counts = _summed_confusion(runs)
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
        # The square-root scale makes a few misclassified rows visible.
        image = axes.imshow(shares, cmap="Blues", norm=PowerNorm(0.5, 0, 1))
        for (true, predicted), count in np.ndenumerate(counts):
            axes.text(
                predicted,
                true,
                str(count),
                ha="center",
                va="center",
                fontsize="small" if classes > 6 else "medium",
                color="white" if shares[true, predicted] > 0.35 else "black",
            )
        axes.set_xticks(
            range(classes),
            labels=class_names,
            rotation=rotation,
            ha="right" if rotation else "center",
            rotation_mode="anchor",
        )
        axes.set_yticks(range(classes), labels=class_names)
        axes.set_xlabel("predicted class")
        axes.set_ylabel("true class")
        title = group.name
        if len(runs) > 1:
            title += f" ({len(runs)} runs summed)"
        axes.set_title(title)
    if image is not None:
        figure.colorbar(
            image,
            ax=grid,
            shrink=0.8,
            label="share of the true class's test rows (square-root scale)",
        )
    figure.suptitle(
        f"Confusion matrices on the test rows ({comparison.data.test_rows} per run)"
    )
    return figure


def _majority_share(runs: Sequence[RunResult]) -> float | None:
    """Return the test accuracy of always predicting the most frequent class."""
    for run in runs:
        if run.metrics is not None:
            supports = [entry.support for entry in run.metrics.per_class]
            if sum(supports):
                return max(supports) / sum(supports)
    return None


def _legend_below(figure: Figure, axes: Any) -> None:
    """Put the legend of ``axes`` under the plot, where it covers no bar."""
    handles, labels = axes.get_legend_handles_labels()
    if not handles:
        return
    figure.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=len(handles),
        fontsize="small",
        frameon=False,
    )


def _mark_missing(axes: Any, position: int, group: RunGroup) -> None:
    statuses = sorted({run.status for run in group.runs})
    axes.text(
        position,
        0.5,
        "no result: " + ", ".join(statuses),
        transform=axes.get_xaxis_transform(),
        ha="center",
        va="center",
        rotation=90,
        color="firebrick",
    )


def plot_test_accuracy(comparison: Comparison) -> Figure | None:
    """Draw a bar of mean test accuracy per backend.

    Error bars are one sample standard deviation (ddof=1) over the runs of a
    backend and appear only for backends with several runs, whose single
    runs are drawn as dots. A dashed line marks the majority-class share.
    """
    groups = group_runs(comparison.runs)
    if not any(group.ok_runs for group in groups):
        return None
    colors = group_colors(groups)
    names = [group.name for group in groups]
    figure = Figure(
        figsize=(max(5.0, 1.4 + 0.9 * len(groups)), 4.8), layout="constrained"
    )
    axes = figure.subplots()
    error_label = "±1 sample std over runs"
    dots_label = "single runs"
    for position, group in enumerate(groups):
        values = [run.metrics.test_accuracy for run in group.ok_runs]
        if not values:
            _mark_missing(axes, position, group)
            continue
        mean = float(np.mean(values))
        axes.bar(position, mean, width=0.6, color=colors[group.name], alpha=0.85)
        top = mean
        if len(values) > 1:
            spread = float(np.std(values, ddof=1))
            axes.errorbar(
                position,
                mean,
                yerr=spread,
                fmt="none",
                ecolor="black",
                capsize=6,
                label=error_label,
            )
            axes.scatter(
                np.full(len(values), position + RUN_DOTS_OFFSET),
                values,
                s=14,
                color="black",
                zorder=3,
                label=dots_label,
            )
            error_label = dots_label = "_nolegend_"
            top = max(mean + spread, *values)
        axes.annotate(
            f"{mean:.3f}",
            (position, top),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize="small",
        )
    majority = _majority_share(comparison.runs)
    if majority is not None:
        axes.axhline(
            majority,
            color="dimgray",
            linestyle="--",
            linewidth=1,
            label=f"majority-class baseline ({majority:.3f})",
        )
    rotation = _tick_rotation(names)
    axes.set_xticks(
        range(len(groups)),
        labels=names,
        rotation=rotation,
        ha="right" if rotation else "center",
        rotation_mode="anchor",
    )
    axes.set_xlim(-0.6, len(groups) - 0.4)
    axes.set_ylim(0, 1.1)
    axes.set_yticks(np.linspace(0, 1, 6))
    axes.grid(True, axis="y", alpha=0.3)
    axes.set_xlabel("backend")
    axes.set_ylabel("test accuracy (fraction of test rows)")
    axes.set_title(f"Test accuracy per backend ({comparison.data.test_rows} test rows)")
    _legend_below(figure, axes)
    return figure


def plot_fit_time(comparison: Comparison) -> Figure | None:
    """Draw the mean fit time per backend on a log scale.

    Backends with several runs get min-max error bars and a dot per run. The
    log scale keeps backends that differ by orders of magnitude readable.
    """
    groups = group_runs(comparison.runs)
    timed = {
        group.name: [
            run.timings.fit_seconds
            for run in group.ok_runs
            if run.timings.fit_seconds is not None and run.timings.fit_seconds > 0
        ]
        for group in groups
    }
    if not any(timed.values()):
        return None
    colors = group_colors(groups)
    names = [group.name for group in groups]
    figure = Figure(
        figsize=(max(5.0, 1.4 + 0.9 * len(groups)), 4.8), layout="constrained"
    )
    axes = figure.subplots()
    axes.set_yscale("log")
    range_label = "min to max over runs"
    dots_label = "single runs"
    everything = [value for values in timed.values() for value in values]
    for position, group in enumerate(groups):
        values = timed[group.name]
        if not values:
            _mark_missing(axes, position, group)
            continue
        mean = float(np.mean(values))
        axes.vlines(
            position,
            min(everything) / 3,
            mean,
            color=colors[group.name],
            linewidth=3,
            alpha=0.5,
        )
        axes.scatter([position], [mean], s=80, color=colors[group.name], zorder=3)
        if len(values) > 1:
            axes.errorbar(
                position,
                mean,
                yerr=[[mean - min(values)], [max(values) - mean]],
                fmt="none",
                ecolor="black",
                capsize=6,
                label=range_label,
            )
            # Left of the marker, because the value label is on its right.
            axes.scatter(
                np.full(len(values), position - RUN_DOTS_OFFSET),
                values,
                s=14,
                color="black",
                zorder=4,
                label=dots_label,
            )
            range_label = dots_label = "_nolegend_"
        axes.annotate(
            _format_seconds(mean),
            (position, mean),
            xytext=(10, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize="small",
        )
    rotation = _tick_rotation(names)
    axes.set_xticks(
        range(len(groups)),
        labels=names,
        rotation=rotation,
        ha="right" if rotation else "center",
        rotation_mode="anchor",
    )
    axes.set_xlim(-0.6, len(groups) - 0.2)
    axes.set_ylim(min(everything) / 3, max(everything) * 3)
    _label_log_axis(axes.yaxis, _format_seconds)
    axes.grid(True, axis="y", which="major", alpha=0.3)
    axes.set_xlabel("backend")
    axes.set_ylabel("fit time (seconds, log scale)")
    axes.set_title("Training time per backend (Backend.fit, wall clock)")
    if any(len(values) > 1 for values in timed.values()):
        _legend_below(figure, axes)
    return figure


PlotFunction = Callable[[Comparison], Figure | None]

# File stem, title, drawing function and caption of every plot, in report order.
PLOTS: tuple[tuple[str, str, PlotFunction, str], ...] = (
    (
        "test_accuracy",
        "Test accuracy per backend",
        plot_test_accuracy,
        "Bars: mean test accuracy of each backend. Where a backend ran several"
        " times, error bars show one sample standard deviation and dots the"
        " single runs. The dashed line is the accuracy of always predicting"
        " the most frequent class.",
    ),
    (
        "fit_time",
        "Fit time per backend",
        plot_fit_time,
        "Seconds spent in Backend.fit after the toolkit was imported, on a log"
        " scale. Where a backend ran several times, the dot is the mean and the"
        " error bar spans the fastest to the slowest run.",
    ),
    (
        "learning_curves",
        "Learning curves",
        plot_learning_curves,
        "Training loss and training accuracy after each epoch, as each backend"
        " reported them. Where a backend ran several times, the line is the"
        " mean and the band spans the minimum to the maximum.",
    ),
    (
        "confusion_matrices",
        "Confusion matrices",
        plot_confusion_matrices,
        "Test rows by true class (rows) and predicted class (columns). The"
        " colour is the share of the true class on a square-root scale, so a"
        " few misclassified rows stand out. Runs of one backend are summed.",
    ),
)


def write_plots(
    comparison: Comparison, directory: Path, formats: Sequence[str] = ("png",)
) -> list[PlotImage]:
    """Save every plot that has data into ``directory`` in each of ``formats``."""
    directory.mkdir(parents=True, exist_ok=True)
    images = []
    for stem, title, draw, caption in PLOTS:
        figure = draw(comparison)
        if figure is None:
            continue
        files = {}
        for fmt in formats:
            path = directory / f"{stem}.{fmt}"
            with rc_context({"svg.hashsalt": SVG_HASH_SALT}):
                figure.savefig(path, format=fmt, dpi=DPI, metadata=SAVE_METADATA[fmt])
            files[fmt] = path
        width = float(figure.get_size_inches()[0])
        images.append(PlotImage(stem, title, caption, files, width))
    return images
