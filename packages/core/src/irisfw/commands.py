"""What the CLI commands do, kept apart from argument parsing in ``cli``."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from irisfw.errors import IrisfwError, SpecError
from irisfw.plugins import Plugins

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
    jobs: int | None = None
    timeout: float | None = None
    in_process: bool = False
    plot_dir: Path | None = None
    plot_formats: str | None = None


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


def check_format(output_format: str) -> None:
    from irisfw.render import FORMATS

    if output_format not in FORMATS:
        raise IrisfwError(
            f"invalid --format {output_format!r}; choose one of: {', '.join(FORMATS)}"
        )


def run_compare(arguments: CompareArguments) -> int:
    check_format(arguments.output_format)
    if arguments.jobs is not None and arguments.jobs < 1:
        raise IrisfwError(f"invalid --jobs {arguments.jobs}; pass 1 or more")
    if arguments.timeout is not None and arguments.timeout <= 0:
        raise IrisfwError(f"invalid --timeout {arguments.timeout:g}; pass seconds > 0")
    if arguments.in_process and arguments.timeout is not None:
        raise IrisfwError(
            "--timeout cannot stop a run inside this process; drop --in-process"
            " or --timeout"
        )
    plugins = Plugins()
    requests = plan_runs(arguments, plugins)

    from irisfw.output import plan_plots, save_plots, show_results, write_output

    plot_formats = plan_plots(arguments.plot_dir, arguments.plot_formats)

    from irisfw.display import ProgressDisplay
    from irisfw.loading import load_table
    from irisfw.prepare import prepare
    from irisfw.runner import ComparisonInterrupted, run_comparison

    table = load_table(arguments.data, plugins.datasets)
    data = prepare(
        table.frame,
        arguments.target or table.default_target,
        source=table.source,
        test_size=arguments.test_size,
        seed=arguments.seed,
    )

    def save(comparison: Any) -> None:
        if arguments.output is not None:
            write_output(comparison, arguments.output_format, arguments.output)

    interrupted = False
    with ProgressDisplay(len(requests), quiet=arguments.quiet) as display:
        for index, request in enumerate(requests):
            display.add_run(index, request.describe(), request.spec.epochs)
        try:
            comparison = run_comparison(
                requests,
                data,
                plugins,
                jobs=arguments.jobs,
                timeout=arguments.timeout,
                in_process=arguments.in_process,
                on_event=display,
                on_result=save,
            )
        except ComparisonInterrupted as stop:
            comparison = stop.comparison
            interrupted = True

    status = Console(stderr=True, quiet=arguments.quiet)
    images = save_plots(comparison, arguments.plot_dir, plot_formats, status)
    show_results(comparison, arguments.output_format, arguments.output, images, status)
    if interrupted:
        status.print("interrupted: unfinished runs are marked cancelled", markup=False)
        return 130
    return 0 if comparison.ok else 1


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
        # mkstemp creates the file readable by its owner only; give it the
        # mode that open() would give a new file under the current umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
