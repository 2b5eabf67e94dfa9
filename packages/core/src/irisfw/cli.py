"""The ``irisfw`` command line. It parses and prints; the core does the work.

Only typer is imported at module level, so ``irisfw --help``, ``--version``
and ``irisfw backends`` stay fast: pandas, scikit-learn and the toolkits are
imported inside the commands that need them.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from irisfw.errors import IrisfwError

if TYPE_CHECKING:
    from irisfw.dataoptions import DataOptions

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

FORMAT_HELP = "table, json, csv, markdown or html."
# Typer renders help text as rich markup, where a bare [plot] is a style tag.
PLOT_HELP = (
    "Write plots into this folder, created if missing; needs"
    ' pip install "irisfw\\[plot]".'
)
PLOT_FORMAT_HELP = (
    "Plot file formats for --plot, comma-separated: png, svg, pdf. Default: png."
)

app = typer.Typer(
    name="irisfw",
    help="Train one neural-network classifier with several ML toolkits and compare them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# Options that read and check the data, shared by compare and inspect.
TargetOption = Annotated[
    str | None,
    typer.Option(
        help="Label column: a name, matched case-insensitively, or a 0-based column"
        " index. Default: species for CSV files with a header, the last column"
        " for files without one."
    ),
]
SeedOption = Annotated[
    int, typer.Option(help="Seed for the split, the weights and the shuffling.")
]
TestSizeOption = Annotated[
    float, typer.Option(help="Fraction of rows held out for testing.")
]
DelimiterOption = Annotated[
    str | None,
    typer.Option(
        help="CSV field delimiter: one character, or comma, semicolon, tab, pipe or"
        " space. Default: detected."
    ),
]
EncodingOption = Annotated[
    str | None,
    typer.Option(
        help="CSV text encoding, e.g. cp1252. Default: UTF-8, or the encoding a"
        " byte-order mark names."
    ),
]
HeaderOption = Annotated[
    bool | None,
    typer.Option(
        "--header/--no-header",
        help="Whether line 1 of the CSV names the columns. Default: detected.",
    ),
]
DropColumnOption = Annotated[
    list[str] | None,
    typer.Option(
        "--drop-column", help="Column to leave out of the features; repeatable."
    ),
]
KeepColumnOption = Annotated[
    list[str] | None,
    typer.Option(
        "--keep-column",
        help="Column to use as a feature although it looks like a row identifier or"
        " a copy of the label; repeatable.",
    ),
]
MissingOption = Annotated[
    str,
    typer.Option(
        help="Rows with empty, NA, non-numeric or infinite values, or with a wrong"
        " number of fields: error, or drop them."
    ),
]
CategoricalOption = Annotated[
    str,
    typer.Option(help="Text feature columns: error, or encode to one-hot encode them."),
]


def _data_options(
    *,
    delimiter: str | None,
    encoding: str | None,
    header: bool | None,
    drop_column: list[str] | None,
    keep_column: list[str] | None,
    missing: str,
    categorical: str,
) -> DataOptions:
    from irisfw.dataoptions import DataOptions

    return DataOptions(
        delimiter=delimiter,
        encoding=encoding,
        header=header,
        drop_columns=tuple(drop_column or ()),
        keep_columns=tuple(keep_column or ()),
        missing=missing,
        categorical=categorical,
    )


def _version_callback(value: bool) -> None:
    if value:
        from irisfw import __version__

        typer.echo(f"irisfw {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    context: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log diagnostics to stderr.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only results and errors.")
    ] = False,
) -> None:
    """Train one neural-network classifier with several ML toolkits and compare them."""
    level = logging.WARNING
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = logging.ERROR
    logging.basicConfig(level=level, format="irisfw: %(levelname)s: %(message)s")
    context.obj = {"verbose": verbose, "quiet": quiet}


@app.command()
def backends(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
    show_plugins: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also list every plugin, loaded or failed, with the hooks it implements.",
        ),
    ] = False,
) -> None:
    """List installed backends, their toolkits, and plugins that failed to load."""
    from irisfw.commands import list_backends

    list_backends(as_json=as_json, show_plugins=show_plugins)


@app.command()
def datasets(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """List the named datasets that --data accepts."""
    from irisfw.commands import list_datasets

    list_datasets(as_json=as_json)


@app.command()
def compare(
    context: typer.Context,
    backend: Annotated[
        list[str] | None,
        typer.Option(
            "--backend",
            "-b",
            help="Backend to run; repeat for several. Default: every available backend.",
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data", "-d", help="CSV file path or dataset name. Default: iris."
        ),
    ] = None,
    target: TargetOption = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    header: HeaderOption = None,
    drop_column: DropColumnOption = None,
    keep_column: KeepColumnOption = None,
    missing: MissingOption = "error",
    categorical: CategoricalOption = "error",
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed for the split, the weights and the shuffling; repeats use"
            " seed, seed+1, ... Default: 0."
        ),
    ] = None,
    test_size: Annotated[
        float | None,
        typer.Option(help="Fraction of rows held out for testing. Default: 0.3."),
    ] = None,
    repeats: Annotated[
        int | None,
        typer.Option(help="Run every backend and spec on this many seeds. Default: 1."),
    ] = None,
    cv: Annotated[
        int | None,
        typer.Option(
            help="Stratified K-fold cross-validation with K folds instead of one"
            " test split."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="TOML file with data, seeds, backends, options and spec grids;"
            " command-line options override it."
        ),
    ] = None,
    hidden: Annotated[
        str | None,
        typer.Option(
            help="Hidden layer sizes, comma-separated, e.g. 20,20. Default: 16."
        ),
    ] = None,
    activation: Annotated[
        str | None, typer.Option(help="relu, tanh or logistic. Default: relu.")
    ] = None,
    optimizer: Annotated[
        str | None, typer.Option(help="adam or sgd (no momentum). Default: adam.")
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option(help="Optimizer step size. Default: 0.01.")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Passes over the training rows. Default: 100.")
    ] = None,
    batch_size: Annotated[
        str | None,
        typer.Option(
            help="Rows per gradient step, or 'full' for full batch. Default: 16."
        ),
    ] = None,
    loss: Annotated[
        str | None, typer.Option(help="cross_entropy or mse. Default: cross_entropy.")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Backend option as BACKEND.KEY=VALUE, e.g. torch.device=cuda; repeatable.",
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help=FORMAT_HELP)
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option(
            help="Write the results to this file instead of stdout, rewritten"
            " atomically after every finished run."
        ),
    ] = None,
    plot: Annotated[Path | None, typer.Option(help=PLOT_HELP)] = None,
    plot_format: Annotated[str | None, typer.Option(help=PLOT_FORMAT_HELP)] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            help="Runs at once, each in its own process. Default: CPUs, capped by runs.",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds a run may take before it is killed. Default: none."),
    ] = None,
    save_models: Annotated[
        Path | None,
        typer.Option(
            help="Save each successful run's model and manifest into a subfolder"
            " of this folder, for irisfw predict."
        ),
    ] = None,
    in_process: Annotated[
        bool,
        typer.Option(
            "--in-process",
            help="Run every backend in this process, one after another, for debugging.",
        ),
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Send every run to the Dask scheduler at this address, e.g."
            " tcp://HOST:8786, or 'local' to start a local Dask cluster with"
            " --jobs workers. Needs irisfw[dask].",
        ),
    ] = None,
) -> None:
    """Train the same classifier with each backend and compare the results."""
    from irisfw.commands import run_compare
    from irisfw.planning import CompareArguments

    arguments = CompareArguments(
        backends=list(backend or []),
        data=data,
        target=target,
        seed=seed,
        test_size=test_size,
        spec_values=_spec_values(
            hidden=hidden,
            activation=activation,
            optimizer=optimizer,
            learning_rate=learning_rate,
            epochs=epochs,
            batch_size=batch_size,
            loss=loss,
        ),
        options=list(option or []),
        output_format=output_format,
        output=output,
        quiet=bool(context.obj["quiet"]),
        jobs=jobs,
        timeout=timeout,
        in_process=in_process,
        repeats=repeats,
        cv=cv,
        config=config,
        save_models=save_models,
        plot_dir=plot,
        plot_formats=plot_format,
        data_options=_data_options(
            delimiter=delimiter,
            encoding=encoding,
            header=header,
            drop_column=drop_column,
            keep_column=keep_column,
            missing=missing,
            categorical=categorical,
        ),
        scheduler=scheduler,
    )
    raise typer.Exit(run_compare(arguments))


@app.command()
def predict(
    model_dir: Annotated[
        Path, typer.Argument(help="A model folder written by compare --save-models.")
    ],
    data: Annotated[Path, typer.Argument(help="CSV file with the feature columns.")],
    output: Annotated[
        Path | None, typer.Option(help="Write the predictions to this file.")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="csv or json.")
    ] = "csv",
    ignore_extra: Annotated[
        bool,
        typer.Option(
            "--ignore-extra",
            help="Ignore columns the model was not trained on, the label included.",
        ),
    ] = False,
) -> None:
    """Predict classes and probabilities for new rows with a saved model."""
    from irisfw.predicting import run_predict

    run_predict(model_dir, data, output, output_format, ignore_extra=ignore_extra)


@app.command()
def report(
    context: typer.Context,
    results: Annotated[
        Path | None,
        typer.Argument(
            metavar="RESULTS.json",
            help="Results file written by 'irisfw compare --format json'.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help=FORMAT_HELP)
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option(help="Write the report to this file instead of stdout."),
    ] = None,
    plot: Annotated[Path | None, typer.Option(help=PLOT_HELP)] = None,
    plot_format: Annotated[str | None, typer.Option(help=PLOT_FORMAT_HELP)] = None,
    schema: Annotated[
        bool,
        typer.Option(
            "--schema", help="Print the JSON schema of results files and exit."
        ),
    ] = False,
) -> None:
    """Render a saved comparison in any format, with plots, without training."""
    from irisfw.output import ReportArguments, run_report

    arguments = ReportArguments(
        results=results,
        output_format=output_format,
        output=output,
        plot_dir=plot,
        plot_formats=plot_format,
        schema=schema,
        quiet=bool(context.obj["quiet"]),
    )
    raise typer.Exit(run_report(arguments))


@app.command("inspect")
def inspect_command(
    data: Annotated[
        str, typer.Argument(metavar="DATA", help="CSV file path or dataset name.")
    ] = "iris",
    target: TargetOption = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    header: HeaderOption = None,
    drop_column: DropColumnOption = None,
    keep_column: KeepColumnOption = None,
    missing: MissingOption = "error",
    categorical: CategoricalOption = "error",
    seed: SeedOption = 0,
    test_size: TestSizeOption = 0.3,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of text.")
    ] = False,
) -> None:
    """Show how a data source is read and prepared, without training anything."""
    from irisfw.commands import InspectArguments, inspect_data

    inspect_data(
        InspectArguments(
            data=data,
            target=target,
            seed=seed,
            test_size=test_size,
            data_options=_data_options(
                delimiter=delimiter,
                encoding=encoding,
                header=header,
                drop_column=drop_column,
                keep_column=keep_column,
                missing=missing,
                categorical=categorical,
            ),
            as_json=as_json,
        )
    )


def _spec_values(**given: Any) -> dict[str, Any]:
    """Convert CLI spellings into ModelSpec fields, keeping only given options."""
    values = {key: value for key, value in given.items() if value is not None}
    if "hidden" in values:
        text = values.pop("hidden")
        try:
            values["hidden_layers"] = tuple(int(part) for part in text.split(","))
        except ValueError:
            raise IrisfwError(
                f"invalid --hidden {text!r}; pass layer sizes as integers separated"
                " by commas, e.g. --hidden 20,20"
            ) from None
    if "batch_size" in values:
        text = values["batch_size"].strip().lower()
        if text in {"full", "none"}:
            values["batch_size"] = None
        else:
            try:
                values["batch_size"] = int(text)
            except ValueError:
                raise IrisfwError(
                    f"invalid --batch-size {text!r}; pass a positive integer or 'full'"
                ) from None
    return values


def main() -> None:
    """Run the CLI, turning user errors into one line on stderr and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except IrisfwError as exc:
        _fail(str(exc), EXIT_USAGE)
    except typer.TyperException as exc:
        # Usage errors from argument parsing: a bad option name or value.
        context = getattr(exc, "ctx", None)
        hint = f"; see '{context.command_path} --help'" if context is not None else ""
        _fail(f"{exc.format_message()}{hint}", EXIT_USAGE)
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _fail(message: str, code: int) -> None:
    # Values from a data file, such as a quoted label, may contain line breaks;
    # escaping them keeps the error on one line.
    one_line = message.replace("\r", "\\r").replace("\n", "\\n")
    sys.stderr.write(f"irisfw: error: {one_line}\n")
    sys.exit(code)
