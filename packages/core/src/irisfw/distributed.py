"""Run comparisons on a Dask cluster through the runner's executor interface.

``DaskExecutor`` is a ``concurrent.futures.Executor`` that submits each call
to a ``distributed.Client``. On top of ``Client.submit`` it adds:

- start events and ``irisfw.progress`` messages, sent through Dask's
  structured events (``Worker.log_event`` and ``Client.subscribe_topic``);
- a time limit per task;
- one retry when a task's worker is lost;
- ``stage``, which places the prepared data on the cluster once per split.

``dask_executor`` connects to a scheduler address, or starts a
``LocalCluster`` on 127.0.0.1 for ``--scheduler local``. This module imports
dask only inside its functions, so ``irisfw --help`` stays fast and works
without the ``irisfw[dask]`` extra.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, InvalidStateError
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from irisfw import progress
from irisfw.errors import IrisfwError
from irisfw.executor import RemoteError, TaskCancelledError, TaskTimeoutError

if TYPE_CHECKING:
    from irisfw.prepare import PreparedData

logger = logging.getLogger(__name__)

LOCAL = "local"
# A lost worker costs each of its runs one retry. A run whose retry loses its
# worker too is recorded as failed.
RETRIES = 1
CONNECT_TIMEOUT_SECONDS = 10
WORKER_WAIT_SECONDS = 60
RESTART_TIMEOUT_SECONDS = 60
POLL_SECONDS = 0.1


class WorkerLostError(Exception):
    """Every worker that ran the task was lost before it returned a result."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        if not addresses:
            text = "the Dask worker running this run was lost"
        elif len(addresses) == 1:
            text = f"Dask worker {addresses[0]} was lost while running this run"
        else:
            text = (
                f"Dask worker {addresses[0]} was lost while running this run, and"
                f" worker {', '.join(addresses[1:])} was lost on the retry"
            )
        super().__init__(f"{text}; check the worker logs for the cause")


class ClusterTimeoutError(TaskTimeoutError):
    """The task ran past its time limit, so it was cancelled and its worker restarted."""

    def __init__(
        self, seconds: float, pid: int | None, address: str, restarting: bool
    ) -> None:
        super().__init__(seconds, pid)
        self.address = address
        if restarting:
            outcome = f"Dask worker {address} is restarting to stop it"
        else:
            outcome = (
                f"it keeps running on Dask worker {address}, which has no nanny to"
                " restart it"
            )
        self.args = (
            f"timed out after {seconds:g} s; the task was cancelled and {outcome}",
        )


class ClusterError(Exception):
    """Dask gave up on a task for a reason other than its own code or a lost worker."""


def import_distributed() -> Any:
    """Import and return the ``distributed`` package, or raise IrisfwError with the fix."""
    try:
        import distributed
    except ImportError:
        raise IrisfwError(
            "--scheduler needs Dask's distributed package, which is not installed;"
            " pip install 'irisfw[dask]'"
        ) from None
    return distributed


def current_worker_address() -> str | None:
    """Return the address of the Dask worker running this code, or None outside one."""
    # A Dask worker has imported distributed already; anywhere else, importing
    # it only to find out would slow down every run.
    if "distributed" not in sys.modules:
        return None
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:
        return None


# The task each thread of this worker process is running, for progress
# messages. A message from a thread that runs no task is dropped, so a
# backend reports epochs from the thread that calls its fit.
_running = threading.local()


def _forward_progress(message: Any) -> None:
    state = getattr(_running, "task", None)
    if state is None:
        return
    worker, topic, key = state
    if isinstance(message, tuple):
        message = list(message)
    worker.log_event(topic, {"kind": "progress", "key": key, "message": message})


def run_task(
    key: str,
    topic: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[Any, ...]:
    """Run ``fn`` on a Dask worker and return its outcome with the worker's identity.

    Returns ``("result", value, address, pid)`` or, when ``fn`` raises,
    ``("error", type name, message, traceback text, address, pid)``, the
    same information the local executor sends back from its workers. A
    ``started`` event goes to ``topic`` first.
    """
    from distributed import get_worker

    worker = get_worker()
    pid = os.getpid()
    worker.log_event(
        topic, {"kind": "started", "key": key, "address": worker.address, "pid": pid}
    )
    _running.task = (worker, topic, key)
    progress.set_sender(_forward_progress)
    try:
        value = fn(*args, **kwargs)
    except BaseException as exc:
        return (
            "error",
            type(exc).__name__,
            str(exc),
            "".join(traceback.format_exception(exc)),
            worker.address,
            pid,
        )
    finally:
        _running.task = None
    return ("result", value, worker.address, pid)


def provide_split(data: PreparedData) -> PreparedData:
    """Return ``data``, so that one split stays in a worker's memory as a task result."""
    return data


@dataclass
class _Task:
    key: str
    future: Future
    dask_future: Any
    addresses: list[str] = field(default_factory=list)
    pid: int | None = None
    deadline: float | None = None


class DaskExecutor(Executor):
    """Submit each call to a Dask cluster and resolve futures as the local executor does.

    A future resolves to the call's return value, or raises:

    - ``RemoteError`` when the call raised;
    - ``ClusterTimeoutError`` when it ran past ``timeout`` seconds, counted
      from its start on a worker;
    - ``WorkerLostError`` when its worker and then the retry's worker were lost;
    - ``TaskCancelledError`` after ``shutdown(cancel_futures=True)``;
    - ``ClusterError`` when Dask cancelled it.

    ``on_start(future, pid)`` and ``on_progress(future, message)`` run in the
    supervisor thread.
    """

    def __init__(
        self,
        client: Any,
        *,
        timeout: float | None = None,
        retries: int = RETRIES,
        on_start: Callable[[Future, int], None] | None = None,
        on_progress: Callable[[Future, Any], None] | None = None,
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._retries = retries
        self._on_start = on_start
        self._on_progress = on_progress
        self._topic = f"irisfw-{uuid.uuid4().hex}"
        self._tasks: dict[str, _Task] = {}
        self._staged: list[Any] = []
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closing = False
        self._restarts: list[threading.Thread] = []
        client.subscribe_topic(self._topic, self._receive_event)
        self._subscribed = True
        self._supervisor = threading.Thread(
            target=self._supervise, name="irisfw-dask-supervisor", daemon=True
        )
        self._supervisor.start()

    @property
    def client(self) -> Any:
        return self._client

    def watch(
        self,
        on_start: Callable[[Future, int], None] | None,
        on_progress: Callable[[Future, Any], None] | None,
    ) -> None:
        """Set the callbacks for task starts and progress messages."""
        self._on_start = on_start
        self._on_progress = on_progress

    def stage(self, data: list[PreparedData]) -> list[Any]:
        """Place each split on the cluster once; return one Dask future per split.

        Each split becomes a task that returns it, not a ``client.scatter``,
        so the scheduler keeps it in the task graph and computes it again if
        every worker holding it is lost. The worker that computes it sends it
        to each other worker the first time a run there needs it.
        """
        prefix = f"irisfw-data-{uuid.uuid4().hex}"
        futures = [
            self._client.submit(
                provide_split, split, key=f"{prefix}-{index}", pure=False
            )
            for index, split in enumerate(data)
        ]
        self._staged.extend(futures)
        return futures

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            if self._closing:
                raise RuntimeError("cannot submit after shutdown")
            key = f"irisfw-run-{uuid.uuid4().hex}"
            future: Future = Future()
            future.set_running_or_notify_cancel()
            dask_future = self._client.submit(
                run_task, key, self._topic, fn, args, kwargs, key=key, pure=False
            )
            self._tasks[key] = _Task(key, future, dask_future)
        dask_future.add_done_callback(
            lambda _, key=key: self._events.put(("done", key))
        )
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closing = True
            cancelled = list(self._tasks.values()) if cancel_futures else []
            for task in cancelled:
                del self._tasks[task.key]
        if cancelled:
            self._cancel_on_cluster([task.dask_future for task in cancelled])
            for task in cancelled:
                self._resolve(task, error=TaskCancelledError("cancelled"))
        if wait:
            self._supervisor.join()
            for thread in self._restarts:
                thread.join(RESTART_TIMEOUT_SECONDS)
            self._release()

    def _release(self) -> None:
        """Stop listening for events and let the cluster free the staged data."""
        with self._lock:
            subscribed, self._subscribed = self._subscribed, False
            staged, self._staged = self._staged, []
        if subscribed:
            try:
                self._client.unsubscribe_topic(self._topic)
            except (ValueError, OSError) as exc:
                logger.debug("unsubscribing from %s failed: %s", self._topic, exc)
        self._cancel_on_cluster(staged)

    def _cancel_on_cluster(self, dask_futures: list[Any]) -> None:
        if not dask_futures:
            return
        try:
            self._client.cancel(dask_futures, force=True)
        except (OSError, TimeoutError) as exc:
            logger.warning(
                "cancelling %d Dask tasks failed: %s", len(dask_futures), exc
            )

    def _receive_event(self, event: tuple[float, dict[str, Any]]) -> None:
        # Called in the client's event loop thread, which must not block.
        self._events.put(("event", event[1]))

    def _supervise(self) -> None:
        while True:
            try:
                kind, value = self._events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                kind, value = "", None
            try:
                if kind == "event":
                    self._handle_event(value)
                elif kind == "done":
                    self._handle_done(value)
                self._check_deadlines()
            except Exception:
                logger.exception("supervising Dask task %s failed", value)
            with self._lock:
                if self._closing and not self._tasks:
                    return

    def _handle_event(self, message: dict[str, Any]) -> None:
        with self._lock:
            task = self._tasks.get(message.get("key", ""))
        if task is None:
            return
        if message["kind"] == "started":
            self._handle_start(task, message["address"], message["pid"])
        elif message["kind"] == "progress" and self._on_progress is not None:
            content = message["message"]
            self._on_progress(
                task.future, tuple(content) if isinstance(content, list) else content
            )

    def _handle_start(self, task: _Task, address: str, pid: int) -> None:
        task.addresses.append(address)
        task.pid = pid
        if self._timeout is not None:
            task.deadline = time.monotonic() + self._timeout
        attempt = len(task.addresses)
        if attempt > 1:
            logger.warning(
                "Dask worker %s was lost while running task %s; attempt %d runs on"
                " worker %s",
                task.addresses[-2],
                task.key,
                attempt,
                address,
            )
        if attempt > 1 + self._retries:
            # The scheduler allows more attempts than irisfw does, so the extra
            # attempt is cancelled. NOTE: it keeps its worker thread busy
            # until the call returns, because Dask cannot stop a running thread.
            with self._lock:
                self._tasks.pop(task.key, None)
            self._cancel_on_cluster([task.dask_future])
            self._resolve(task, error=WorkerLostError(task.addresses[:-1]))
            return
        if self._on_start is not None:
            self._on_start(task.future, pid)

    def _handle_done(self, key: str) -> None:
        with self._lock:
            task = self._tasks.pop(key, None)
        if task is None:
            return
        dask_future = task.dask_future
        try:
            if dask_future.status == "finished":
                outcome = dask_future.result()
            elif dask_future.status == "error":
                error = self._describe_error(task, dask_future)
                self._resolve(task, error=error)
                return
            else:
                self._resolve(
                    task,
                    error=ClusterError(
                        f"Dask cancelled task {task.key} ({dask_future.status}); the"
                        " connection to the scheduler may have been lost"
                    ),
                )
                return
        except Exception as exc:
            # The result lives on a worker, which can be lost before it is read.
            self._resolve(
                task,
                error=ClusterError(
                    f"reading the outcome of Dask task {task.key} failed:"
                    f" {type(exc).__name__}: {exc}"
                ),
            )
            return
        self._resolve_outcome(task, outcome)

    def _resolve_outcome(self, task: _Task, outcome: tuple[Any, ...]) -> None:
        address, pid = outcome[-2], outcome[-1]
        if not task.addresses:
            # The start event can arrive after the result; report the start
            # first so that every run starts before it finishes.
            task.addresses.append(address)
            if self._on_start is not None:
                self._on_start(task.future, pid)
        if outcome[0] == "error":
            self._resolve(task, error=RemoteError(*outcome[1:4]))
            return
        value = outcome[1]
        if len(task.addresses) > 1:
            value = _note_retry(value, task.addresses[:-1])
        self._resolve(task, result=value)

    def _describe_error(self, task: _Task, dask_future: Any) -> BaseException:
        from distributed import KilledWorker

        error = dask_future.exception()
        if isinstance(error, KilledWorker):
            addresses = list(task.addresses)
            last = error.last_worker.address
            if last not in addresses:
                addresses.append(last)
            return WorkerLostError(addresses)
        return error

    def _check_deadlines(self) -> None:
        if self._timeout is None:
            return
        now = time.monotonic()
        with self._lock:
            expired = [
                task
                for task in self._tasks.values()
                if task.deadline is not None and now > task.deadline
            ]
            for task in expired:
                del self._tasks[task.key]
        for task in expired:
            address = task.addresses[-1]
            self._cancel_on_cluster([task.dask_future])
            restarting = self._restart_worker(address)
            self._resolve(
                task,
                error=ClusterTimeoutError(self._timeout, task.pid, address, restarting),
            )

    def _restart_worker(self, address: str) -> bool:
        """Start restarting ``address`` in the background; return whether it started.

        Restarting the worker process is the only way to stop a running task.
        A worker without a nanny is left alone, because Dask would close it
        for good.
        """
        try:
            workers = self._client.scheduler_info()["workers"]
        except (OSError, TimeoutError) as exc:
            logger.warning("reading the Dask workers failed: %s", exc)
            return False
        if address in workers and not workers[address].get("nanny"):
            logger.warning(
                "Dask worker %s has no nanny to restart it, so its timed-out task"
                " keeps running until it returns",
                address,
            )
            return False

        def restart() -> None:
            try:
                status = self._client.restart_workers(
                    [address], timeout=RESTART_TIMEOUT_SECONDS, raise_for_error=False
                )
            except Exception as exc:
                logger.warning("restarting Dask worker %s failed: %s", address, exc)
                return
            if status.get(address) != "OK":
                logger.warning(
                    "restarting Dask worker %s failed: %s; its task keeps running"
                    " until it returns",
                    address,
                    status.get(address),
                )

        thread = threading.Thread(
            target=restart, name="irisfw-dask-restart", daemon=True
        )
        thread.start()
        self._restarts.append(thread)
        return True

    @staticmethod
    def _resolve(
        task: _Task, result: Any = None, error: BaseException | None = None
    ) -> None:
        task.dask_future = None
        # shutdown() and the supervisor thread can both resolve a task.
        with contextlib.suppress(InvalidStateError):
            if error is not None:
                task.future.set_exception(error)
            else:
                task.future.set_result(result)


def _note_retry(value: Any, lost: list[str]) -> Any:
    """Record in a RunResult's warnings which workers were lost before it finished."""
    from irisfw.results import RunResult

    if not isinstance(value, RunResult):
        return value
    note = (
        f"retried after Dask worker {', '.join(lost)} was lost while running this run"
    )
    return value.model_copy(update={"warnings": [*value.warnings, note]})


def start_local_cluster(
    workers: int, environ: dict[str, str], *, log_level: int = logging.ERROR
) -> Any:
    """Start a LocalCluster of ``workers`` processes with one thread each, on 127.0.0.1.

    ``environ`` reaches every worker process, and its thread variables are
    set before the worker imports NumPy. The scheduler fails a task after
    its second lost worker, and sends each worker one task at a time, so a
    lost worker costs only the run it was running a retry.

    This raises Dask's ``distributed.deploy.lost-worker-timeout`` for the
    whole process. A LocalCluster closes the nanny of a worker that has been
    lost for that long (15 s by default). The timer of an earlier loss fires
    even while the nanny is restarting the worker after a later loss, and
    then the cluster shrinks for good. The nannies here always restart their
    workers, so the cluster never needs to close one.
    """
    distributed = import_distributed()
    import dask

    from irisfw.runner import THREAD_VARIABLES

    dask.config.set({"distributed.deploy.lost-worker-timeout": "30 days"})

    # Dask's nanny sets these in the environment of this process too, before
    # it spawns a worker (see distributed.Nanny), which is how they reach the
    # worker before NumPy loads.
    pre_spawn = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    pre_spawn.update(
        {name: value for name, value in environ.items() if name in THREAD_VARIABLES}
    )
    settings = {
        "distributed.nanny.pre-spawn-environ": pre_spawn,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with dask.config.set(settings):
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=None,
            worker_dashboard_address=None,
            silence_logs=log_level,
            scheduler_kwargs={"allowed_failures": RETRIES},
            env=environ,
        )


def connect(address: str) -> Any:
    """Connect a Client to the scheduler at ``address`` and wait for a worker."""
    distributed = import_distributed()
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, ValueError) as exc:
        raise IrisfwError(
            f"cannot connect to the Dask scheduler at {address!r}: {exc}; start one"
            " with 'dask scheduler' and pass the address it prints, or use"
            " --scheduler local"
        ) from None
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
        check_cluster(client, address)
    except TimeoutError:
        client.close()
        raise IrisfwError(
            f"no Dask worker joined the scheduler at {address!r} within"
            f" {WORKER_WAIT_SECONDS} s; start workers with 'dask worker {address}'"
        ) from None
    except IrisfwError:
        client.close()
        raise
    return client


def installed_version() -> str:
    """Return the version of the irisfw that this process imports."""
    from irisfw import __version__

    return __version__


def check_cluster(client: Any, address: str) -> None:
    """Raise IrisfwError if the scheduler or a worker cannot import irisfw.

    The scheduler unpickles each run's task, which refers to irisfw's
    classes, and the workers run irisfw, so both need it. Other irisfw
    versions than this process's only log a warning. Workers that join later
    are not checked.
    """
    expected = installed_version()
    versions: dict[str, Any] = {}
    try:
        versions["the scheduler"] = client.run_on_scheduler(installed_version)
    except ImportError as exc:
        raise IrisfwError(
            f"the Dask scheduler at {address!r} cannot import irisfw ({exc}), and it"
            f" needs it to unpickle the runs; install irisfw {expected} there"
        ) from None
    except Exception as exc:
        # A scheduler can block run_function (distributed.scheduler.blocked-handlers),
        # and Dask chooses the error it raises then.
        logger.warning(
            "cannot check irisfw on the Dask scheduler at %s: %s", address, exc
        )
    versions.update(client.run(installed_version, on_error="return"))
    missing = [name for name, found in versions.items() if isinstance(found, Exception)]
    if missing:
        raise IrisfwError(
            f"Dask workers {', '.join(missing)} cannot import irisfw; install"
            f" irisfw {expected} and the backend plugins on every worker"
        )
    different = {name: found for name, found in versions.items() if found != expected}
    if different:
        listed = ", ".join(f"{name} has {found}" for name, found in different.items())
        logger.warning(
            "irisfw versions differ from this process's %s: %s; install %s everywhere"
            " so that every run trains the same way",
            expected,
            listed,
            expected,
        )


@contextmanager
def dask_executor(
    scheduler: str,
    *,
    workers: int,
    environ: dict[str, str],
    timeout: float | None = None,
) -> Iterator[DaskExecutor]:
    """Yield a DaskExecutor on ``scheduler``, an address or ``local``; close all on exit.

    For ``local``, a LocalCluster of ``workers`` processes starts with
    ``environ`` and stops on exit. A remote cluster keeps running, and the
    environment of its workers is whatever they were started with.
    """
    distributed = import_distributed()
    verbose = logging.getLogger("irisfw").isEnabledFor(logging.DEBUG)
    dask_level = logging.WARNING if verbose else logging.ERROR
    # Dask adds no handler of its own when the root logger has one, as it
    # does in the CLI, so its INFO records would reach irisfw's stderr.
    logging.getLogger("distributed").setLevel(dask_level)
    with ExitStack() as stack:
        if scheduler == LOCAL:
            logger.info("starting a local Dask cluster with %d workers", workers)
            cluster = start_local_cluster(workers, environ, log_level=dask_level)
            stack.callback(cluster.close)
            client = distributed.Client(cluster)
        else:
            client = connect(scheduler)
        stack.callback(client.close)
        executor = DaskExecutor(client, timeout=timeout)
        stack.callback(executor.shutdown, wait=True, cancel_futures=True)
        yield executor
