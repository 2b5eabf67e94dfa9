"""Plots: the matplotlib figures themselves and the files written from them."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer, ErrorbarContainer

from irisfw.errors import IrisfwError
from irisfw.plots import (
    parse_plot_formats,
    plot_confusion_matrices,
    plot_fit_time,
    plot_learning_curves,
    plot_test_accuracy,
    write_plots,
)
from irisfw.results import Comparison, EpochRecord, RunResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = [
    plot_learning_curves,
    plot_confusion_matrices,
    plot_test_accuracy,
    plot_fit_time,
]


@pytest.fixture(scope="module")
def comparison(two_backend_results) -> Comparison:
    """sklearn, which records loss per epoch, and constant, which records none."""
    return Comparison.model_validate_json(two_backend_results.read_text())


def sklearn_run(comparison: Comparison) -> RunResult:
    return next(run for run in comparison.runs if run.backend == "sklearn")


def repeated_runs(
    run: RunResult, label: str, accuracies: list[float], fit_seconds: list[float]
) -> list[RunResult]:
    """Copy ``run`` once per seed under ``label``, with accuracy per epoch."""
    runs = []
    for seed, (accuracy, seconds) in enumerate(
        zip(accuracies, fit_seconds, strict=True)
    ):
        history = [
            EpochRecord(
                epoch=epoch, loss=1.0 / (epoch + seed), accuracy=0.5 + 0.01 * seed
            )
            for epoch in range(1, 11)
        ]
        runs.append(
            run.model_copy(
                update={
                    "backend": label,
                    "label": label,
                    "seed": seed,
                    "history": history,
                    "metrics": run.metrics.model_copy(
                        update={"test_accuracy": accuracy}
                    ),
                    "timings": run.timings.model_copy(update={"fit_seconds": seconds}),
                }
            )
        )
    return runs


def failed_run(run: RunResult, label: str) -> RunResult:
    return run.model_copy(
        update={
            "backend": label,
            "label": label,
            "status": "failed",
            "error": "RuntimeError: boom",
            "metrics": None,
            "history": [],
        }
    )


@pytest.fixture
def with_repeats(comparison) -> Comparison:
    """sklearn once, plus three seeds of a backend that records accuracy."""
    repeats = repeated_runs(
        sklearn_run(comparison), "repeated", [0.9, 0.95, 1.0], [0.1, 0.2, 0.4]
    )
    return comparison.model_copy(update={"runs": [sklearn_run(comparison), *repeats]})


def legend_texts(figure) -> list[str]:
    return [text.get_text() for legend in figure.legends for text in legend.get_texts()]


def tick_texts(axes) -> list[str]:
    return [label.get_text() for label in axes.get_xticklabels()]


def png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# Learning curves


def test_learning_curves_labels_and_legend(comparison):
    figure = plot_learning_curves(comparison)

    [axes] = figure.axes
    assert figure.get_suptitle() == "Learning curves"
    assert axes.get_title() == "Training loss per epoch"
    assert axes.get_xlabel() == "epoch"
    assert "cross-entropy, nats" in axes.get_ylabel()
    assert axes.get_yscale() == "log"
    assert legend_texts(figure) == ["sklearn"]
    [line] = axes.get_lines()
    assert list(line.get_xdata()) == list(range(1, 21))
    loss = [record.loss for record in sklearn_run(comparison).history]
    assert list(line.get_ydata()) == pytest.approx(loss)


def test_learning_curves_mean_and_band_for_repeats(with_repeats):
    figure = plot_learning_curves(with_repeats)

    loss_axes, accuracy_axes = figure.axes
    assert legend_texts(figure) == ["repeated (3 runs)", "sklearn"]
    assert "mean over runs" in figure.get_suptitle()
    assert len(loss_axes.collections) == 1
    repeated_line = loss_axes.get_lines()[0]
    expected = np.mean(
        [[1.0 / (epoch + seed) for seed in range(3)] for epoch in range(1, 11)], axis=1
    )
    assert list(repeated_line.get_ydata()) == pytest.approx(expected)
    band = loss_axes.collections[0].get_paths()[0].vertices[:, 1]
    assert band.max() == pytest.approx(1.0)
    assert accuracy_axes.get_title() == "Training accuracy per epoch"
    assert accuracy_axes.get_ylabel() == "training accuracy (fraction of training rows)"
    assert len(accuracy_axes.get_lines()) == 1
    assert list(accuracy_axes.get_lines()[0].get_ydata()) == pytest.approx([0.51] * 10)
    assert "not recorded per epoch: sklearn" in [
        text.get_text() for text in accuracy_axes.texts
    ]


def test_learning_curves_ten_backends_distinct_colors(comparison):
    runs = []
    for index in range(10):
        runs += repeated_runs(sklearn_run(comparison), f"backend-{index}", [0.9], [0.1])
    figure = plot_learning_curves(comparison.model_copy(update={"runs": runs}))

    loss_axes = figure.axes[0]
    colors = {tuple(line.get_color()) for line in loss_axes.get_lines()}
    assert len(colors) == 10
    assert legend_texts(figure) == [f"backend-{index}" for index in range(10)]


# Confusion matrices


def test_confusion_matrices_per_backend(comparison):
    figure = plot_confusion_matrices(comparison)

    panels = [axes for axes in figure.axes if axes.get_title()]
    assert [axes.get_title() for axes in panels] == ["constant", "sklearn"]
    class_names = comparison.data.class_names
    for axes in panels:
        assert tick_texts(axes) == class_names
        assert [label.get_text() for label in axes.get_yticklabels()] == class_names
        assert axes.get_xlabel() == "predicted class"
        assert axes.get_ylabel() == "true class"
        counts = [int(text.get_text()) for text in axes.texts]
        assert sum(counts) == comparison.data.test_rows
    constant_counts = [int(text.get_text()) for text in panels[0].texts]
    assert constant_counts == [15, 0, 0, 15, 0, 0, 15, 0, 0]
    assert "Confusion matrices" in figure.get_suptitle()
    assert any(
        axes.get_ylabel() == "share of the true class's test rows (square-root scale)"
        for axes in figure.axes
    )


def test_confusion_matrices_sum_repeats(with_repeats):
    figure = plot_confusion_matrices(with_repeats)

    panel = next(
        axes for axes in figure.axes if axes.get_title().startswith("repeated")
    )
    assert panel.get_title() == "repeated (3 runs summed)"
    assert sum(int(text.get_text()) for text in panel.texts) == 3 * 45


# Test accuracy


def test_test_accuracy_bars(comparison):
    figure = plot_test_accuracy(comparison)

    [axes] = figure.axes
    assert tick_texts(axes) == ["constant", "sklearn"]
    assert axes.get_title() == "Test accuracy per backend (45 test rows)"
    assert axes.get_xlabel() == "backend"
    assert axes.get_ylabel() == "test accuracy (fraction of test rows)"
    bars = [
        container
        for container in axes.containers
        if isinstance(container, BarContainer)
    ]
    heights = [patch.get_height() for container in bars for patch in container]
    expected = [1 / 3, sklearn_run(comparison).metrics.test_accuracy]
    assert heights == pytest.approx(expected)
    assert not any(
        isinstance(container, ErrorbarContainer) for container in axes.containers
    )
    assert legend_texts(figure) == ["majority-class baseline (0.333)"]


def test_test_accuracy_error_bar_is_sample_std(with_repeats):
    figure = plot_test_accuracy(with_repeats)

    [axes] = figure.axes
    [errorbar] = [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
    segment = errorbar.lines[2][0].get_segments()[0]
    std = np.std([0.9, 0.95, 1.0], ddof=1)
    assert segment[0][1] == pytest.approx(0.95 - std)
    assert segment[1][1] == pytest.approx(0.95 + std)
    assert "±1 sample std over runs" in legend_texts(figure)
    assert "single runs" in legend_texts(figure)


def test_test_accuracy_marks_failed_backend(comparison):
    runs = [*comparison.runs, failed_run(sklearn_run(comparison), "broken")]
    figure = plot_test_accuracy(comparison.model_copy(update={"runs": runs}))

    [axes] = figure.axes
    assert tick_texts(axes) == ["broken", "constant", "sklearn"]
    assert "no result: failed" in [text.get_text() for text in axes.texts]


def test_test_accuracy_ten_backends_wider(comparison):
    runs = []
    for index in range(10):
        runs += repeated_runs(sklearn_run(comparison), f"toolkit-{index}", [0.9], [0.1])
    many = plot_test_accuracy(comparison.model_copy(update={"runs": runs}))
    two = plot_test_accuracy(comparison)

    assert many.get_size_inches()[0] > two.get_size_inches()[0]
    [axes] = many.axes
    assert all(label.get_rotation() == 30 for label in axes.get_xticklabels())
    colors = {tuple(patch.get_facecolor()) for patch in axes.patches}
    assert len(colors) == 10


# Fit time


def test_fit_time_log_scale(comparison):
    figure = plot_fit_time(comparison)

    [axes] = figure.axes
    assert axes.get_yscale() == "log"
    assert axes.get_ylabel() == "fit time (seconds, log scale)"
    assert axes.get_xlabel() == "backend"
    assert axes.get_title().startswith("Training time per backend")
    assert tick_texts(axes) == ["constant", "sklearn"]
    markers = [
        collection.get_offsets()[0][1]
        for collection in axes.collections
        if isinstance(collection, PathCollection)
    ]
    by_label = sorted(comparison.runs, key=lambda run: run.label)
    assert markers == pytest.approx([run.timings.fit_seconds for run in by_label])


def test_fit_time_range_for_repeats(with_repeats):
    figure = plot_fit_time(with_repeats)

    [axes] = figure.axes
    [errorbar] = [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
    segment = errorbar.lines[2][0].get_segments()[0]
    assert segment[0][1] == pytest.approx(0.1)
    assert segment[1][1] == pytest.approx(0.4)
    assert "min to max over runs" in legend_texts(figure)


# Nothing to draw, and files


def test_all_failed_draws_nothing(comparison, tmp_path):
    runs = [failed_run(run, run.label) for run in comparison.runs]
    failed = comparison.model_copy(update={"runs": runs})

    assert [plot(failed) for plot in PLOTS] == [None] * len(PLOTS)
    assert write_plots(failed, tmp_path / "plots") == []


def test_write_plots_png_and_svg(comparison, tmp_path):
    images = write_plots(comparison, tmp_path / "plots", ("png", "svg"))

    assert [image.name for image in images] == [
        "test_accuracy",
        "fit_time",
        "learning_curves",
        "confusion_matrices",
    ]
    for image in images:
        assert set(image.files) == {"png", "svg"}
        data = image.files["png"].read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        width, height = png_size(data)
        assert 600 <= width <= 4000, image.name
        assert 400 <= height <= 3000, image.name
        svg = image.files["svg"].read_text()
        assert svg.startswith("<?xml")
        assert "<svg" in svg
        assert image.width_inches == pytest.approx(width / 150)


def test_write_plots_reproducible(comparison, tmp_path):
    first = write_plots(comparison, tmp_path / "first", ("png", "svg", "pdf"))
    second = write_plots(comparison, tmp_path / "second", ("png", "svg", "pdf"))

    for first_image, second_image in zip(first, second, strict=True):
        for fmt in ("png", "svg", "pdf"):
            first_bytes = first_image.files[fmt].read_bytes()
            second_bytes = second_image.files[fmt].read_bytes()
            assert first_bytes == second_bytes, f"{first_image.name}.{fmt}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("png", ("png",)), ("png, SVG", ("png", "svg")), ("svg,pdf,svg", ("svg", "pdf"))],
)
def test_parse_plot_formats(text, expected):
    assert parse_plot_formats(text) == expected


@pytest.mark.parametrize("text", ["", "gif", "png,jpeg", " , "])
def test_parse_plot_formats_rejects(text):
    with pytest.raises(IrisfwError, match="--plot-format"):
        parse_plot_formats(text)
