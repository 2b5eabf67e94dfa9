"""Comparisons on a real Dask LocalCluster: two worker processes on 127.0.0.1.

Tests that call the Python API share one module-scoped cluster. The CLI
tests either start their own with ``--scheduler local`` or connect to the
shared one by its address.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import distributed
import pytest

from conftest import irisfw_executable
from irisfw.config import load_config
from irisfw.distributed import ClusterTimeoutError, DaskExecutor, start_local_cluster
from irisfw.executor import RemoteError
from irisfw.loading import load_table
from irisfw.planning import CompareArguments, resolve_settings
from irisfw.plugins import Plugins
from irisfw.results import Comparison
from irisfw.runner import RunRequest, run_comparison, run_in_worker, worker_environ
from irisfw.spec import ModelSpec
from irisfw.splits import SplitPlan, make_splits

FAULTY = {"IRISFW_PLUGINS": "sklearn,faulty"}
WORKERS = 2
WORKER_WAIT_SECONDS = 120


@pytest.fixture(scope="module")
def client(test_plugins_path) -> Iterator[distributed.Client]:
    """Start a two-worker LocalCluster that can load the test plugins.

    Worker processes are spawned with this process's ``sys.path``, so the
    plugin folder goes there for as long as the cluster runs. Dask's nanny
    writes the workers' thread variables into this process's environment,
    which is restored afterwards.
    """
    saved_environ = dict(os.environ)
    sys.path.insert(0, str(test_plugins_path))
    cluster = start_local_cluster(WORKERS, worker_environ(1, FAULTY))
    dask_client = distributed.Client(cluster)
    try:
        yield dask_client
    finally:
        dask_client.close()
        cluster.close()
        sys.path.remove(str(test_plugins_path))
        os.environ.clear()
        os.environ.update(saved_environ)


@pytest.fixture
def cluster(client) -> distributed.Client:
    """The shared cluster, with both workers up; tests may kill or restart one."""
    client.wait_for_workers(WORKERS, timeout=WORKER_WAIT_SECONDS)
    return client


@pytest.fixture(scope="module")
def plugins(client) -> Plugins:
    return Plugins(environ=FAULTY)


@contextmanager
def dask_executor(client, timeout: float | None = None) -> Iterator[DaskExecutor]:
    executor = DaskExecutor(client, timeout=timeout)
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def worker_pids(client) -> set[int]:
    return set(client.run(os.getpid).values())


def split_identity(data) -> tuple[int, int]:
    return os.getpid(), id(data)


def iris_splits(repeats: int):
    table = load_table("iris", Plugins(environ={"IRISFW_PLUGINS": ""}).datasets)
    return make_splits(table, plan=SplitPlan(seed=0, repeats=repeats))


def test_dask_metrics_match_local_runner(cluster, plugins):
    prepared, splits = iris_splits(repeats=3)
    requests = [
        RunRequest(name, ModelSpec(epochs=30, seed=split.seed), split=split.index)
        for name in ("sklearn", "constant")
        for split in splits
    ]

    local = run_comparison(requests, prepared, plugins, splits=splits, jobs=2)
    with dask_executor(cluster) as executor:
        remote = run_comparison(
            requests, prepared, plugins, splits=splits, executor=executor
        )

    assert len(remote.runs) == len(local.runs) == 6
    for local_run, remote_run in zip(local.runs, remote.runs, strict=True):
        assert remote_run.status == "ok", remote_run.error
        assert (remote_run.backend, remote_run.split) == (
            local_run.backend,
            local_run.split,
        )
        assert remote_run.fingerprint == local_run.fingerprint
        assert remote_run.metrics == local_run.metrics
        assert remote_run.history == local_run.history
        assert remote_run.threads == 1
    assert {run.worker_pid for run in remote.runs} <= worker_pids(cluster)
    for local_group, remote_group in zip(local.summary, remote.summary, strict=True):
        assert remote_group.test_accuracy == local_group.test_accuracy
        assert remote_group.test_log_loss == local_group.test_log_loss


def test_dask_progress_events(cluster, plugins, iris_data):
    events = []
    requests = [
        RunRequest("constant", ModelSpec(epochs=5), options={"sleep": 1.0}),
        RunRequest("sklearn", ModelSpec(epochs=5)),
    ]

    with dask_executor(cluster) as executor:
        run_comparison(
            requests, iris_data, plugins, executor=executor, on_event=events.append
        )

    for index in range(len(requests)):
        kinds = [event.kind for event in events if event.index == index]
        assert kinds[0] == "started"
        assert kinds[-1] == "finished"
        assert kinds.count("finished") == 1
    started = [event for event in events if event.kind == "started"]
    assert {event.pid for event in started} <= worker_pids(cluster)
    epochs = [event for event in events if event.kind == "epoch" and event.index == 0]
    assert epochs
    assert epochs[-1].epoch == epochs[-1].epochs == 5


def test_dask_split_sent_once_per_worker(cluster, iris_data):
    with dask_executor(cluster) as executor:
        [reference] = executor.stage([iris_data])
        futures = [executor.submit(split_identity, reference) for _ in range(8)]
        results = [future.result(timeout=120) for future in futures]

    objects = defaultdict(set)
    for pid, identity in results:
        objects[pid].add(identity)
    assert set(objects) <= worker_pids(cluster)
    for identities in objects.values():
        assert len(identities) == 1


def test_dask_killed_worker_retried(cluster, plugins, iris_data, tmp_path):
    events = []
    requests = [
        RunRequest("killer", ModelSpec(epochs=3), options={"marker_dir": str(tmp_path)})
    ]

    with dask_executor(cluster) as executor:
        comparison = run_comparison(
            requests, iris_data, plugins, executor=executor, on_event=events.append
        )

    [run] = comparison.runs
    assert run.status == "ok", run.error
    assert run.metrics is not None
    assert len(list(tmp_path.glob("attempt-*"))) == 2
    assert [event.kind for event in events].count("started") == 2
    [note] = [text for text in run.warnings if "was lost" in text]
    assert "retried after Dask worker tcp://127.0.0.1:" in note


def test_dask_worker_lost_twice_fails(cluster, plugins, iris_data, tmp_path):
    options = {"marker_dir": str(tmp_path), "kills": 2}
    requests = [RunRequest("killer", ModelSpec(epochs=3), options=options)]

    with dask_executor(cluster) as executor:
        comparison = run_comparison(requests, iris_data, plugins, executor=executor)

    [run] = comparison.runs
    assert run.status == "failed"
    assert run.error.startswith("WorkerLostError: Dask worker tcp://127.0.0.1:")
    assert "was lost on the retry" in run.error
    assert len(list(tmp_path.glob("attempt-*"))) == 2


def test_dask_missing_toolkit_per_run_error(cluster, plugins, iris_data):
    requests = [
        RunRequest("notoolkit", ModelSpec(epochs=2)),
        RunRequest("constant", ModelSpec(epochs=2)),
    ]

    with dask_executor(cluster) as executor:
        comparison = run_comparison(requests, iris_data, plugins, executor=executor)

    missing, healthy = comparison.runs
    assert missing.status == "failed"
    assert "needs irisfw-no-such-toolkit, which is not installed" in missing.error
    assert "in Dask worker tcp://127.0.0.1:" in missing.error
    assert missing.worker_pid in worker_pids(cluster)
    assert healthy.status == "ok"


def test_dask_timeout_restarts_worker(cluster):
    with dask_executor(cluster, timeout=2) as executor:
        future = executor.submit(time.sleep, 600)
        with pytest.raises(ClusterTimeoutError) as error:
            future.result(timeout=120)
        hung_pid = error.value.pid
        assert executor.submit(abs, -3).result(timeout=120) == 3

    assert "timed out after 2 s" in str(error.value)
    assert error.value.address in str(error.value)
    # shutdown waits for the restart, which ends the process that hung.
    with pytest.raises(ProcessLookupError):
        os.kill(hung_pid, 0)


def test_dask_task_exception_is_remote_error(cluster):
    with dask_executor(cluster) as executor:
        future = executor.submit(int, "seven")
        with pytest.raises(RemoteError) as error:
            future.result(timeout=120)

    assert error.value.type_name == "ValueError"
    assert "invalid literal" in error.value.message


def test_run_in_worker_freezes_passed_split(iris_data):
    # A split unpickled on a worker can come back writable, as this copy is.
    copy = dataclasses.replace(iris_data, x_train=iris_data.x_train.copy())
    assert copy.x_train.flags.writeable

    result = run_in_worker(
        RunRequest("sklearn", ModelSpec(epochs=2)),
        copy,
        30,
        {"IRISFW_PLUGINS": "sklearn"},
    )

    assert result.status == "ok", result.error
    assert not copy.x_train.flags.writeable


def test_cli_remote_scheduler_matches_local(cluster, run_cli, test_plugins_path):
    address = cluster.cluster.scheduler_address
    common = ("-b", "sklearn", "-b", "constant", "--repeats", "3", "--epochs", "30")

    local = run_cli(
        "compare",
        *common,
        *("--jobs", "2", "--format", "json"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )
    remote = run_cli(
        "compare",
        *common,
        *("--scheduler", address, "--format", "json"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )

    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    local_runs = Comparison.model_validate_json(local.stdout).runs
    remote_runs = Comparison.model_validate_json(remote.stdout).runs
    assert [run.metrics for run in remote_runs] == [run.metrics for run in local_runs]
    assert {run.worker_pid for run in remote_runs} <= worker_pids(cluster)
    assert "finished sklearn" in remote.stderr


def test_cli_remote_timeout(cluster, run_cli, test_plugins_path):
    result = run_cli(
        "compare",
        *("-b", "hanging", "-b", "constant", "--timeout", "5"),
        *("--scheduler", cluster.cluster.scheduler_address, "--format", "json"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 1, result.stderr
    hanging, constant = Comparison.model_validate_json(result.stdout).runs
    assert hanging.status == "timeout"
    assert hanging.error.startswith("timed out after 5 s; the task was cancelled")
    assert constant.status == "ok"


def test_cli_local_cluster_output_file(run_cli, test_plugins_path, tmp_path):
    output = tmp_path / "out.json"
    result = run_cli(
        "compare",
        *("-b", "constant", "-b", "notoolkit", "--repeats", "2", "--epochs", "4"),
        *("-o", "constant.sleep=0.5", "--scheduler", "local", "--jobs", "2"),
        *("--format", "json", "--output", str(output)),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    runs = Comparison.model_validate_json(output.read_text()).runs
    assert [(run.backend, run.status) for run in runs] == [
        ("constant", "ok"),
        ("constant", "ok"),
        ("notoolkit", "failed"),
        ("notoolkit", "failed"),
    ]
    assert "irisfw-no-such-toolkit" in runs[2].error
    assert "Dask worker tcp://127.0.0.1:" in runs[2].error
    assert runs[0].threads == max(1, (os.cpu_count() or 1) // 2)
    assert "finished constant" in result.stderr
    assert "INFO" not in result.stderr


def test_cli_local_cluster_interrupt(tmp_path, test_plugins_path):
    output = tmp_path / "out.json"
    environ = {
        **os.environ,
        **FAULTY,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(test_plugins_path), os.environ.get("PYTHONPATH")])
        ),
    }
    process = subprocess.Popen(
        [
            irisfw_executable(),
            "compare",
            *("-b", "constant", "-b", "hanging", "--scheduler", "local", "-j", "2"),
            *("--format", "json", "--output", str(output)),
        ],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while not output.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert output.exists(), "the finished run was not written"

    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr
    assert stdout == ""
    runs = {
        run.backend: run
        for run in Comparison.model_validate_json(output.read_text()).runs
    }
    assert runs["constant"].status == "ok"
    assert runs["hanging"].status == "cancelled"
    assert "interrupted" in stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--scheduler", "local", "--in-process"], "--in-process runs every backend"),
        (["--scheduler", "tcp://127.0.0.1:8786", "--jobs", "2"], "drop --jobs"),
        (["--scheduler", "tcp://127.0.0.1 :8786"], "invalid --scheduler"),
    ],
)
def test_cli_scheduler_options_rejected(run_cli, args, expected):
    result = run_cli("compare", *args, env={"IRISFW_PLUGINS": "sklearn"})

    assert result.returncode == 2
    assert expected in result.stderr


def test_cli_unreachable_scheduler(run_cli):
    # Port 9 (discard) has no listener here, so the connection is refused.
    result = run_cli(
        "compare",
        *("--scheduler", "tcp://127.0.0.1:9", "--epochs", "2"),
        env={"IRISFW_PLUGINS": "sklearn"},
    )

    assert result.returncode == 2
    assert "cannot connect to the Dask scheduler at 'tcp://127.0.0.1:9'" in (
        result.stderr
    )


def test_config_scheduler_key(tmp_path):
    config = tmp_path / "compare.toml"
    config.write_text('scheduler = "tcp://127.0.0.1:8786"\n')

    from_file = resolve_settings(CompareArguments(config=config))
    overridden = resolve_settings(CompareArguments(config=config, scheduler="local"))

    assert load_config(config).scheduler == "tcp://127.0.0.1:8786"
    assert from_file.scheduler == "tcp://127.0.0.1:8786"
    assert overridden.scheduler == "local"


@pytest.mark.parametrize(
    "args", [["--help"], ["backends"], ["compare", "--help"], ["datasets"]]
)
def test_startup_imports_no_dask(args):
    code = (
        "import sys\n"
        f"sys.argv = ['irisfw', *{args!r}]\n"
        "from irisfw.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [m for m in ('dask', 'distributed') if m in sys.modules]\n"
        "sys.stderr.write('DASK=' + ','.join(loaded) + '\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert "DASK=\n" in result.stderr
