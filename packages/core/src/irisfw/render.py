"""Turn a Comparison into the text formats that ``--format`` offers."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from irisfw.results import Comparison, DataSummary, RunResult

FORMATS = ("table", "json", "csv", "markdown")

COLUMNS = (
    "backend",
    "status",
    "test acc",
    "train acc",
    "log loss",
    "macro F1",
    "fit s",
    "pred ms",
    "toolkit",
)
TABLE_WIDTH = 120


def sorted_runs(comparison: Comparison) -> list[RunResult]:
    """Order runs best first: ok runs by test accuracy, then the others."""

    def key(run: RunResult) -> tuple[int, float, str]:
        if run.metrics is None:
            return (1, 0.0, run.label)
        return (0, -run.metrics.test_accuracy, run.label)

    return sorted(comparison.runs, key=key)


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cells(run: RunResult) -> list[str]:
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
        _number(run.timings.fit_seconds, 2),
        _number(predict_ms, 2),
        f"{run.toolkit.name} {run.toolkit.version or '?'}",
    ]


def summary_lines(comparison: Comparison) -> list[str]:
    return data_summary_lines(comparison.data)


def data_summary_lines(data: DataSummary) -> list[str]:
    """Describe the prepared data: source, classes, split, exclusions, warnings."""
    classes = ", ".join(
        f"{name} ({count})"
        for name, count in zip(data.class_names, data.class_counts, strict=True)
    )
    lines = [
        f"data: {data.source}, target {data.target!r}",
        f"rows: {data.rows}, features: {data.features}, classes: {classes}",
        f"split: {data.train_rows} train / {data.test_rows} test"
        f" (test size {data.test_size:g}, seed {data.split_seed}, stratified)",
        f"fingerprint: {data.fingerprint}",
    ]
    if data.excluded_columns:
        excluded = "; ".join(
            f"{column.name} ({column.reason})" for column in data.excluded_columns
        )
        lines.append(f"excluded columns: {excluded}")
    if data.dropped_rows:
        lines.append(f"dropped rows: {data.dropped_rows}")
    lines += [f"data warning: {warning}" for warning in data.warnings]
    return lines


def _notes(comparison: Comparison) -> list[str]:
    notes = []
    specs = {run.spec.label for run in comparison.runs}
    if len(specs) == 1:
        notes.append(f"spec: {specs.pop()}")
    for run in sorted_runs(comparison):
        if run.error:
            notes.append(f"{run.label} failed: {run.error.splitlines()[0]}")
        for warning in run.warnings:
            notes.append(f"{run.label} warning: {warning.splitlines()[0]}")
    notes.append(
        "log loss: test cross-entropy in nats; fit s: wall seconds of training,"
        " including any toolkit import the backend performs; pred ms: one predict_proba call on the test"
        " rows after an untimed warm-up call"
    )
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
    table = Table(show_lines=False)
    for column in COLUMNS:
        table.add_column(
            column,
            justify="left" if column in {"backend", "status", "toolkit"} else "right",
        )
    for run in sorted_runs(comparison):
        table.add_row(*_cells(run), style=None if run.status == "ok" else "red")
    console.print(table)
    for note in _notes(comparison):
        console.print(note, highlight=False, markup=False, soft_wrap=True)


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
        "fit_seconds": run.timings.fit_seconds,
        "predict_seconds": run.timings.predict_seconds,
        "epochs_recorded": len(run.history),
        "toolkit": run.toolkit.name,
        "toolkit_version": run.toolkit.version,
        "plugin": run.plugin.distribution,
        "plugin_version": run.plugin.version,
        "fingerprint": run.fingerprint,
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


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(comparison: Comparison) -> str:
    lines = ["# irisfw comparison", ""]
    lines += [f"- {line}" for line in summary_lines(comparison)]
    lines += ["", "| " + " | ".join(COLUMNS) + " |"]
    lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    for run in sorted_runs(comparison):
        lines.append("| " + " | ".join(_markdown_escape(c) for c in _cells(run)) + " |")
    lines.append("")
    lines += [f"- {_markdown_escape(note)}" for note in _notes(comparison)]
    return "\n".join(lines) + "\n"


TEXT_RENDERERS: dict[str, Callable[[Comparison], str]] = {
    "json": render_json,
    "csv": render_csv,
    "markdown": render_markdown,
}


def render_text(comparison: Comparison, fmt: str) -> str:
    """Render any format, the table included, as plain text."""
    if fmt == "table":
        buffer = io.StringIO()
        render_table(
            comparison, Console(file=buffer, width=TABLE_WIDTH, color_system=None)
        )
        return buffer.getvalue()
    return TEXT_RENDERERS[fmt](comparison)
