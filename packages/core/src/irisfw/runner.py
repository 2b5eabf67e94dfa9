"""Execute run requests and collect their results into a Comparison.

By default every run executes in its own spawned worker process (see
``executor.IsolatedProcessExecutor``): toolkits never share an interpreter,
a run past ``--timeout`` is killed, and a crashed worker fails only its own
run. Any ``concurrent.futures.Executor`` can take the place of the local
pool; one that implements ``ClusterExecutor``, such as
``irisfw.distributed.DaskExecutor``, places the prepared data on its workers
itself. ``in_process=True`` runs everything in this process, for debugging.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import socket
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Executor, Future, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from irisfw import __version__, progress
from irisfw.environment import capture_environment
from irisfw.errors import BackendError
from irisfw.plugins import BackendEntry, Plugins
from irisfw.results import (
    Comparison,
    PluginInfo,
    RunResult,
    RunStatus,
    SplitInfo,
    Timings,
    ToolkitInfo,
)
from irisfw.spec import ModelSpec

if TYPE_CHECKING:
    from irisfw.prepare import PreparedData

logger = logging.getLogger(__name__)

TRACEBACK_LINES = 6

# Environment variables that size the thread pools of BLAS libraries, OpenMP,
# PyTorch and TensorFlow; each worker gets its share of the CPUs.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


@dataclass(frozen=True)
class RunRequest:
    """One run: a backend with its options, trained on one spec."""

    backend: str
    spec: ModelSpec
    options: dict[str, Any] = field(default_factory=dict)
    split: int = 0
    save_to: str | None = None

    def describe(self) -> str:
        return (
            f"{self.backend} {self.spec.label} seed {self.spec.seed} split {self.split}"
        )


@dataclass(frozen=True)
class RunEvent:
    """A change in one run's state, for progress displays.

    ``kind`` is ``started`` (with ``pid``), ``epoch`` (with ``epoch`` and
    ``epochs``) or ``finished`` (with ``result``).
    """

    index: int
    request: RunRequest
    kind: str
    pid: int | None = None
    epoch: int | None = None
    epochs: int | None = None
    result: RunResult | None = None


@runtime_checkable
class ClusterExecutor(Protocol):
    """An Executor that places the prepared data on its workers itself.

    ``stage`` returns one reference per split that the executor's workers
    resolve to the PreparedData; the runner passes it to ``run_in_worker`` in
    place of a folder. ``watch`` sets the callbacks that the local executor
    takes in its constructor.
    """

    def stage(self, data: list[PreparedData]) -> list[Any]: ...

    def watch(
        self,
        on_start: Callable[[Future, int], None] | None,
        on_progress: Callable[[Future, Any], None] | None,
    ) -> None: ...


class ComparisonInterrupted(Exception):
    """The user interrupted the comparison; ``comparison`` keeps what finished."""

    def __init__(self, comparison: Comparison) -> None:
        super().__init__("interrupted")
        self.comparison = comparison


def default_jobs(run_count: int) -> int:
    """Return the number of CPUs, capped by the number of runs."""
    return max(1, min(os.cpu_count() or 1, run_count))


def threads_per_worker(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def worker_environ(threads: int, plugin_environ: dict[str, str]) -> dict[str, str]:
    """Return the variables each worker needs: its thread budget and plugin selection.

    Thread variables the user set in this process are kept.
    """
    environ = {
        name: str(threads) for name in THREAD_VARIABLES if name not in os.environ
    }
    environ["IRISFW_THREADS"] = str(threads)
    environ.update(plugin_environ)
    return environ


def base_result(
    request: RunRequest, entry: BackendEntry, data_fingerprint: str
) -> dict[str, Any]:
    """Return the RunResult fields known before the run starts."""
    backend_class = entry.backend_class
    return {
        "backend": request.backend,
        "label": request.backend,
        "spec": request.spec,
        "seed": request.spec.seed,
        "options": dict(request.options),
        "toolkit": ToolkitInfo(
            name=backend_class.toolkit, version=backend_class.toolkit_version()
        ),
        "plugin": PluginInfo(
            distribution=entry.plugin.distribution, version=entry.plugin.version
        ),
        "fingerprint": data_fingerprint,
        "split": request.split,
    }


def execute_run(
    request: RunRequest, entry: BackendEntry, data: PreparedData
) -> RunResult:
    """Train and evaluate one run; any exception becomes a failed RunResult."""
    base = base_result(request, entry, data.fingerprint)
    base["worker_pid"] = os.getpid()
    base["started_at"] = datetime.now(UTC)
    threads = os.environ.get("IRISFW_THREADS")
    base["threads"] = int(threads) if threads else None
    backend_class = entry.backend_class
    timings = Timings()
    caught: list[warnings.WarningMessage] = []
    try:
        backend = backend_class(backend_class.parse_options(request.options))
        base["label"] = backend.label
        backend.check_spec(request.spec)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            backend.load_toolkit()
            timings.import_seconds = time.perf_counter() - start

            start = time.perf_counter()
            model = backend.fit(data, request.spec)
            timings.fit_seconds = time.perf_counter() - start

            model.predict_proba(data.x_test)  # untimed warm-up
            start = time.perf_counter()
            test_proba = model.predict_proba(data.x_test)
            timings.predict_seconds = time.perf_counter() - start
            train_proba = model.predict_proba(data.x_train)

        from irisfw.metrics import check_probabilities, compute_metrics

        test_proba = check_probabilities(test_proba, len(data.y_test), data.n_classes)
        train_proba = check_probabilities(
            train_proba, len(data.y_train), data.n_classes
        )
        metrics = compute_metrics(
            data.y_train, train_proba, data.y_test, test_proba, data.class_names
        )
    except Exception as exc:
        return RunResult(
            **base,
            status="failed",
            error=describe_exception(exc),
            timings=timings,
            warnings=_warning_texts(caught),
            finished_at=datetime.now(UTC),
        )
    run_warnings = [*model.warnings, *_warning_texts(caught)]
    if request.save_to is not None:
        base["model_path"] = _save(request, base, model, data, metrics, run_warnings)
    return RunResult(
        **base,
        status="ok",
        metrics=metrics,
        timings=timings,
        history=model.history,
        warnings=run_warnings,
        details=model.details,
        finished_at=datetime.now(UTC),
    )


def _save(
    request: RunRequest,
    base: dict[str, Any],
    model: Any,
    data: PreparedData,
    metrics: Any,
    run_warnings: list[str],
) -> str | None:
    """Save a successful run's model; a failure becomes a warning, not a failed run."""
    from irisfw.models import save_model

    folder = Path(request.save_to or "")
    try:
        save_model(
            model,
            folder,
            backend=request.backend,
            label=base["label"],
            plugin=base["plugin"],
            toolkit=base["toolkit"],
            spec=request.spec,
            options=request.options,
            data=data,
            metrics=metrics,
        )
    except Exception as exc:
        logger.warning("saving %s to %s failed: %s", request.backend, folder, exc)
        run_warnings.append(f"model not saved: {type(exc).__name__}: {exc}")
        return None
    return str(folder)


def run_in_worker(
    request: RunRequest,
    data: str | PreparedData,
    log_level: int,
    plugin_environ: dict[str, str] | None = None,
) -> RunResult:
    """Worker entry point: load plugins and the prepared data, then run.

    ``data`` is the folder ``save_prepared`` wrote the run's split to, or the
    split itself. ``plugin_environ`` chooses plugins as in this process.
    """
    logging.basicConfig(level=log_level, format="irisfw: %(levelname)s: %(message)s")
    from irisfw.prepare import load_prepared

    plugins = Plugins(environ={**os.environ, **(plugin_environ or {})})
    try:
        entry = plugins.backend(request.backend)
    except BackendError as exc:
        raise BackendError(f"{exc} (in {_describe_worker()})") from None
    # A split passed as an object is shared by the runs of one Dask worker.
    prepared = load_prepared(Path(data)) if isinstance(data, str) else _read_only(data)
    missing = missing_toolkit(entry)
    if missing is not None:
        return RunResult(
            **base_result(request, entry, prepared.fingerprint),
            status="failed",
            error=missing,
            worker_pid=os.getpid(),
            finished_at=datetime.now(UTC),
        )
    return execute_run(request, entry, prepared)


def _read_only(data: PreparedData) -> PreparedData:
    """Mark the arrays of ``data`` read-only, as ``prepare`` leaves them; return it.

    Pickling drops the flag, so a split that reached a worker by pickle is
    writable again.
    """
    import numpy as np

    for item in dataclasses.fields(data):
        value = getattr(data, item.name)
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return data


def missing_toolkit(entry: BackendEntry) -> str | None:
    """Return an error naming the backend's toolkit if this worker lacks it, else None."""
    backend_class = entry.backend_class
    package = None
    if backend_class.toolkit_version() is None:
        package = backend_class.toolkit
    elif backend_class.toolkit_module is not None:
        module = backend_class.toolkit_module
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            package = f"{backend_class.toolkit} (module {module})"
    if package is None:
        return None
    return (
        f"ToolkitNotInstalled: backend {entry.name!r} needs {package}, which is not"
        f" installed in {_describe_worker()}; install {backend_class.toolkit} there,"
        " at the version the other workers have"
    )


def _describe_worker() -> str:
    from irisfw.distributed import current_worker_address

    address = current_worker_address()
    if address is not None:
        return f"Dask worker {address}"
    return f"worker process {os.getpid()} on {socket.gethostname()}"


def describe_exception(exc: BaseException) -> str:
    if exc.__traceback__ is None:
        # Created by an executor rather than raised: the message is all there is.
        return f"{type(exc).__name__}: {exc}"
    lines = traceback.format_exception(exc)
    tail = "".join(lines[-TRACEBACK_LINES:]).rstrip()
    return f"{type(exc).__name__}: {exc}\n{tail}"


def _warning_texts(caught: Iterable[warnings.WarningMessage]) -> list[str]:
    """Deduplicate recorded warnings, keeping the first occurrence's order."""
    texts: dict[str, None] = {}
    for warning in caught:
        texts[f"{warning.category.__name__}: {warning.message}"] = None
    return list(texts)


def result_from_error(
    request: RunRequest,
    entry: BackendEntry,
    data_fingerprint: str,
    exc: BaseException,
    pid: int | None,
) -> RunResult:
    """Turn an executor-side failure (timeout, crash, cancel) into a RunResult."""
    from irisfw.executor import (
        RemoteError,
        TaskCancelledError,
        TaskTimeoutError,
        WorkerDiedError,
    )

    status: RunStatus = "failed"
    if isinstance(exc, TaskTimeoutError):
        status = "timeout"
        error = str(exc)
    elif isinstance(exc, TaskCancelledError | CancelledError):
        status = "cancelled"
        error = "cancelled before it finished"
    elif isinstance(exc, WorkerDiedError):
        error = f"WorkerDiedError: {exc}"
    elif isinstance(exc, RemoteError):
        tail = "".join(exc.traceback_text.splitlines(True)[-TRACEBACK_LINES:]).rstrip()
        error = f"{exc}\n{tail}"
    else:
        error = describe_exception(exc)
    return RunResult(
        **base_result(request, entry, data_fingerprint),
        status=status,
        error=error,
        worker_pid=pid,
        finished_at=datetime.now(UTC),
    )


def run_comparison(
    requests: list[RunRequest],
    data: PreparedData | list[PreparedData],
    plugins: Plugins,
    *,
    splits: list[SplitInfo] | None = None,
    jobs: int | None = None,
    timeout: float | None = None,
    in_process: bool = False,
    executor: Executor | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    on_result: Callable[[Comparison], None] | None = None,
) -> Comparison:
    """Run every request and return the Comparison, runs in request order.

    ``data`` is one PreparedData or one per split; ``RunRequest.split``
    indexes it and ``splits`` describes it. ``on_event`` receives progress
    events; ``on_result`` receives the Comparison so far after each finished
    run (for atomic result files). Raises ComparisonInterrupted on Ctrl-C
    after stopping the workers.
    """
    from irisfw.stats import add_statistics

    prepared = data if isinstance(data, list) else [data]
    comparison = Comparison(
        irisfw_version=__version__,
        data=prepared[0].summary(),
        splits=splits or [],
        environment=capture_environment(plugins),
    )
    entries = [plugins.backend(request.backend) for request in requests]
    results: list[RunResult | None] = [None] * len(requests)

    def emit(event: RunEvent) -> None:
        if on_event is not None:
            on_event(event)

    def record(index: int, result: RunResult) -> None:
        results[index] = result
        comparison.runs = [run for run in results if run is not None]
        add_statistics(comparison)
        plugins.run_finished(result, comparison.data)
        emit(RunEvent(index, requests[index], "finished", result=result))
        if on_result is not None:
            on_result(comparison)

    try:
        if in_process:
            _run_in_process(requests, entries, prepared, emit, record)
        else:
            _run_isolated(
                requests,
                entries,
                prepared,
                jobs,
                timeout,
                executor,
                emit,
                record,
                plugins.selection_environ(),
            )
    except KeyboardInterrupt:
        for index, request in enumerate(requests):
            if results[index] is None:
                results[index] = result_from_error(
                    request,
                    entries[index],
                    prepared[request.split].fingerprint,
                    CancelledError(),
                    None,
                )
        comparison.runs = [run for run in results if run is not None]
        add_statistics(comparison)
        raise ComparisonInterrupted(comparison) from None
    comparison.runs = [run for run in results if run is not None]
    add_statistics(comparison)
    return comparison


def _run_in_process(
    requests: list[RunRequest],
    entries: list[BackendEntry],
    data: list[PreparedData],
    emit: Callable[[RunEvent], None],
    record: Callable[[int, RunResult], None],
) -> None:
    for index, (request, entry) in enumerate(zip(requests, entries, strict=True)):
        emit(RunEvent(index, request, "started", pid=os.getpid()))

        def send(
            message: Any, index: int = index, request: RunRequest = request
        ) -> None:
            _emit_progress(emit, index, request, message)

        progress.set_sender(send)
        try:
            record(index, execute_run(request, entry, data[request.split]))
        finally:
            progress.set_sender(None)


def _emit_progress(
    emit: Callable[[RunEvent], None], index: int, request: RunRequest, message: Any
) -> None:
    if isinstance(message, tuple) and message and message[0] == "epoch":
        emit(RunEvent(index, request, "epoch", epoch=message[1], epochs=message[2]))


def _run_isolated(
    requests: list[RunRequest],
    entries: list[BackendEntry],
    data: list[PreparedData],
    jobs: int | None,
    timeout: float | None,
    executor: Executor | None,
    emit: Callable[[RunEvent], None],
    record: Callable[[int, RunResult], None],
    plugin_environ: dict[str, str],
) -> None:
    from irisfw.executor import IsolatedProcessExecutor
    from irisfw.prepare import save_prepared

    jobs = jobs or default_jobs(len(requests))
    threads = threads_per_worker(jobs)
    index_of: dict[Future, int] = {}
    pids: dict[int, int] = {}
    # Held while submitting, so a worker's start event never arrives before
    # its future is in index_of.
    submitting = threading.Lock()

    def on_start(future: Future, pid: int) -> None:
        with submitting:
            index = index_of.get(future)
        if index is not None:
            pids[index] = pid
            emit(RunEvent(index, requests[index], "started", pid=pid))

    def on_progress(future: Future, message: Any) -> None:
        index = index_of.get(future)
        if index is not None:
            _emit_progress(emit, index, requests[index], message)

    log_level = logging.getLogger("irisfw").getEffectiveLevel()

    with contextlib.ExitStack() as stack:
        if isinstance(executor, ClusterExecutor):
            executor.watch(on_start, on_progress)
            locations: list[Any] = executor.stage(data)
        else:
            directory = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="irisfw-"))
            )
            locations = []
            for index, split in enumerate(data):
                save_prepared(split, directory / f"split-{index}")
                locations.append(str(directory / f"split-{index}"))
        owned = executor is None
        if executor is None:
            executor = IsolatedProcessExecutor(
                jobs,
                timeout=timeout,
                environ=worker_environ(threads, plugin_environ),
                on_progress=on_progress,
                on_start=on_start,
            )
        try:
            with submitting:
                for index, request in enumerate(requests):
                    future = executor.submit(
                        run_in_worker,
                        request,
                        locations[request.split],
                        log_level,
                        plugin_environ,
                    )
                    index_of[future] = index
            for future in as_completed(index_of):
                index = index_of[future]
                try:
                    result = future.result()
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    result = result_from_error(
                        requests[index],
                        entries[index],
                        data[requests[index].split].fingerprint,
                        exc,
                        pids.get(index),
                    )
                record(index, result)
        except KeyboardInterrupt:
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            if owned:
                executor.shutdown(wait=True, cancel_futures=True)
