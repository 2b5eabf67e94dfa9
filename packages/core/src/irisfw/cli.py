"""The ``irisfw`` command line. It parses and prints; the core does the work.

Only typer is imported at module level, so ``irisfw --help``, ``--version``
and ``irisfw backends`` stay fast: pandas, scikit-learn and the toolkits are
imported inside the commands that need them.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from irisfw.errors import IrisfwError

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="irisfw",
    help="Train one neural-network classifier with several ML toolkits and compare them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="irisfw: %(levelname)s: %(message)s")
    context.obj = {"verbose": verbose, "quiet": quiet}


@app.command()
def backends(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """List installed backends, their toolkits, and plugins that failed to load."""
    from irisfw.commands import list_backends

    list_backends(as_json=as_json)


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
    target: Annotated[
        str | None,
        typer.Option(
            help="Label column, matched case-insensitively. Default: species for CSV files."
        ),
    ] = None,
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
        str, typer.Option("--format", "-f", help="table, json, csv or markdown.")
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option(
            help="Write the results to this file instead of stdout, rewritten"
            " atomically after every finished run."
        ),
    ] = None,
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
        scheduler=scheduler,
    )
    raise typer.Exit(run_compare(arguments))


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
    sys.stderr.write(f"irisfw: error: {message}\n")
    sys.exit(code)
