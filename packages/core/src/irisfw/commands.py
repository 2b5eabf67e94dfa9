"""Implementations of the CLI commands, kept apart from argument parsing in ``cli``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from irisfw.dataoptions import DataOptions
from irisfw.errors import IrisfwError
from irisfw.plugins import Plugins

if TYPE_CHECKING:
    from irisfw.loading import Table
    from irisfw.planning import CompareArguments, Settings
    from irisfw.prepare import PreparedData

logger = logging.getLogger(__name__)


def list_backends(*, as_json: bool, show_plugins: bool = False) -> None:
    """Print the backends and failed plugins; with ``show_plugins`` every plugin too."""
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
    all_plugins = [
        {
            "plugin": plugin.name,
            "distribution": plugin.distribution,
            "version": plugin.version,
            "module": plugin.module,
            "hooks": plugin.hooks,
            "error": plugin.error,
        }
        for plugin in plugins.plugins.values()
    ]
    if as_json:
        listing: dict[str, Any] = {"backends": rows, "plugin_errors": failed}
        if show_plugins:
            listing["plugins"] = all_plugins
        sys.stdout.write(json.dumps(listing, indent=2) + "\n")
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
    if show_plugins:
        console.print(_plugin_table(all_plugins))


def _plugin_table(all_plugins: list[dict[str, Any]]) -> Table:
    table = Table(title="irisfw plugins")
    for column in ("plugin", "distribution", "module", "hooks", "status"):
        table.add_column(column)
    for plugin in all_plugins:
        table.add_row(
            plugin["plugin"],
            f"{plugin['distribution']} {plugin['version'] or '?'}",
            plugin["module"],
            "\n".join(plugin["hooks"]) or "-",
            plugin["error"] or "ok",
            style="red" if plugin["error"] else None,
        )
    return table


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


def check_format(output_format: str) -> None:
    from irisfw.render import FORMATS

    if output_format not in FORMATS:
        raise IrisfwError(
            f"invalid --format {output_format!r}; choose one of: {', '.join(FORMATS)}"
        )


def run_compare(arguments: CompareArguments) -> int:
    # Imported here so that irisfw backends does not pay for the config models.
    from irisfw.planning import plan_pairs, resolve_settings

    check_format(arguments.output_format)
    settings = resolve_settings(arguments)
    if settings.jobs is not None and settings.jobs < 1:
        raise IrisfwError(f"invalid --jobs {settings.jobs}; pass 1 or more")
    if settings.timeout is not None and settings.timeout <= 0:
        raise IrisfwError(f"invalid --timeout {settings.timeout:g}; pass seconds > 0")
    if arguments.in_process and settings.timeout is not None:
        raise IrisfwError(
            "--timeout cannot stop a run inside this process; drop --in-process"
            " or --timeout"
        )
    if arguments.save_models is not None:
        _check_writable_folder(arguments.save_models, "--save-models")
    check_scheduler(settings.scheduler, arguments.in_process, settings.jobs)
    plugins = Plugins()
    pairs = plan_pairs(settings, plugins)

    from irisfw.output import plan_plots, save_plots, show_results, write_output

    plot_formats = plan_plots(arguments.plot_dir, arguments.plot_formats)

    from irisfw.display import ProgressDisplay
    from irisfw.loading import load_table
    from irisfw.models import run_folder_name
    from irisfw.runner import ComparisonInterrupted, RunRequest, run_comparison
    from irisfw.splits import SplitPlan, make_splits

    table = load_table(
        settings.data, plugins.datasets, settings.target, arguments.data_options
    )
    plan = SplitPlan(
        seed=settings.seed,
        repeats=settings.repeats,
        cv=settings.cv,
        test_size=settings.test_size,
    )
    prepared, split_infos = make_splits(
        table, plan=plan, categorical=arguments.data_options.categorical
    )
    requests = []
    for name, spec, options in pairs:
        for split in split_infos:
            run_spec = spec.model_copy(update={"seed": split.seed})
            save_to = None
            if arguments.save_models is not None:
                folder = run_folder_name(name, run_spec, split.fold)
                save_to = str(arguments.save_models.resolve() / folder)
            requests.append(
                RunRequest(
                    backend=name,
                    spec=run_spec,
                    options=options,
                    split=split.index,
                    save_to=save_to,
                )
            )

    def save(comparison: Any) -> None:
        if arguments.output is not None:
            write_output(comparison, arguments.output_format, arguments.output)

    interrupted = False
    with (
        _executor_scope(settings, plugins, len(requests)) as executor,
        ProgressDisplay(len(requests), quiet=arguments.quiet) as display,
    ):
        for index, request in enumerate(requests):
            display.add_run(index, request.describe(), request.spec.epochs)
        try:
            comparison = run_comparison(
                requests,
                prepared,
                plugins,
                splits=split_infos,
                jobs=settings.jobs,
                timeout=settings.timeout,
                in_process=arguments.in_process,
                executor=executor,
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


def _check_writable_folder(folder: Path, option: str) -> None:
    """Create ``folder`` if needed, raising IrisfwError when it cannot be used."""
    if folder.exists() and not folder.is_dir():
        raise IrisfwError(f"{option} '{folder}' is a file; pass a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IrisfwError(
            f"cannot create {option} folder '{folder}': {exc.strerror}"
        ) from None


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


def check_scheduler(scheduler: str | None, in_process: bool, jobs: int | None) -> None:
    """Reject --scheduler values and combinations that cannot work, before any run."""
    if scheduler is None:
        return
    if in_process:
        raise IrisfwError(
            "--in-process runs every backend in this process, so it cannot use"
            " --scheduler; drop one of them"
        )
    if scheduler == "local":
        return
    if not scheduler or any(character.isspace() for character in scheduler):
        raise IrisfwError(
            f"invalid --scheduler {scheduler!r}; pass 'local' or a scheduler address"
            " such as tcp://127.0.0.1:8786"
        )
    if jobs is not None:
        raise IrisfwError(
            f"--jobs {jobs} sets the worker count of --scheduler local; the workers"
            f" of the cluster at {scheduler} set how many runs execute at once, so"
            " drop --jobs (or the jobs key of the config)"
        )


def _executor_scope(
    settings: Settings, plugins: Plugins, run_count: int
) -> contextlib.AbstractContextManager[Executor | None]:
    """Return a context that yields the Dask executor of --scheduler, or None."""
    if settings.scheduler is None:
        return contextlib.nullcontext()
    from irisfw.distributed import dask_executor
    from irisfw.runner import default_jobs, threads_per_worker, worker_environ

    workers = settings.jobs or default_jobs(run_count)
    return dask_executor(
        settings.scheduler,
        workers=workers,
        environ=worker_environ(
            threads_per_worker(workers), plugins.selection_environ()
        ),
        timeout=settings.timeout,
    )


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
