"""Report formats, the environment record, irisfw report and the schema doc."""

from __future__ import annotations

import base64
import io
import json
import os
import platform
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from irisfw.render import COLUMNS, render_text
from irisfw.reports import render_html, render_markdown
from irisfw.results import Comparison

ROOT = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# irisfw report needs no backend, so it runs with no plugin loaded.
NO_PLUGINS = {"IRISFW_PLUGINS": ""}
TWO_BACKENDS = {"IRISFW_PLUGINS": "sklearn,faulty"}
PLOT_FILES = [
    "confusion_matrices.png",
    "fit_time.png",
    "learning_curves.png",
    "test_accuracy.png",
]


class PageParser(HTMLParser):
    """Collect the tables, images, tags and text of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.row_classes: list[list[str | None]] = []
        self.images: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.title = ""
        self._cell: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "table":
            self.tables.append([])
            self.row_classes.append([])
        elif tag == "tr":
            self.tables[-1].append([])
            self.row_classes[-1].append(attributes.get("class"))
        elif tag in {"td", "th"}:
            self._cell = []
        elif tag == "img":
            self.images.append(attributes)
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag in {"td", "th"}:
            self.tables[-1][-1].append("".join(self._cell or []))
            self._cell = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.title += data
        self.text.append(data)


def parse_page(text: str) -> PageParser:
    parser = PageParser()
    parser.feed(text)
    parser.close()
    return parser


def png_size(data: bytes) -> tuple[int, int]:
    """Return (width, height) from a PNG's IHDR chunk."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def load(path: Path) -> Comparison:
    return Comparison.model_validate_json(path.read_text())


def results_table(page: PageParser) -> list[list[str]]:
    [table] = [table for table in page.tables if table[0] == list(COLUMNS)]
    return table


def assert_one_line_error(result, expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("irisfw: error: ")
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


# The JSON record


def test_compare_json_records_environment(two_backend_results):
    comparison = load(two_backend_results)
    environment = comparison.environment

    assert environment is not None
    assert environment.python_version == platform.python_version()
    assert environment.python_implementation == platform.python_implementation()
    assert environment.cpu_count == os.cpu_count()
    assert environment.command_line[:2] == ["irisfw", "compare"]
    assert "--epochs" in environment.command_line
    assert next(iter(environment.packages)) == "irisfw"
    for name in (
        "irisfw",
        "irisfw-sklearn",
        "irisfw-test-plugins",
        "scikit-learn",
        "numpy",
        "pandas",
    ):
        assert environment.packages[name], name


def test_compare_json_round_trips_exactly(two_backend_results):
    text = two_backend_results.read_text()

    comparison = Comparison.model_validate_json(text)

    assert comparison.model_dump_json(indent=2) + "\n" == text
    assert [run.backend for run in comparison.runs] == ["sklearn", "constant"]


def test_report_reads_file_without_environment(run_cli, two_backend_results, tmp_path):
    document = json.loads(two_backend_results.read_text())
    del document["environment"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))

    result = run_cli("report", str(old), "--format", "markdown", env=NO_PLUGINS)

    assert result.returncode == 0, result.stderr
    assert "does not record its environment" in result.stdout


# Formats


def test_report_csv_parses_with_pandas(run_cli, two_backend_results):
    comparison = load(two_backend_results)

    result = run_cli(
        "report", str(two_backend_results), "--format", "csv", env=NO_PLUGINS
    )

    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert len(frame) == 2
    assert set(frame["backend"]) == {"sklearn", "constant"}
    for run in comparison.runs:
        row = frame[frame["backend"] == run.backend].iloc[0]
        assert row["status"] == "ok"
        assert row["test_accuracy"] == pytest.approx(run.metrics.test_accuracy)
        assert row["fit_seconds"] == pytest.approx(run.timings.fit_seconds)
        assert row["recall[setosa]"] == pytest.approx(run.metrics.per_class[0].recall)


def test_report_html_tables_and_embedded_plots(run_cli, two_backend_results, tmp_path):
    comparison = load(two_backend_results)
    sklearn = next(run for run in comparison.runs if run.backend == "sklearn")

    result = run_cli(
        "report",
        str(two_backend_results),
        "--format",
        "html",
        "--output",
        "report.html",
        "--plot",
        "plots",
        env=NO_PLUGINS,
    )

    assert result.returncode == 0, result.stderr
    text = (tmp_path / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>")
    page = parse_page(text)
    assert page.title == "irisfw comparison: iris"
    assert "script" not in page.tags
    table = results_table(page)
    rows = {row[0]: row for row in table[1:]}
    assert set(rows) == {"sklearn", "constant"}
    assert rows["sklearn"][1] == "ok"
    assert rows["sklearn"][2] == f"{sklearn.metrics.test_accuracy:.3f}"
    assert rows["constant"][2] == "0.333"
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == PLOT_FILES
    assert len(page.images) == 4
    for image in page.images:
        source = image["src"]
        assert source.startswith("data:image/png;base64,")
        data = base64.b64decode(source.removeprefix("data:image/png;base64,"))
        assert data.startswith(PNG_SIGNATURE)
        assert image["alt"]


def test_report_html_per_class_and_environment(run_cli, two_backend_results):
    result = run_cli(
        "report", str(two_backend_results), "--format", "html", env=NO_PLUGINS
    )

    page = parse_page(result.stdout)
    assert page.images == []
    precision = next(table for table in page.tables if table[0][0] == "run")
    assert precision[0] == ["run", "setosa (15)", "versicolor (15)", "virginica (15)"]
    assert precision[2] == ["constant", "0.333", "0.000", "0.000"]
    packages = next(
        table for table in page.tables if table[0] == ["package", "version"]
    )
    assert ["irisfw-sklearn", "0.1.0"] in packages
    text = "".join(page.text)
    assert f"Python {platform.python_version()}" in text
    assert "command line: irisfw compare" in text


def test_html_escapes_text(two_backend_results):
    comparison = load(two_backend_results)
    hostile = "<script>alert('x')</script> & <b>"
    data = comparison.data.model_copy(update={"source": hostile})
    failed = comparison.runs[1].model_copy(
        update={"status": "failed", "metrics": None, "error": f"ValueError: {hostile}"}
    )
    comparison = comparison.model_copy(update={"data": data, "runs": [failed]})

    page = parse_page(render_html(comparison))

    assert "script" not in page.tags
    assert "b" not in page.tags
    assert page.title == f"irisfw comparison: {hostile}"
    assert f"ValueError: {hostile}" in "".join(page.text)


def test_html_marks_failed_runs(two_backend_results):
    comparison = load(two_backend_results)
    failed = comparison.runs[1].model_copy(
        update={
            "status": "failed",
            "metrics": None,
            "error": "RuntimeError: boom\nTraceback line",
        }
    )
    comparison = comparison.model_copy(update={"runs": [comparison.runs[0], failed]})

    page = parse_page(render_html(comparison))

    table_index = page.tables.index(results_table(page))
    assert page.row_classes[table_index] == [None, None, "failed"]
    assert "details" in page.tags
    assert "constant: failed: RuntimeError: boom" in page.text


def test_markdown_links_plots_relative_to_output(
    run_cli, two_backend_results, tmp_path
):
    (tmp_path / "out").mkdir()

    result = run_cli(
        "report",
        str(two_backend_results),
        "--format",
        "markdown",
        "--output",
        "out/report.md",
        "--plot",
        "out/figures",
        "--plot-format",
        "png,svg",
        env=NO_PLUGINS,
    )

    assert result.returncode == 0, result.stderr
    report = tmp_path / "out" / "report.md"
    text = report.read_text()
    assert "| backend | status | test acc |" in text
    assert re.search(r"^\| sklearn \| ok \| \d\.\d{3} \|", text, re.MULTILINE)
    assert re.search(r"^\| constant \| ok \| 0\.333 \|", text, re.MULTILINE)
    links = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text)
    assert links == [
        "figures/test_accuracy.png",
        "figures/fit_time.png",
        "figures/learning_curves.png",
        "figures/confusion_matrices.png",
    ]
    for link in links:
        assert (report.parent / link).read_bytes().startswith(PNG_SIGNATURE)
    assert "[SVG](figures/learning_curves.svg)" in text


@pytest.mark.parametrize(
    ("formats", "prefix"),
    [
        (("svg",), "data:image/svg+xml;base64,"),
        (("pdf", "png"), "data:image/png;base64,"),
    ],
)
def test_html_embeds_browser_format(two_backend_results, tmp_path, formats, prefix):
    from irisfw.plots import write_plots

    comparison = load(two_backend_results)
    images = write_plots(comparison, tmp_path, formats)

    page = parse_page(render_html(comparison, images))

    assert len(page.images) == 4
    assert all(image["src"].startswith(prefix) for image in page.images)


def test_html_lists_pdf_only_plots(two_backend_results, tmp_path):
    from irisfw.plots import write_plots

    comparison = load(two_backend_results)
    images = write_plots(comparison, tmp_path, ("pdf",))

    page = parse_page(render_html(comparison, images))

    assert page.images == []
    assert str(tmp_path / "fit_time.pdf") in "".join(page.text)


def test_markdown_fences_error_text(two_backend_results):
    comparison = load(two_backend_results)
    failed = comparison.runs[1].model_copy(
        update={"status": "failed", "metrics": None, "error": "E: ```\nline | two"}
    )
    comparison = comparison.model_copy(update={"runs": [failed]})

    text = render_markdown(comparison)

    assert "\n````text\nE: ```\nline | two\n````\n" in text
    assert "| constant | failed | - |" in text


def test_report_loads_no_numerical_library(two_backend_results):
    code = (
        "import sys\n"
        f"sys.argv = ['irisfw', 'report', {str(two_backend_results)!r}, '-f', 'html']\n"
        "from irisfw.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('numpy', 'pandas', 'sklearn', 'matplotlib')"
        " if m in sys.modules]\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert "HEAVY=\n" in result.stderr
    assert "<table>" in result.stdout


# irisfw report against the original run


def test_report_table_equals_render_of_file(run_cli, two_backend_results):
    result = run_cli("report", str(two_backend_results), env=NO_PLUGINS)

    assert result.returncode == 0, result.stderr
    assert result.stdout == render_text(load(two_backend_results), "table")


TIMING_COLUMNS = [COLUMNS.index(name) for name in ("import s", "fit s", "pred ms")]


def table_without_timings(text: str) -> list[list[str] | str]:
    """Return the table output with timing cells blanked and borders dropped.

    Timings differ between two runs and change the column widths, so rows
    are compared cell by cell after stripping the padding.
    """
    lines: list[list[str] | str] = []
    for line in text.splitlines():
        separators = [mark for mark in ("│", "┃") if mark in line]
        if not separators:
            if not re.fullmatch(r"[━─┏┓┗┛┡┩└┘┳┻╇┴┬┼\s]*", line):
                lines.append(line)
            continue
        separator = separators[0]
        cells = [cell.strip() for cell in line.split(separator)[1:-1]]
        for index in TIMING_COLUMNS:
            cells[index] = ""
        lines.append(cells)
    return lines


def test_report_table_matches_compare_table(
    run_cli, two_backend_results, test_plugins_path
):
    compared = run_cli(
        "compare",
        "--backend",
        "sklearn",
        "--backend",
        "constant",
        "--epochs",
        "20",
        env=TWO_BACKENDS,
        plugins_path=test_plugins_path,
    )
    reported = run_cli("report", str(two_backend_results), env=NO_PLUGINS)

    assert compared.returncode == 0, compared.stderr
    assert reported.returncode == 0, reported.stderr
    compare_lines = table_without_timings(compared.stdout)
    assert any(
        isinstance(line, list) and line[0] == "sklearn" for line in compare_lines
    )
    assert table_without_timings(reported.stdout) == compare_lines


# Rejected files and options


def truncated(text: str) -> str:
    return text[: len(text) // 2]


def foreign(text: str) -> str:
    return json.dumps({"name": "iris", "version": 3})


def json_array(text: str) -> str:
    return "[1, 2, 3]"


def newer_schema(text: str) -> str:
    document = json.loads(text)
    document["schema_version"] = 2
    return json.dumps(document)


def unknown_field(text: str) -> str:
    document = json.loads(text)
    document["verdict"] = {}
    return json.dumps(document)


def invalid_status(text: str) -> str:
    document = json.loads(text)
    document["runs"][0]["status"] = "exploded"
    return json.dumps(document)


def missing_data(text: str) -> str:
    document = json.loads(text)
    del document["data"]
    return json.dumps(document)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (truncated, "is not valid JSON"),
        (foreign, "is not an irisfw results file"),
        (json_array, "is not an irisfw results file"),
        (newer_schema, "has schema_version 2"),
        (unknown_field, "has fields that irisfw"),
        (invalid_status, "runs.0.status"),
        (missing_data, "data: Field required"),
    ],
)
def test_report_rejects_invalid_file(
    run_cli, two_backend_results, tmp_path, change, expected
):
    path = tmp_path / "results.json"
    path.write_text(change(two_backend_results.read_text()))

    result = run_cli("report", str(path), env=NO_PLUGINS)

    assert_one_line_error(result, expected)
    assert "results.json" in result.stderr


def test_report_rejects_binary_file(run_cli, tmp_path):
    path = tmp_path / "results.json"
    path.write_bytes(PNG_SIGNATURE + bytes(range(256)))

    result = run_cli("report", str(path), env=NO_PLUGINS)

    assert_one_line_error(result, "not UTF-8 text")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["missing.json"], "'missing.json' not found"),
        ([], "missing RESULTS file"),
        (["results.json", "--schema"], "--schema prints the schema"),
        (["results.json", "--format", "yaml"], "--format 'yaml'"),
        (["results.json", "--plot-format", "png"], "add --plot DIR"),
        (
            ["results.json", "--plot", "p", "--plot-format", "gif"],
            "--plot-format 'gif'",
        ),
        (["results.json", "--plot", "results.json"], "it is a file"),
    ],
)
def test_report_usage_errors_exit_two(
    run_cli, two_backend_results, tmp_path, args, expected
):
    (tmp_path / "results.json").write_text(two_backend_results.read_text())

    result = run_cli("report", *args, env=NO_PLUGINS)

    assert_one_line_error(result, expected)


def test_report_schema_is_model_schema(run_cli):
    result = run_cli("report", "--schema", env=NO_PLUGINS)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == Comparison.model_json_schema()


# compare with reports and plots


def test_compare_html_report_with_plots(run_cli, test_plugins_path, tmp_path):
    result = run_cli(
        "compare",
        "--backend",
        "sklearn",
        "--backend",
        "constant",
        "--epochs",
        "20",
        "--plot",
        "plots/",
        "--format",
        "html",
        "--output",
        "report.html",
        env=TWO_BACKENDS,
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "wrote 4 plot files to plots" in result.stderr
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == PLOT_FILES
    page = parse_page((tmp_path / "report.html").read_text())
    assert {row[0] for row in results_table(page)[1:]} == {"sklearn", "constant"}
    assert len(page.images) == 4
    assert all(
        image["src"].startswith("data:image/png;base64,") for image in page.images
    )


@pytest.fixture
def no_matplotlib(tmp_path) -> Path:
    """Return a folder whose matplotlib package fails to import, as if missing."""
    package = tmp_path / "no-matplotlib" / "matplotlib"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'matplotlib'\", name='matplotlib')\n"
    )
    return package.parent


@pytest.mark.parametrize("command", ["compare", "report"])
def test_plot_without_matplotlib_exit_two(
    run_cli, two_backend_results, no_matplotlib, command
):
    args = [command, "--plot", "plots"]
    if command == "report":
        args.insert(1, str(two_backend_results))

    result = run_cli(
        *args, env={"IRISFW_PLUGINS": "sklearn"}, plugins_path=no_matplotlib
    )

    assert_one_line_error(result, 'pip install "irisfw[plot]"')


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--plot-format", "svg"], "add --plot DIR"),
        (["--plot", "plots", "--plot-format", "png,gif"], "--plot-format 'png,gif'"),
        (["--format", "pdf"], "--format 'pdf'"),
    ],
)
def test_compare_plot_errors_exit_two(run_cli, args, expected):
    result = run_cli("compare", *args, env={"IRISFW_PLUGINS": "sklearn"})

    assert_one_line_error(result, expected)


def test_output_file_mode_follows_umask(run_cli, two_backend_results, tmp_path):
    umask = os.umask(0)
    os.umask(umask)

    result = run_cli(
        "report", str(two_backend_results), "--output", "table.txt", env=NO_PLUGINS
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "table.txt").stat().st_mode & 0o777 == 0o666 & ~umask


# The schema document


def documented_fields() -> dict[str, set[str]]:
    """Map each model heading of docs/results-schema.md to its table's fields."""
    fields: dict[str, set[str]] = {}
    model = None
    for line in (ROOT / "docs" / "results-schema.md").read_text().splitlines():
        heading = re.fullmatch(r"## (\w+)", line)
        if heading:
            model = heading.group(1)
            fields[model] = set()
            continue
        row = re.match(r"\| `(\w+)` \|", line)
        if row and model is not None:
            fields[model].add(row.group(1))
    return fields


def schema_fields() -> dict[str, set[str]]:
    schema = Comparison.model_json_schema()
    models = {"Comparison": schema, **schema["$defs"]}
    return {name: set(model["properties"]) for name, model in models.items()}


def test_schema_doc_lists_every_model():
    assert set(documented_fields()) == set(schema_fields())


@pytest.mark.parametrize("model", sorted(schema_fields()))
def test_schema_doc_lists_model_fields(model):
    documented = documented_fields().get(model, set())
    actual = schema_fields()[model]

    assert actual - documented == set(), "fields missing from the doc"
    assert documented - actual == set(), "doc lists fields that do not exist"
