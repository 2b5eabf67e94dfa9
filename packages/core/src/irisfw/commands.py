"""What the CLI commands do, kept apart from argument parsing in ``cli``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from irisfw.errors import IrisfwError
from irisfw.planning import CompareArguments, Settings, plan_pairs, resolve_settings
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


def run_compare(arguments: CompareArguments) -> int:
    from irisfw.render import FORMATS

    if arguments.output_format not in FORMATS:
        raise IrisfwError(
            f"invalid --format {arguments.output_format!r}; choose one of: {', '.join(FORMATS)}"
        )
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
    check_scheduler(settings.scheduler, arguments.in_process, settings.jobs)
    plugins = Plugins()
    pairs = plan_pairs(settings, plugins)

    from irisfw.display import ProgressDisplay
    from irisfw.loading import load_table
    from irisfw.render import render_table, render_text, table_console
    from irisfw.runner import ComparisonInterrupted, RunRequest, run_comparison
    from irisfw.splits import SplitPlan, make_splits

    table = load_table(settings.data, plugins.datasets)
    plan = SplitPlan(
        seed=settings.seed,
        repeats=settings.repeats,
        cv=settings.cv,
        test_size=settings.test_size,
    )
    prepared, split_infos = make_splits(
        table.frame,
        settings.target or table.default_target,
        source=table.source,
        plan=plan,
    )
    requests = [
        RunRequest(
            backend=name,
            spec=spec.model_copy(update={"seed": split.seed}),
            options=options,
            split=split.index,
        )
        for name, spec, options in pairs
        for split in split_infos
    ]

    def save(comparison: Any) -> None:
        if arguments.output is not None:
            write_atomic(
                arguments.output, render_text(comparison, arguments.output_format)
            )

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
    if arguments.output is not None:
        save(comparison)
        status.print(
            f"wrote {len(comparison.runs)} runs to {arguments.output}", markup=False
        )
    elif arguments.output_format == "table":
        render_table(comparison, table_console())
    else:
        sys.stdout.write(render_text(comparison, arguments.output_format))
    if interrupted:
        status.print("interrupted: unfinished runs are marked cancelled", markup=False)
        return 130
    return 0 if comparison.ok else 1


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
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
