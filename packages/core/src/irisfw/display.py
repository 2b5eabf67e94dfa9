"""Live progress on stderr while a comparison runs; stdout keeps only results."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

if TYPE_CHECKING:
    from irisfw.results import RunResult
    from irisfw.runner import RunEvent


def outcome(result: RunResult) -> str:
    if result.metrics is not None:
        return f"{result.status}, test accuracy {result.metrics.test_accuracy:.3f}"
    first_line = (result.error or "").splitlines()[0] if result.error else ""
    return f"{result.status}: {first_line}" if first_line else result.status


class ProgressDisplay:
    """Show each run as waiting, running (with an epoch bar), or finished.

    On a terminal this is a rich progress display; otherwise one line per
    finished run. ``quiet`` turns both off.
    """

    def __init__(self, run_count: int, *, quiet: bool) -> None:
        self.console = Console(stderr=True, quiet=quiet)
        self.run_count = run_count
        self.live = self.console.is_terminal and not quiet
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.live,
        )
        self.tasks: dict[int, TaskID] = {}

    def __enter__(self) -> ProgressDisplay:
        self.progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.__exit__(exc_type, exc, tb)

    def add_run(self, index: int, description: str, epochs: int) -> None:
        self.tasks[index] = self.progress.add_task(
            description, total=epochs, state="waiting", start=False
        )

    def __call__(self, event: RunEvent) -> None:
        task = self.tasks.get(event.index)
        if event.kind == "started" and task is not None:
            self.progress.start_task(task)
            self.progress.update(task, state=f"running (pid {event.pid})")
        elif event.kind == "epoch" and task is not None:
            self.progress.update(task, completed=event.epoch, total=event.epochs)
        elif event.kind == "finished" and event.result is not None:
            if task is not None:
                self.progress.update(task, state=outcome(event.result))
                self.progress.stop_task(task)
            if not self.live:
                self.console.print(
                    f"finished {event.request.describe()}: {outcome(event.result)}",
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )
