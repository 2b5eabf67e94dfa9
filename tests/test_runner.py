"""Isolated, parallel, fault-tolerant runs, with real worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import irisfw_executable
from irisfw.executor import (
    IsolatedProcessExecutor,
    RemoteError,
    TaskTimeoutError,
    WorkerDiedError,
)
from irisfw.results import Comparison

FAULTY = {"IRISFW_PLUGINS": "sklearn,faulty"}


def square(value):
    return value * value


def raise_value_error():
    raise ValueError("bad value 7")


def exit_three():
    os._exit(3)


def sleep_forever():
    while True:
        time.sleep(1)


def process_id():
    return os.getpid()


def thread_variable():
    return os.environ.get("OMP_NUM_THREADS")


def test_executor_returns_result():
    executor = IsolatedProcessExecutor(2)
    try:
        assert executor.submit(square, 7).result(timeout=60) == 49
    finally:
        executor.shutdown()


def test_executor_new_process_per_task():
    executor = IsolatedProcessExecutor(1)
    try:
        first = executor.submit(process_id).result(timeout=60)
        second = executor.submit(process_id).result(timeout=60)
    finally:
        executor.shutdown()

    assert first != second
    assert os.getpid() not in (first, second)


def test_executor_remote_exception():
    executor = IsolatedProcessExecutor(1)
    try:
        with pytest.raises(RemoteError) as error:
            executor.submit(raise_value_error).result(timeout=60)
    finally:
        executor.shutdown()

    assert error.value.type_name == "ValueError"
    assert error.value.message == "bad value 7"
    assert "raise_value_error" in error.value.traceback_text


def test_executor_worker_exit_code():
    executor = IsolatedProcessExecutor(1)
    try:
        with pytest.raises(WorkerDiedError) as error:
            executor.submit(exit_three).result(timeout=60)
    finally:
        executor.shutdown()

    assert error.value.exitcode == 3


def test_executor_timeout_kills_worker():
    executor = IsolatedProcessExecutor(1, timeout=3)
    try:
        with pytest.raises(TaskTimeoutError) as error:
            executor.submit(sleep_forever).result(timeout=60)
        pid = error.value.pid
        # The queue moves on once the hanging task is killed.
        assert executor.submit(square, 3).result(timeout=60) == 9
    finally:
        executor.shutdown()

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_executor_environ_reaches_worker():
    executor = IsolatedProcessExecutor(1, environ={"OMP_NUM_THREADS": "3"})
    try:
        assert executor.submit(thread_variable).result(timeout=60) == "3"
    finally:
        executor.shutdown()


def test_faults_contained_healthy_backend_ok(run_cli, test_plugins_path):
    result = run_cli(
        "compare",
        *("-b", "sklearn", "-b", "hanging", "-b", "exiting"),
        *("-b", "segfault", "-b", "failing"),
        *("--epochs", "10", "--timeout", "20", "--jobs", "3", "--format", "json"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 1, result.stderr
    runs = {
        run.backend: run for run in Comparison.model_validate_json(result.stdout).runs
    }
    assert list(runs) == ["sklearn", "hanging", "exiting", "segfault", "failing"]
    assert runs["sklearn"].status == "ok"
    assert runs["sklearn"].metrics is not None
    assert runs["hanging"].status == "timeout"
    assert "timed out after 20 s" in runs["hanging"].error
    assert runs["exiting"].status == "failed"
    assert "exited with code 3" in runs["exiting"].error
    assert runs["segfault"].status == "failed"
    assert "SIGSEGV" in runs["segfault"].error
    assert runs["failing"].status == "failed"
    assert runs["failing"].error.startswith("RuntimeError: deliberate failure in fit")
    assert "Traceback" in runs["failing"].error


def test_table_prints_every_row_on_failure(run_cli, test_plugins_path):
    result = run_cli(
        "compare",
        *("-b", "sklearn", "-b", "exiting", "--epochs", "5"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 1
    assert "│ sklearn" in result.stdout
    assert "│ exiting" in result.stdout
    assert "exiting failed: WorkerDiedError" in result.stdout


def _overlap_runs(run_cli, test_plugins_path, jobs):
    result = run_cli(
        "compare",
        *("-b", "constant", "-b", "sleepy", "--epochs", "4"),
        *("-o", "constant.sleep=2", "-o", "sleepy.sleep=2"),
        *("--jobs", str(jobs), "--format", "json"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )
    assert result.returncode == 0, result.stderr
    return Comparison.model_validate_json(result.stdout).runs


def test_two_jobs_overlap(run_cli, test_plugins_path):
    first, second = _overlap_runs(run_cli, test_plugins_path, jobs=2)

    assert first.worker_pid != second.worker_pid
    assert max(first.started_at, second.started_at) < min(
        first.finished_at, second.finished_at
    )
    assert first.threads == max(1, (os.cpu_count() or 1) // 2)


def test_one_job_runs_in_turn(run_cli, test_plugins_path):
    first, second = _overlap_runs(run_cli, test_plugins_path, jobs=1)

    assert first.worker_pid != second.worker_pid
    assert max(first.started_at, second.started_at) >= min(
        first.finished_at, second.finished_at
    )
    assert first.threads == os.cpu_count()


def test_in_process_shares_one_process(run_cli, test_plugins_path):
    result = run_cli(
        "compare",
        *("-b", "constant", "-b", "sleepy", "--in-process", "--format", "json"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )

    runs = Comparison.model_validate_json(result.stdout).runs
    assert runs[0].worker_pid == runs[1].worker_pid
    assert runs[0].threads is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--jobs", "0"], "invalid --jobs 0"),
        (["--timeout", "0"], "invalid --timeout 0"),
        (["--timeout", "5", "--in-process"], "--in-process"),
    ],
)
def test_runner_options_rejected(run_cli, args, expected):
    result = run_cli("compare", *args, env={"IRISFW_PLUGINS": "sklearn"})

    assert result.returncode == 2
    assert expected in result.stderr


def test_stdout_only_results(run_cli, test_plugins_path):
    result = run_cli(
        "compare",
        *("-b", "constant", "-o", "constant.sleep=1", "--format", "json"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )

    json.loads(result.stdout)
    assert "finished constant" in result.stderr


def test_interrupt_keeps_finished_runs(tmp_path, test_plugins_path):
    output = tmp_path / "out.json"
    environ = {
        **os.environ,
        **FAULTY,
        "PYTHONPATH": str(test_plugins_path),
    }
    process = subprocess.Popen(
        [
            irisfw_executable(),
            "compare",
            *("-b", "constant", "-b", "hanging", "--jobs", "2"),
            *("--format", "json", "--output", str(output)),
        ],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not output.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert output.exists(), "the finished run was not written"

    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert stdout == ""
    runs = {
        run.backend: run
        for run in Comparison.model_validate_json(output.read_text()).runs
    }
    assert runs["constant"].status == "ok"
    assert runs["hanging"].status == "cancelled"
    assert "interrupted" in stderr
