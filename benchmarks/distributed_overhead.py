"""Benchmark a two-worker Dask LocalCluster against the local process pool.

Run from the repository root:

    python benchmarks/distributed_overhead.py [--runs N] [--epochs N] [--output PATH]

Both sides run the same sweep through ``irisfw.runner.run_comparison``: the
scikit-learn backend on Iris with ``--epochs 5`` and ``--repeats 200``, that
is 200 short runs, each on its own seeded split, as

    irisfw compare -b sklearn --epochs 5 --repeats 200 --jobs 2
    irisfw compare -b sklearn --epochs 5 --repeats 200 --scheduler local --jobs 2

would run them. The local side is ``IsolatedProcessExecutor`` with two jobs,
a fresh process per run. The Dask side is ``DaskExecutor`` on a LocalCluster
of two single-threaded worker processes, started before the clock starts;
its start-up time is reported apart.

For each side the script reports the wall-clock time of the sweep and the
per-run overhead. The overhead is the wall time times the two parallel
slots, divided by the runs, minus the mean time a run spent inside its
worker. That time is ``finished_at`` minus ``started_at`` of each RunResult,
and covers the toolkit import, fit, predict and metrics. The script also
times 200 no-op tasks through ``DaskExecutor``, which is the scheduling cost
alone, and checks that both sides produced the same metrics.

The table goes to stdout and the figures to
``benchmarks/results/distributed_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import distributed

from irisfw.builtin import load_iris
from irisfw.distributed import DaskExecutor, start_local_cluster
from irisfw.plugins import Plugins
from irisfw.results import Comparison
from irisfw.runner import RunRequest, run_comparison, threads_per_worker, worker_environ
from irisfw.spec import ModelSpec
from irisfw.splits import SplitPlan, make_splits

WORKERS = 2
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "distributed_overhead.json"


def summarize(comparison: Comparison, wall_seconds: float) -> dict[str, Any]:
    """Return the wall time, the mean time in the worker and the per-run overhead."""
    runs = comparison.runs
    busy = [
        (run.finished_at - run.started_at).total_seconds()
        for run in runs
        if run.started_at is not None and run.finished_at is not None
    ]
    mean_busy = statistics.fmean(busy)
    return {
        "runs": len(runs),
        "ok_runs": sum(run.status == "ok" for run in runs),
        "wall_seconds": wall_seconds,
        "mean_seconds_in_worker": mean_busy,
        "median_seconds_in_worker": statistics.median(busy),
        "overhead_seconds_per_run": wall_seconds * WORKERS / len(runs) - mean_busy,
        "worker_processes": len({run.worker_pid for run in runs}),
    }


def time_noop_tasks(client: Any, count: int) -> dict[str, Any]:
    """Time ``count`` no-op calls through DaskExecutor on the running cluster."""
    executor = DaskExecutor(client)
    try:
        start = time.perf_counter()
        futures = [executor.submit(abs, -index) for index in range(count)]
        for future in futures:
            future.result()
        wall = time.perf_counter() - start
    finally:
        executor.shutdown()
    return {
        "tasks": count,
        "wall_seconds": wall,
        "seconds_per_task": wall / count,
        "slot_seconds_per_task": wall * WORKERS / count,
    }


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {
            name: version(name)
            for name in (
                "irisfw",
                "irisfw-sklearn",
                "scikit-learn",
                "numpy",
                "dask",
                "distributed",
            )
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="Runs per side.")
    parser.add_argument("--epochs", type=int, default=5, help="Epochs per run.")
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write."
    )
    arguments = parser.parse_args()

    selection = {"IRISFW_PLUGINS": "sklearn"}
    plugins = Plugins(environ=selection)
    prepared, splits = make_splits(
        load_iris(),
        "species",
        source="iris",
        plan=SplitPlan(seed=0, repeats=arguments.runs),
    )
    requests = [
        RunRequest(
            "sklearn",
            ModelSpec(epochs=arguments.epochs, seed=split.seed),
            split=split.index,
        )
        for split in splits
    ]
    started_at = datetime.now(UTC)
    load_before = os.getloadavg()

    start = time.perf_counter()
    local = run_comparison(requests, prepared, plugins, splits=splits, jobs=WORKERS)
    local_wall = time.perf_counter() - start

    start = time.perf_counter()
    cluster = start_local_cluster(
        WORKERS, worker_environ(threads_per_worker(WORKERS), selection)
    )
    client = distributed.Client(cluster)
    cluster_start = time.perf_counter() - start
    try:
        executor = DaskExecutor(client)
        try:
            start = time.perf_counter()
            remote = run_comparison(
                requests, prepared, plugins, splits=splits, executor=executor
            )
            dask_wall = time.perf_counter() - start
        finally:
            executor.shutdown()
        noop = time_noop_tasks(client, arguments.runs)
    finally:
        client.close()
        cluster.close()
    load_after = os.getloadavg()

    same_metrics = sum(
        left.metrics == right.metrics
        for left, right in zip(local.runs, remote.runs, strict=True)
    )
    report = {
        "benchmark": "distributed_overhead",
        "command": "python benchmarks/distributed_overhead.py"
        f" --runs {arguments.runs} --epochs {arguments.epochs}",
        "started_at": started_at.isoformat(),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "workers": WORKERS,
        "spec": requests[0].spec.model_dump(mode="json"),
        "local_pool": summarize(local, local_wall),
        "dask": {
            **summarize(remote, dask_wall),
            "cluster_start_seconds": cluster_start,
        },
        "dask_noop_tasks": noop,
        "wall_ratio_dask_to_local": dask_wall / local_wall,
        "runs_with_identical_metrics": same_metrics,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print(f"{arguments.runs} sklearn runs, {arguments.epochs} epochs, 2 workers")
    print("side        wall s   in worker s   overhead s/run   processes")
    for name, side in (("local pool", report["local_pool"]), ("dask", report["dask"])):
        print(
            f"{name:<10} {side['wall_seconds']:7.1f} "
            f"{side['mean_seconds_in_worker']:13.3f} "
            f"{side['overhead_seconds_per_run']:16.3f} {side['worker_processes']:11d}"
        )
    print(f"dask cluster start: {cluster_start:.1f} s")
    print(f"dask / local wall time: {report['wall_ratio_dask_to_local']:.3f}")
    print(f"no-op task through DaskExecutor: {noop['seconds_per_task'] * 1000:.2f} ms")
    print(f"runs with identical metrics: {same_metrics} of {arguments.runs}")
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
