"""What the CLI commands do, kept apart from argument parsing in ``cli``."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from irisfw.dataoptions import DataOptions
from irisfw.errors import IrisfwError, SpecError
from irisfw.plugins import Plugins

if TYPE_CHECKING:
    from irisfw.loading import Table
    from irisfw.prepare import PreparedData

logger = logging.getLogger(__name__)


def list_backends(*, as_json: bool) -> None:
    plugins = Plugins()
    rows: list[dict[str, Any]] = []
    for name in sorted(plugins.backends):
        entry = plugins.backends[name]
        toolkit_version = entry.backend_class.toolkit_version()
        status = entry.error or ("ok" if toolkit_version else "toolkit not installed")
        rows.append(
            {
                "name": name,
                "plugin": entry.plugin.name,
                "distribution": entry.plugin.distribution,
                "version": entry.plugin.version,
                "toolkit": entry.backend_class.toolkit,
                "toolkit_version": toolkit_version,
                "description": entry.backend_class.description,
                "status": status,
            }
        )
    failed = [
        {
            "plugin": plugin.name,
            "distribution": plugin.distribution,
            "version": plugin.version,
            "module": plugin.module,
            "error": plugin.error,
        }
        for plugin in plugins.plugins.values()
        if plugin.error
    ]
    if as_json:
        sys.stdout.write(
            json.dumps({"backends": rows, "plugin_errors": failed}, indent=2) + "\n"
        )
        return

    console = Console()
    table = Table(title="irisfw backends")
    for column in ("backend", "plugin", "toolkit", "status"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            f"{row['distribution']} {row['version'] or '?'}",
            f"{row['toolkit']} {row['toolkit_version'] or 'not installed'}",
            row["status"],
        )
    for plugin in failed:
        table.add_row(
            "-",
            f"{plugin['distribution']} {plugin['version'] or '?'}",
            "-",
            f"plugin {plugin['plugin']!r} failed to load: {plugin['error']}",
            style="red",
        )
    console.print(table)
    if not rows:
        console.print("No backends installed; try: pip install 'irisfw[sklearn]'")


def list_datasets(*, as_json: bool) -> None:
    plugins = Plugins()
    rows = [
        {
            "name": dataset.name,
            "target": dataset.target,
            "description": dataset.description,
        }
        for dataset in sorted(plugins.datasets.values(), key=lambda d: d.name)
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title="irisfw datasets")
    for column in ("name", "target", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["target"], row["description"])
    Console().print(table)


@dataclass
class CompareArguments:
    backends: list[str]
    data: str
    target: str | None
    seed: int
    test_size: float
    spec_values: dict[str, Any]
    options: list[str] = field(default_factory=list)
    output_format: str = "table"
    output: Path | None = None
    quiet: bool = False
    data_options: DataOptions = field(default_factory=DataOptions)


def parse_options(texts: list[str], known: set[str]) -> dict[str, dict[str, str]]:
    """Group ``BACKEND.KEY=VALUE`` texts by backend."""
    options: dict[str, dict[str, str]] = {}
    for text in texts:
        name_key, sep, value = text.partition("=")
        backend, dot, key = name_key.partition(".")
        if not sep or not dot or not backend or not key:
            raise IrisfwError(
                f"invalid --option {text!r}; write BACKEND.KEY=VALUE, e.g. torch.device=cpu"
            )
        if backend not in known:
            raise IrisfwError(
                f"--option {text!r} names backend {backend!r}, which is not in this"
                f" comparison; backends: {', '.join(sorted(known))}"
            )
        options.setdefault(backend, {})[key] = value
    return options


def plan_runs(arguments: CompareArguments, plugins: Plugins) -> list[Any]:
    """Build the run requests, checking every backend can honour the spec."""
    from irisfw.runner import RunRequest
    from irisfw.spec import build_spec

    spec = build_spec(**arguments.spec_values)
    explicit = bool(arguments.backends)
    names = list(dict.fromkeys(arguments.backends))
    if not explicit:
        names = sorted(
            name for name, entry in plugins.backends.items() if not entry.error
        )
        if not names:
            raise IrisfwError(
                "no backends are installed; install one, e.g. pip install 'irisfw[sklearn]',"
                " and check 'irisfw backends'"
            )
    options = parse_options(arguments.options, set(names))

    requests = []
    for name in names:
        entry = plugins.backend(name)
        backend_class = entry.backend_class
        # Options name the backend explicitly, so an invalid one is always an error.
        backend = backend_class(backend_class.parse_options(options.get(name, {})))
        try:
            if backend_class.toolkit_version() is None:
                raise SpecError(
                    f"backend {name!r} needs {backend_class.toolkit}, which is not"
                    f" installed; pip install {backend_class.toolkit}"
                )
            backend.check_spec(spec)
        except SpecError as exc:
            if explicit:
                raise
            logger.warning("skipping backend %r: %s", name, exc)
            continue
        requests.append(
            RunRequest(backend=name, spec=spec, options=options.get(name, {}))
        )
    if not requests:
        raise IrisfwError("no backend can run this spec; see the warnings above")
    return requests


def run_compare(arguments: CompareArguments) -> int:
    from irisfw.render import FORMATS

    if arguments.output_format not in FORMATS:
        raise IrisfwError(
            f"invalid --format {arguments.output_format!r}; choose one of: {', '.join(FORMATS)}"
        )
    plugins = Plugins()
    requests = plan_runs(arguments, plugins)

    from irisfw.render import render_table, render_text, table_console
    from irisfw.runner import run_comparison

    _, data = load_and_prepare(
        arguments.data,
        plugins,
        target=arguments.target,
        options=arguments.data_options,
        test_size=arguments.test_size,
        seed=arguments.seed,
    )

    status = Console(stderr=True, quiet=arguments.quiet)

    def report(result: Any) -> None:
        accuracy = result.metrics.test_accuracy if result.metrics else None
        detail = (
            f"test accuracy {accuracy:.3f}" if accuracy is not None else result.status
        )
        status.print(
            f"finished {result.label}: {detail}", highlight=False, markup=False
        )

    comparison = run_comparison(requests, data, plugins, on_result=report)

    if arguments.output is not None:
        write_atomic(arguments.output, render_text(comparison, arguments.output_format))
        status.print(
            f"wrote {len(comparison.runs)} runs to {arguments.output}", markup=False
        )
    elif arguments.output_format == "table":
        render_table(comparison, table_console())
    else:
        sys.stdout.write(render_text(comparison, arguments.output_format))
    return 0 if comparison.ok else 1


def load_and_prepare(
    source: str,
    plugins: Plugins,
    *,
    target: str | None,
    options: DataOptions,
    test_size: float,
    seed: int,
) -> tuple[Table, PreparedData]:
    """Load ``source`` and prepare it; return the Table and the PreparedData."""
    from irisfw.loading import load_table
    from irisfw.prepare import prepare_table

    table = load_table(source, plugins.datasets, target, options)
    data = prepare_table(
        table, test_size=test_size, seed=seed, categorical=options.categorical
    )
    return table, data


@dataclass
class InspectArguments:
    data: str
    target: str | None
    seed: int
    test_size: float
    data_options: DataOptions = field(default_factory=DataOptions)
    as_json: bool = False


def inspect_data(arguments: InspectArguments) -> None:
    """Print how the data source was read and prepared, without training."""
    from irisfw.render import data_summary_lines

    table, data = load_and_prepare(
        arguments.data,
        Plugins(),
        target=arguments.target,
        options=arguments.data_options,
        test_size=arguments.test_size,
        seed=arguments.seed,
    )
    summary = data.summary()
    dialect = table.dialect.as_dict() if table.dialect is not None else None
    if arguments.as_json:
        report = {
            "dialect": dialect,
            "rows_read": table.rows_read,
            **summary.model_dump(mode="json"),
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    read_as = (
        f"CSV, {table.dialect.describe()}"
        if table.dialect is not None
        else "named dataset"
    )
    lines = [
        f"read as: {read_as}",
        f"rows read: {table.rows_read}, dropped: {table.dropped_rows}",
        *data_summary_lines(summary),
        f"features: {', '.join(summary.feature_names)}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise IrisfwError(
            f"cannot write {str(path)!r}: folder {str(directory)!r} does not exist"
        )
    fd, temporary = tempfile.mkstemp(
        dir=directory, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
