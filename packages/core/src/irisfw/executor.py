"""An Executor that runs every task in its own freshly spawned process.

``concurrent.futures.ProcessPoolExecutor`` reuses workers, cannot stop a task
that hangs, and marks the whole pool broken when one worker dies. Comparing
toolkits needs the opposite: each run gets a new interpreter (so TensorFlow
and PyTorch never share one), a run past its time limit is killed, and a
crashed worker fails only its own task.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05
TERMINATE_GRACE_SECONDS = 2.0


class WorkerDiedError(Exception):
    """The worker process exited before it returned a result."""

    def __init__(self, exitcode: int | None, pid: int | None) -> None:
        self.exitcode = exitcode
        self.pid = pid
        super().__init__(describe_exitcode(exitcode))


class TaskTimeoutError(Exception):
    """The task ran past its time limit and its worker was killed."""

    def __init__(self, seconds: float, pid: int | None) -> None:
        self.seconds = seconds
        self.pid = pid
        super().__init__(f"timed out after {seconds:g} s; the worker was killed")


class RemoteError(Exception):
    """An exception raised inside the worker, carried back as text."""

    def __init__(self, type_name: str, message: str, traceback_text: str) -> None:
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text
        super().__init__(f"{type_name}: {message}")


def describe_exitcode(exitcode: int | None) -> str:
    if exitcode is None:
        return "worker exited without a result"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"worker was killed by {name} (exit code {exitcode})"
    return f"worker exited with code {exitcode} before returning a result"


class TaskCancelledError(Exception):
    """The executor was shut down with ``cancel_futures`` while the task ran."""


def _child_main(
    connection: Connection, environ: dict[str, str], payload: bytes
) -> None:
    """Run one task in the worker and send its result or error to the parent.

    The environment is updated before the task is unpickled, so variables such
    as OMP_NUM_THREADS are in place before the task's modules import NumPy or
    a toolkit.
    """
    os.environ.update(environ)

    from irisfw import progress

    progress.set_sender(lambda message: connection.send(("progress", message)))
    try:
        fn, args, kwargs = pickle.loads(payload)
        value = fn(*args, **kwargs)
    except BaseException as exc:
        connection.send(
            (
                "error",
                type(exc).__name__,
                str(exc),
                "".join(traceback.format_exception(exc)),
            )
        )
    else:
        connection.send(("result", value))
    finally:
        connection.close()
    _exit_without_teardown()


def _exit_without_teardown() -> None:
    """End the worker at once, now that the parent has its result.

    Interpreter teardown took TensorFlow and Keras workers about 1.6 s and
    torch workers about 0.8 s after their last output (benchmark machine of
    docs/benchmarks.md), and the parent waits for a worker to exit before it
    starts the next run. Teardown would save nothing: the result is sent and
    the worker writes no files.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # A closed or broken stream has nothing left to flush.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(0)


@dataclass
class _Task:
    future: Future
    payload: bytes
    process: Any = None
    connection: Connection | None = None
    deadline: float | None = None
    done: bool = False
    messages: list[Any] = field(default_factory=list)


class IsolatedProcessExecutor(Executor):
    """Run each submitted call in a new ``spawn`` process, at most N at a time.

    ``timeout`` (seconds) limits each task from the moment its process
    starts; a task past it is terminated, then killed, and its future raises
    ``TaskTimeoutError``. A worker that dies raises ``WorkerDiedError`` with
    its exit code. ``environ`` is added to each worker's environment.
    ``on_progress(future, message)`` receives what the task passes to
    ``irisfw.progress.send``, and ``on_start(future, pid)`` is called when a
    worker starts; both run in the supervisor thread.
    """

    def __init__(
        self,
        max_workers: int,
        timeout: float | None = None,
        environ: dict[str, str] | None = None,
        on_progress: Callable[[Future, Any], None] | None = None,
        on_start: Callable[[Future, int], None] | None = None,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self._max_workers = max_workers
        self._timeout = timeout
        self._environ = dict(environ or {})
        self._on_progress = on_progress
        self._on_start = on_start
        self._context = multiprocessing.get_context("spawn")
        self._pending: deque[_Task] = deque()
        self._running: list[_Task] = []
        self._lock = threading.Lock()
        self._shutdown = False
        # Callbacks collected under the lock and run after releasing it, so a
        # callback may take its own locks without risking a deadlock.
        self._callbacks: list[tuple[str, Future, Any]] = []
        self._supervisor = threading.Thread(
            target=self._supervise, name="irisfw-supervisor", daemon=True
        )
        self._supervisor.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit after shutdown")
            future: Future = Future()
            payload = pickle.dumps((fn, args, kwargs))
            self._pending.append(_Task(future, payload))
            return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._pending:
                    self._pending.popleft().future.cancel()
                for task in self._running:
                    self._stop(task)
                    self._finish(task, error=TaskCancelledError("cancelled"))
                self._running = []
        if wait:
            self._supervisor.join()

    def _start(self, task: _Task) -> None:
        if not task.future.set_running_or_notify_cancel():
            return
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_child_main,
            args=(sender, self._environ, task.payload),
            daemon=True,
        )
        process.start()
        sender.close()
        task.process = process
        task.connection = receiver
        if self._timeout is not None:
            task.deadline = time.monotonic() + self._timeout
        self._running.append(task)
        self._callbacks.append(("start", task.future, process.pid))

    def _supervise(self) -> None:
        while True:
            with self._lock:
                while self._pending and len(self._running) < self._max_workers:
                    self._start(self._pending.popleft())
                finished = self._shutdown and not self._pending and not self._running
                running = list(self._running)
            self._run_callbacks()
            if finished:
                return
            waitables = [task.connection for task in running if task.connection]
            waitables += [task.process.sentinel for task in running]
            if waitables:
                wait(waitables, timeout=POLL_SECONDS)
            else:
                time.sleep(POLL_SECONDS)
            with self._lock:
                for task in running:
                    self._poll(task)
                self._running = [task for task in self._running if not task.done]
            self._run_callbacks()

    def _run_callbacks(self) -> None:
        with self._lock:
            callbacks, self._callbacks = self._callbacks, []
        for kind, future, value in callbacks:
            try:
                if kind == "start" and self._on_start is not None:
                    self._on_start(future, value)
                elif kind == "progress" and self._on_progress is not None:
                    self._on_progress(future, value)
            except Exception:
                logger.exception("progress callback failed")

    def _poll(self, task: _Task) -> None:
        if task.done:
            return
        self._drain(task)
        if task.done:
            return
        if not task.process.is_alive():
            self._drain(task)
            if not task.done:
                task.process.join()
                self._finish(
                    task, error=WorkerDiedError(task.process.exitcode, task.process.pid)
                )
            return
        if task.deadline is not None and time.monotonic() > task.deadline:
            self._stop(task)
            self._finish(
                task, error=TaskTimeoutError(self._timeout or 0, task.process.pid)
            )

    def _drain(self, task: _Task) -> None:
        """Read every message the worker has sent so far."""
        connection = task.connection
        try:
            while connection is not None and connection.poll():
                message = connection.recv()
                kind = message[0]
                if kind == "progress":
                    self._callbacks.append(("progress", task.future, message[1]))
                elif kind == "result":
                    task.process.join()
                    self._finish(task, result=message[1])
                    return
                elif kind == "error":
                    task.process.join()
                    self._finish(task, error=RemoteError(*message[1:]))
                    return
        except (EOFError, OSError):
            return

    def _stop(self, task: _Task) -> None:
        process = task.process
        if process is None or not process.is_alive():
            return
        process.terminate()
        process.join(TERMINATE_GRACE_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()

    def _finish(
        self, task: _Task, result: Any = None, error: BaseException | None = None
    ) -> None:
        task.done = True
        if task.connection is not None:
            task.connection.close()
            task.connection = None
        if task.future.done():
            return
        if error is not None:
            task.future.set_exception(error)
        else:
            task.future.set_result(result)
