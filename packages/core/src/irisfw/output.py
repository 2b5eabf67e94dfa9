"""Output steps of ``irisfw compare`` and ``irisfw report``, and the report command.

Both commands check the plot options before any work, write the plots, and
then write the results to a file or stdout in the requested format.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from rich.console import Console

from irisfw.commands import check_format, write_atomic
from irisfw.errors import IrisfwError

if TYPE_CHECKING:
    from irisfw.reports import PlotImage
    from irisfw.results import Comparison


def plan_plots(plot_dir: Path | None, plot_formats: str | None) -> tuple[str, ...]:
    """Check the --plot options and create the folder before any work starts.

    Returns the plot file formats, or an empty tuple when no plots are wanted.
    """
    if plot_dir is None:
        if plot_formats is not None:
            raise IrisfwError(
                "--plot-format sets the files that --plot writes; add --plot DIR"
            )
        return ()
    formats = import_plots().parse_plot_formats(plot_formats or "png")
    try:
        plot_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise IrisfwError(
            f"invalid --plot {str(plot_dir)!r}: it is a file; pass a folder, which"
            " is created if missing"
        ) from None
    except OSError as exc:
        raise IrisfwError(
            f"cannot create plot folder {str(plot_dir)!r}: {exc.strerror}; pass a"
            " writable folder to --plot"
        ) from None
    return formats


def import_plots() -> ModuleType:
    """Import ``irisfw.plots``, raising IrisfwError when matplotlib is missing."""
    try:
        from irisfw import plots
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "matplotlib":
            raise
        raise IrisfwError(
            '--plot needs matplotlib, which is not installed; pip install "irisfw[plot]"'
        ) from None
    return plots


def save_plots(
    comparison: Comparison,
    plot_dir: Path | None,
    formats: tuple[str, ...],
    status: Console,
) -> list[PlotImage]:
    """Write the plots into ``plot_dir``, if given, and return them for reports."""
    if plot_dir is None:
        return []
    try:
        images = import_plots().write_plots(comparison, plot_dir, formats)
    except OSError as exc:
        raise IrisfwError(
            f"cannot write plots to {str(plot_dir)!r}: {exc.strerror}; pass a"
            " writable folder to --plot"
        ) from None
    files = sum(len(image.files) for image in images)
    status.print(f"wrote {files} plot files to {plot_dir}", markup=False)
    return images


def write_output(
    comparison: Comparison,
    output_format: str,
    output: Path,
    images: Sequence[PlotImage] = (),
) -> None:
    from irisfw.render import render_text

    link_base = output.parent if str(output.parent) else Path(".")
    text = render_text(comparison, output_format, plots=images, link_base=link_base)
    write_atomic(output, text)


def show_results(
    comparison: Comparison,
    output_format: str,
    output: Path | None,
    images: Sequence[PlotImage],
    status: Console,
) -> None:
    """Write the results to ``output``, or print them to stdout."""
    from irisfw.render import render_table, render_text, table_console

    if output is not None:
        write_output(comparison, output_format, output, images)
        status.print(f"wrote {len(comparison.runs)} runs to {output}", markup=False)
    elif output_format == "table":
        render_table(comparison, table_console())
    else:
        sys.stdout.write(render_text(comparison, output_format, plots=images))


@dataclass
class ReportArguments:
    results: Path | None
    output_format: str = "table"
    output: Path | None = None
    plot_dir: Path | None = None
    plot_formats: str | None = None
    schema: bool = False
    quiet: bool = False


def run_report(arguments: ReportArguments) -> int:
    """Render a saved comparison, or print the JSON schema of results files."""
    from irisfw.results import Comparison

    status = Console(stderr=True, quiet=arguments.quiet)
    if arguments.schema:
        if arguments.results is not None:
            raise IrisfwError(
                f"--schema prints the schema of results files and reads none; drop"
                f" {str(arguments.results)!r} or --schema"
            )
        text = json.dumps(Comparison.model_json_schema(), indent=2) + "\n"
        if arguments.output is None:
            sys.stdout.write(text)
        else:
            write_atomic(arguments.output, text)
            status.print(f"wrote the schema to {arguments.output}", markup=False)
        return 0
    if arguments.results is None:
        raise IrisfwError(
            "missing RESULTS file; pass a JSON file written by 'irisfw compare"
            " --format json --output FILE', or --schema for its schema"
        )
    check_format(arguments.output_format)

    from irisfw.results_file import read_comparison

    comparison = read_comparison(arguments.results)
    plot_formats = plan_plots(arguments.plot_dir, arguments.plot_formats)
    images = save_plots(comparison, arguments.plot_dir, plot_formats, status)
    show_results(comparison, arguments.output_format, arguments.output, images, status)
    return 0
