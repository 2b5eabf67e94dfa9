"""Turn a Comparison into the text formats that ``--format`` offers.

The Markdown and HTML reports live in ``reports``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from irisfw.results import (
    Comparison,
    DataSummary,
    Estimate,
    GroupSummary,
    RunResult,
    SplitInfo,
)

if TYPE_CHECKING:
    from irisfw.reports import PlotImage

FORMATS = ("table", "json", "csv", "markdown", "html")

COLUMNS = (
    "backend",
    "status",
    "test acc",
    "train acc",
    "log loss",
    "macro F1",
    "import s",
    "fit s",
    "pred ms",
    "toolkit",
)
SUMMARY_COLUMNS = (
    "backend",
    "spec",
    "runs",
    "test acc",
    "95% CI",
    "macro F1",
    "log loss",
    "median fit s",
)
TABLE_WIDTH = 150
COLUMN_GLOSSARY = (
    "log loss: test cross-entropy in nats; import s: seconds to import the"
    " toolkit in the run's process; fit s: seconds of training after that;"
    " pred ms: one predict_proba call on the test rows after an untimed"
    " warm-up call"
)


def _several_specs(comparison: Comparison) -> bool:
    return len({run.spec.label for run in comparison.runs}) > 1


def is_repeated(comparison: Comparison) -> bool:
    """Return whether some backend and spec ran more than once (seeds or folds)."""
    return any(group.runs > 1 for group in comparison.summary)


def _estimate(value: Estimate | None) -> str:
    if value is None:
        return "-"
    if value.std is None:
        return f"{value.mean:.3f}"
    return f"{value.mean:.3f} +/- {value.std:.3f}"


def _interval(value: Estimate | None) -> str:
    if value is None or value.ci_low is None or value.ci_high is None:
        return "-"
    return f"[{value.ci_low:.3f}, {value.ci_high:.3f}]"


def summary_cells(group: GroupSummary) -> list[str]:
    return [
        group.label,
        group.spec,
        f"{group.ok_runs}/{group.runs}",
        _estimate(group.test_accuracy),
        _interval(group.test_accuracy),
        _estimate(group.macro_f1),
        _estimate(group.test_log_loss),
        _number(group.median_fit_seconds, 2),
    ]


def pairwise_lines(comparison: Comparison) -> list[str]:
    lines = []
    for test in comparison.pairwise:
        p_value = "-" if test.p_value is None else f"{test.p_value:.3g}"
        mark = " *" if test.significant else ""
        lines.append(
            f"{test.first} vs {test.second}: accuracy difference"
            f" {test.mean_difference:+.3f} over {test.pairs} splits, p = {p_value}{mark}"
        )
    if lines:
        lines.append(
            f"* p < 0.05 in a {comparison.pairwise[0].test} on test accuracy;"
            " see docs/statistics.md for what it assumes"
        )
    return lines


def sorted_runs(comparison: Comparison) -> list[RunResult]:
    """Order runs best first: ok runs by test accuracy, then the others."""

    def key(run: RunResult) -> tuple[int, float, str]:
        if run.metrics is None:
            return (1, 0.0, run.label)
        return (0, -run.metrics.test_accuracy, run.label)

    return sorted(comparison.runs, key=key)


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def run_cells(run: RunResult) -> list[str]:
    metrics = run.metrics
    predict_ms = (
        None
        if run.timings.predict_seconds is None
        else run.timings.predict_seconds * 1000
    )
    return [
        run.label,
        run.status,
        _number(metrics and metrics.test_accuracy),
        _number(metrics and metrics.train_accuracy),
        _number(metrics and metrics.test_log_loss),
        _number(metrics and metrics.macro_f1),
        _number(run.timings.import_seconds, 2),
        _number(run.timings.fit_seconds, 2),
        _number(predict_ms, 2),
        f"{run.toolkit.name} {run.toolkit.version or '?'}",
    ]


def summary_lines(comparison: Comparison) -> list[str]:
    return data_summary_lines(comparison.data, comparison.splits)


def data_summary_lines(
    data: DataSummary, splits: list[SplitInfo] | None = None
) -> list[str]:
    """Describe the prepared data: source, classes, split, exclusions, warnings."""
    classes = ", ".join(
        f"{name} ({count})"
        for name, count in zip(data.class_names, data.class_counts, strict=True)
    )
    lines = [
        f"data: {data.source}, target {data.target!r}",
        f"rows: {data.rows}, features: {data.features}, classes: {classes}",
    ]
    splits = splits or []
    if len(splits) <= 1:
        lines.append(
            f"split: {data.train_rows} train / {data.test_rows} test"
            f" (test size {data.test_size:g}, seed {data.split_seed}, stratified)"
        )
        lines.append(f"fingerprint: {data.fingerprint}")
    else:
        seeds = sorted({split.seed for split in splits})
        seed_text = (
            f"seeds {seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
        )
        if splits[0].folds:
            kind = f"stratified {splits[0].folds}-fold cross-validation, {seed_text}"
        else:
            kind = f"stratified holdout of {data.test_size:g}, {seed_text}"
        lines.append(f"splits: {len(splits)} ({kind}); every backend trains on each")
    if data.excluded_columns:
        excluded = "; ".join(
            f"{column.name} ({column.reason})" for column in data.excluded_columns
        )
        lines.append(f"excluded columns: {excluded}")
    if data.dropped_rows:
        lines.append(f"dropped rows: {data.dropped_rows}")
    lines += [f"data warning: {warning}" for warning in data.warnings]
    return lines


def table_notes(comparison: Comparison) -> list[str]:
    notes = []
    specs = {run.spec.label for run in comparison.runs}
    if len(specs) == 1:
        notes.append(f"spec: {specs.pop()}")
    messages: dict[str, int] = {}
    for run in sorted_runs(comparison):
        if run.error:
            text = f"{run.label} {run.status}: {run.error.splitlines()[0]}"
            messages[text] = messages.get(text, 0) + 1
        for warning in run.warnings:
            text = f"{run.label} warning: {warning.splitlines()[0]}"
            messages[text] = messages.get(text, 0) + 1
    for text, count in messages.items():
        notes.append(text if count == 1 else f"{text} ({count} runs)")
    notes.append(COLUMN_GLOSSARY)
    return notes


def table_console() -> Console:
    """Return a stdout console that keeps the table unwrapped when piped."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=TABLE_WIDTH)
    return console


def render_table(comparison: Comparison, console: Console) -> None:
    for line in summary_lines(comparison):
        console.print(line, highlight=False, markup=False)
    if is_repeated(comparison):
        _render_summary_table(comparison, console)
    else:
        _render_run_table(comparison, console)
    for note in table_notes(comparison):
        console.print(note, highlight=False, markup=False, soft_wrap=True)


def _render_summary_table(comparison: Comparison, console: Console) -> None:
    table = Table(show_lines=False)
    show_spec = _several_specs(comparison)
    for column in SUMMARY_COLUMNS:
        if column == "spec" and not show_spec:
            continue
        table.add_column(
            column,
            justify="left" if column in {"backend", "spec", "95% CI"} else "right",
            no_wrap=column not in {"backend", "spec"},
        )
    for group in comparison.summary:
        cells = summary_cells(group)
        if not show_spec:
            del cells[SUMMARY_COLUMNS.index("spec")]
        table.add_row(*cells, style=None if group.ok_runs == group.runs else "red")
    console.print(table)
    for line in pairwise_lines(comparison):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _render_run_table(comparison: Comparison, console: Console) -> None:
    table = Table(show_lines=False)
    for column in COLUMNS:
        table.add_column(
            column,
            justify="left" if column in {"backend", "status", "toolkit"} else "right",
        )
    for run in sorted_runs(comparison):
        table.add_row(*run_cells(run), style=None if run.status == "ok" else "red")
    console.print(table)


def render_json(comparison: Comparison) -> str:
    return comparison.model_dump_json(indent=2) + "\n"


def flat_row(run: RunResult, comparison: Comparison) -> dict[str, Any]:
    metrics = run.metrics
    row: dict[str, Any] = {
        "backend": run.backend,
        "label": run.label,
        "status": run.status,
        "seed": run.seed,
        "spec": run.spec.label,
        "test_accuracy": metrics and metrics.test_accuracy,
        "train_accuracy": metrics and metrics.train_accuracy,
        "test_log_loss": metrics and metrics.test_log_loss,
        "macro_f1": metrics and metrics.macro_f1,
        "import_seconds": run.timings.import_seconds,
        "fit_seconds": run.timings.fit_seconds,
        "predict_seconds": run.timings.predict_seconds,
        "epochs_recorded": len(run.history),
        "toolkit": run.toolkit.name,
        "toolkit_version": run.toolkit.version,
        "plugin": run.plugin.distribution,
        "plugin_version": run.plugin.version,
        "fingerprint": run.fingerprint,
        "split": run.split,
        "threads": run.threads,
        "worker_pid": run.worker_pid,
        "warnings": len(run.warnings),
        "error": run.error.splitlines()[0] if run.error else None,
    }
    if metrics is not None:
        for class_metrics in metrics.per_class:
            row[f"precision[{class_metrics.name}]"] = class_metrics.precision
            row[f"recall[{class_metrics.name}]"] = class_metrics.recall
    return row


def render_csv(comparison: Comparison) -> str:
    rows = [flat_row(run, comparison) for run in sorted_runs(comparison)]
    fieldnames: dict[str, None] = {}
    for row in rows:
        fieldnames.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


TEXT_RENDERERS: dict[str, Callable[[Comparison], str]] = {
    "json": render_json,
    "csv": render_csv,
}


def render_text(
    comparison: Comparison,
    fmt: str,
    *,
    plots: Sequence[PlotImage] = (),
    link_base: Path | None = None,
) -> str:
    """Render any format, the table included, as plain text.

    ``plots`` appear in the Markdown and HTML reports only: HTML embeds them
    and Markdown links them by a path relative to ``link_base``, the folder
    the report is written to (default: the working directory).
    """
    if fmt == "table":
        buffer = io.StringIO()
        render_table(
            comparison, Console(file=buffer, width=TABLE_WIDTH, color_system=None)
        )
        return buffer.getvalue()
    if fmt in {"markdown", "html"}:
        from irisfw.reports import render_html, render_markdown

        if fmt == "html":
            return render_html(comparison, plots)
        return render_markdown(comparison, plots, link_base or Path.cwd())
    return TEXT_RENDERERS[fmt](comparison)
