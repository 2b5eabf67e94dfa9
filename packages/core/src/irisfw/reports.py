"""Markdown and HTML reports of a Comparison.

Both reports are rendered from one list of blocks (headings, paragraphs,
lists, tables, plots, preformatted text), so they carry the same content.
That content is the data summary, the model, the results table, the plots,
per-class metrics, failures and warnings, and the environment. This module
imports only the standard library and light irisfw modules, so re-rendering
a saved file loads no numerical library.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from irisfw.grouping import group_runs, run_names
from irisfw.render import (
    COLUMN_GLOSSARY,
    COLUMNS,
    SUMMARY_COLUMNS,
    is_repeated,
    pairwise_lines,
    run_cells,
    sorted_runs,
    summary_cells,
    summary_lines,
)
from irisfw.results import Comparison, RunResult

# Columns of the results table that contain text. The others are right-aligned.
TEXT_COLUMNS = {"backend", "status", "toolkit"}
# Image formats a browser shows inline, in the order a report prefers them.
EMBEDDABLE_FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
# CSS pixels per inch, used to show a plot at the size it was drawn for.
CSS_PIXELS_PER_INCH = 96
FIGURE_SHRINK = 0.7


@dataclass(frozen=True)
class PlotImage:
    """A plot written to disk: its title, caption, size and one file per format."""

    name: str
    title: str
    caption: str
    files: dict[str, Path]
    width_inches: float | None = None

    def embeddable_file(self) -> tuple[str, Path] | None:
        """Return the format and path of the file a page can show inline."""
        for fmt in EMBEDDABLE_FORMATS:
            if fmt in self.files:
                return fmt, self.files[fmt]
        return None


# Blocks of a report, rendered by render_markdown and render_html.


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Items:
    items: list[str]


@dataclass(frozen=True)
class TableBlock:
    header: list[str]
    rows: list[list[str]]
    numeric_columns: set[int] = field(default_factory=set)
    failed_rows: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Plots:
    images: Sequence[PlotImage]


@dataclass(frozen=True)
class Details:
    """A titled block of preformatted text, such as a traceback."""

    summary: str
    text: str


Block = Heading | Paragraph | Items | TableBlock | Plots | Details


def _data_blocks(comparison: Comparison) -> list[Block]:
    data = comparison.data
    items = list(summary_lines(comparison))
    items.insert(2, "features: " + ", ".join(data.feature_names))
    supports = _class_supports(comparison.runs)
    if supports is not None:
        items.append(
            "test rows per class: "
            + ", ".join(
                f"{name} {count}"
                for name, count in zip(data.class_names, supports, strict=True)
            )
        )
    return [Heading(2, "Data"), Items(items)]


def _class_supports(runs: Iterable[RunResult]) -> list[int] | None:
    """Return the test rows per class from the first run with metrics.

    Every run of a comparison uses the same split, so any run will do.
    """
    for run in runs:
        if run.metrics is not None:
            return [entry.support for entry in run.metrics.per_class]
    return None


def _model_blocks(comparison: Comparison) -> list[Block]:
    if not comparison.runs:
        return []
    specs = {run.spec.label: run.spec for run in comparison.runs}
    blocks: list[Block] = [Heading(2, "Model")]
    if len(specs) > 1:
        blocks.append(
            Paragraph(
                "The runs trained different specs. Each spec label reads"
                " layers-activation-optimizer-rate-epochs-batch-loss:"
            )
        )
        blocks.append(Items(sorted(specs)))
        return blocks
    spec = next(iter(specs.values()))
    seeds = sorted({run.seed for run in comparison.runs})
    rows = [
        ["hidden layers", ", ".join(map(str, spec.hidden_layers)) + " units"],
        ["activation", spec.activation],
        ["optimizer", spec.optimizer],
        ["learning rate", f"{spec.learning_rate:g}"],
        ["epochs", str(spec.epochs)],
        [
            "batch size",
            "full batch" if spec.batch_size is None else f"{spec.batch_size} rows",
        ],
        ["loss", spec.loss],
        ["seed" if len(seeds) == 1 else "seeds", ", ".join(map(str, seeds))],
    ]
    blocks.append(TableBlock(["setting", "value"], rows))
    return blocks


def _results_blocks(comparison: Comparison) -> list[Block]:
    runs = sorted_runs(comparison)
    numeric = {i for i, column in enumerate(COLUMNS) if column not in TEXT_COLUMNS}
    failed = {i for i, run in enumerate(runs) if run.status != "ok"}
    table = TableBlock(list(COLUMNS), [run_cells(run) for run in runs], numeric, failed)
    return [
        Heading(2, "Results"),
        Paragraph(
            "One row per run, best first: finished runs by test accuracy, then"
            " the runs that did not finish."
        ),
        table,
        Paragraph(COLUMN_GLOSSARY),
    ]


def _summary_blocks(comparison: Comparison) -> list[Block]:
    """Mean, spread and paired tests, when a backend and spec ran more than once."""
    if not is_repeated(comparison):
        return []
    rows = [summary_cells(group) for group in comparison.summary]
    numeric = {
        i
        for i, column in enumerate(SUMMARY_COLUMNS)
        if column not in {"backend", "spec"}
    }
    failed = {
        i for i, group in enumerate(comparison.summary) if group.ok_runs != group.runs
    }
    blocks: list[Block] = [
        Heading(2, "Summary over runs"),
        Paragraph(
            "One row per backend and spec: mean +/- sample standard deviation over"
            " its runs, and a 95% t confidence interval of the mean test accuracy."
        ),
        TableBlock(list(SUMMARY_COLUMNS), rows, numeric, failed),
    ]
    tests = pairwise_lines(comparison)
    if tests:
        blocks += [Heading(3, "Paired tests"), Items(tests)]
    return blocks


def _per_class_blocks(comparison: Comparison) -> list[Block]:
    runs = [run for run in sorted_runs(comparison) if run.metrics is not None]
    supports = _class_supports(runs)
    if not runs or supports is None:
        return []
    names = dict(zip(map(id, comparison.runs), run_names(comparison.runs), strict=True))
    header = ["run"] + [
        f"{name} ({count})"
        for name, count in zip(comparison.data.class_names, supports, strict=True)
    ]
    numeric = set(range(1, len(header)))
    blocks: list[Block] = [
        Heading(2, "Per-class metrics"),
        Paragraph(
            "Test rows per class in brackets. Precision: the share of rows"
            " predicted as the class that belong to it. Recall: the share of"
            " the class's rows predicted as it. F1: their harmonic mean."
        ),
    ]
    for title, attribute in (
        ("Precision", "precision"),
        ("Recall", "recall"),
        ("F1", "f1"),
    ):
        rows = [
            [names[id(run)]]
            + [f"{getattr(entry, attribute):.3f}" for entry in run.metrics.per_class]
            for run in runs
        ]
        blocks += [Heading(3, title), TableBlock(header, rows, numeric)]
    return blocks


def _problem_blocks(comparison: Comparison) -> list[Block]:
    names = dict(zip(map(id, comparison.runs), run_names(comparison.runs), strict=True))
    failed = [run for run in comparison.runs if run.error]
    warned = [run for run in comparison.runs if run.warnings]
    if not failed and not warned:
        return []
    blocks: list[Block] = [Heading(2, "Failures and warnings")]
    for run in failed:
        first_line = (run.error or "").splitlines()[0] if run.error else ""
        summary = f"{names[id(run)]}: {run.status}: {first_line}"
        blocks.append(Details(summary, run.error or ""))
    warnings = [
        f"{names[id(run)]}: {warning.splitlines()[0]}"
        for run in warned
        for warning in run.warnings
    ]
    if warnings:
        blocks.append(Items(list(dict.fromkeys(warnings))))
    return blocks


def _environment_blocks(comparison: Comparison) -> list[Block]:
    environment = comparison.environment
    blocks: list[Block] = [Heading(2, "Environment")]
    if environment is None:
        blocks.append(Paragraph("The results file does not record its environment."))
        return blocks
    blocks.append(
        Items(
            [
                f"Python {environment.python_version}"
                f" ({environment.python_implementation})",
                f"platform: {environment.platform}",
                f"CPUs: {environment.cpu_count or 'unknown'}",
                f"command line: {shlex.join(environment.command_line)}",
            ]
        )
    )
    rows = [
        [name, version or "not installed"]
        for name, version in environment.packages.items()
    ]
    blocks.append(TableBlock(["package", "version"], rows))
    return blocks


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def report_blocks(comparison: Comparison, plots: Sequence[PlotImage]) -> list[Block]:
    """Build the report's content, in reading order."""
    data = comparison.data
    backends = len(group_runs(comparison.runs))
    unfinished = sum(run.status != "ok" for run in comparison.runs)
    intro = (
        f"{_count(len(comparison.runs), 'run')} of {_count(backends, 'backend')}"
        f" on {data.source},"
        f" created {comparison.created_at:%Y-%m-%d %H:%M:%S %Z} with irisfw"
        f" {comparison.irisfw_version}."
    )
    if unfinished:
        intro += (
            f" {_count(unfinished, 'run')} did not finish; see Failures and warnings."
        )
    blocks: list[Block] = [
        Heading(1, f"irisfw comparison: {data.source}"),
        Paragraph(intro),
    ]
    blocks += _data_blocks(comparison)
    blocks += _model_blocks(comparison)
    blocks += _summary_blocks(comparison)
    blocks += _results_blocks(comparison)
    if plots:
        blocks += [Heading(2, "Plots"), Plots(plots)]
    blocks += _per_class_blocks(comparison)
    blocks += _problem_blocks(comparison)
    blocks += _environment_blocks(comparison)
    return blocks


def _markdown_text(text: str) -> str:
    """Escape the characters that would start a table cell, tag or code span."""
    escaped = text.replace("\\", "\\\\")
    for character in "|<`":
        escaped = escaped.replace(character, "\\" + character)
    return " ".join(escaped.splitlines())


def _markdown_link(path: Path, base: Path) -> str:
    try:
        target = Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # on Windows, a path on another drive has no relative form
        target = path.resolve().as_posix()
    return f"<{target}>" if re.search(r"[\s()<>]", target) else target


def _markdown_table(block: TableBlock) -> list[str]:
    lines = ["| " + " | ".join(_markdown_text(cell) for cell in block.header) + " |"]
    alignment = [
        "---:" if index in block.numeric_columns else "---"
        for index in range(len(block.header))
    ]
    lines.append("|" + "|".join(alignment) + "|")
    for row in block.rows:
        lines.append("| " + " | ".join(_markdown_text(cell) for cell in row) + " |")
    return lines


def render_markdown(
    comparison: Comparison, plots: Sequence[PlotImage] = (), link_base: Path = Path()
) -> str:
    """Render the report as Markdown that links the plots relative to ``link_base``."""
    lines: list[str] = []
    for block in report_blocks(comparison, plots):
        if isinstance(block, Heading):
            lines.append("#" * block.level + " " + _markdown_text(block.text))
        elif isinstance(block, Paragraph):
            lines.append(_markdown_text(block.text))
        elif isinstance(block, Items):
            lines += [f"- {_markdown_text(item)}" for item in block.items]
        elif isinstance(block, TableBlock):
            lines += _markdown_table(block)
        elif isinstance(block, Plots):
            for image in block.images:
                lines.append(f"### {_markdown_text(image.title)}")
                lines.append("")
                embeddable = image.embeddable_file()
                if embeddable is not None:
                    link = _markdown_link(embeddable[1], link_base)
                    lines.append(f"![{_markdown_text(image.title)}]({link})")
                    lines.append("")
                others = [
                    f"[{fmt.upper()}]({_markdown_link(path, link_base)})"
                    for fmt, path in image.files.items()
                    if embeddable is None or path != embeddable[1]
                ]
                caption = _markdown_text(image.caption)
                lines.append(
                    caption + (" Also as " + ", ".join(others) + "." if others else "")
                )
                lines.append("")
            lines.pop()
        elif isinstance(block, Details):
            fence = "`" * max(3, _longest_backtick_run(block.text) + 1)
            lines += [f"**{_markdown_text(block.summary)}**", "", f"{fence}text"]
            lines += [block.text, fence]
        lines.append("")
    return "\n".join(lines)


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


HTML_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
  max-width: 75rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.3rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem;
  margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-bottom: 0.3rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.92rem; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f6f8fa; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { color: #b42318; background: #fff5f5; }
.plots { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
figure { margin: 0; max-width: 100%; }
figure img { width: 100%; height: auto; display: block; }
figcaption { color: #57606a; font-size: 0.9rem; margin-top: 0.3rem; }
figcaption strong { color: #1f2328; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; white-space: pre-wrap;
  font-size: 0.85rem; }
details summary { cursor: pointer; font-weight: 600; }
"""


def _html_table(block: TableBlock) -> list[str]:
    def cell(tag: str, index: int, text: str) -> str:
        css = ' class="number"' if index in block.numeric_columns else ""
        return f"<{tag}{css}>{html.escape(text)}</{tag}>"

    lines = ["<table>", "<thead><tr>"]
    lines.append("".join(cell("th", i, text) for i, text in enumerate(block.header)))
    lines += ["</tr></thead>", "<tbody>"]
    for row_index, row in enumerate(block.rows):
        css = ' class="failed"' if row_index in block.failed_rows else ""
        cells = "".join(cell("td", i, text) for i, text in enumerate(row))
        lines.append(f"<tr{css}>{cells}</tr>")
    lines += ["</tbody>", "</table>"]
    return lines


def _html_figure(image: PlotImage) -> str:
    caption = (
        f"<strong>{html.escape(image.title)}.</strong> {html.escape(image.caption)}"
    )
    embeddable = image.embeddable_file()
    if embeddable is None:
        paths = ", ".join(html.escape(str(path)) for path in image.files.values())
        return (
            f"<figure><figcaption>{caption} Browsers cannot show this format"
            f" inline; the files are: {paths}</figcaption></figure>"
        )
    fmt, path = embeddable
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    style = ""
    if image.width_inches is not None:
        # At most the drawn size, but shrinkable to FIGURE_SHRINK of it, so
        # two narrow plots share a row and a wide one takes a row alone.
        width = round(image.width_inches * CSS_PIXELS_PER_INCH)
        basis = round(width * FIGURE_SHRINK)
        style = f' style="flex: 1 1 {basis}px; max-width: {width}px"'
    return (
        f'<figure{style}><img src="data:{EMBEDDABLE_FORMATS[fmt]};base64,{encoded}"'
        f' alt="{html.escape(image.title)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def render_html(comparison: Comparison, plots: Sequence[PlotImage] = ()) -> str:
    """Render the report as one self-contained HTML page with the plots embedded.

    Every text goes through ``html.escape``, plots are base64 data URIs, and
    the page has no script, so it reads the same offline and without
    JavaScript.
    """
    title = f"irisfw comparison: {comparison.data.source}"
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{HTML_STYLE}</style>",
        "</head>",
        "<body>",
    ]
    for block in report_blocks(comparison, plots):
        if isinstance(block, Heading):
            lines.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            lines.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Items):
            lines.append("<ul>")
            lines += [f"<li>{html.escape(item)}</li>" for item in block.items]
            lines.append("</ul>")
        elif isinstance(block, TableBlock):
            lines += _html_table(block)
        elif isinstance(block, Plots):
            lines.append('<div class="plots">')
            lines += [_html_figure(image) for image in block.images]
            lines.append("</div>")
        elif isinstance(block, Details):
            lines.append(
                f"<details><summary>{html.escape(block.summary)}</summary>"
                f"<pre>{html.escape(block.text)}</pre></details>"
            )
    lines += ["</body>", "</html>"]
    return "\n".join(lines) + "\n"
