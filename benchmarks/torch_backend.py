"""Benchmark the torch backend: accuracy over seeds and fit time against a plain loop.

Run from the repository root:

    python benchmarks/torch_backend.py [--repetitions N] [--output PATH]

Part 1 trains the default ModelSpec with the torch backend on Iris for seeds
0 to 9. Each seed drives both the split and the spec, as ``irisfw compare
--seed`` does, and the script prints the mean test accuracy.

Part 2 times ``TorchBackend.fit`` against ``train`` in ``plain/iris_torch.py``,
a hand-written PyTorch loop for the same spec, epochs and batch size, on the
seed-0 split.
torch is imported before any timing, so neither side pays for the import.
The two sides alternate within each repetition so that background load on the
machine affects both alike, and the script reports medians and their ratio,
once with torch's default thread count and once with one thread.

The table goes to stdout and the figures to ``benchmarks/results/torch_backend.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from irisfw.builtin import load_iris
from irisfw.plugins import Plugins
from irisfw.prepare import PreparedData, prepare
from irisfw.runner import RunRequest, execute_run
from irisfw.spec import ModelSpec
from irisfw_torch.backend import TorchBackend

# The plain scripts import their helpers by name from their own folder.
sys.path.insert(0, str(Path(__file__).parent / "plain"))
from iris_torch import train as train_plain_loop

SEEDS = range(10)
ACCURACY_TARGET = 0.95
RATIO_TARGET = 1.2
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "torch_backend.json"


def plain_fit(
    data: PreparedData, spec: ModelSpec, threads: int | None
) -> tuple[nn.Module, list[tuple[float, float]]]:
    """Train ``spec`` with the plain PyTorch loop of ``plain/iris_torch.py``.

    The loop supports the default spec's settings (ReLU, Adam,
    cross-entropy), which is all the benchmark trains.
    """
    return train_plain_loop(
        data.x_train,
        data.y_train,
        data.n_classes,
        hidden_layers=spec.hidden_layers,
        learning_rate=spec.learning_rate,
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        seed=spec.seed,
        threads=threads,
    )


def measure_accuracy() -> list[dict[str, Any]]:
    entry = Plugins().backend("torch")
    frame = load_iris()
    rows = []
    for seed in SEEDS:
        data = prepare(frame, "species", source="iris", seed=seed)
        result = execute_run(
            RunRequest(backend="torch", spec=ModelSpec(seed=seed)), entry, data
        )
        if result.metrics is None:
            raise RuntimeError(f"seed {seed}: the torch run failed: {result.error}")
        rows.append(
            {
                "seed": seed,
                "test_accuracy": result.metrics.test_accuracy,
                "fit_seconds": result.timings.fit_seconds,
            }
        )
        print(f"seed {seed}: test accuracy {result.metrics.test_accuracy:.4f}")
    return rows


def time_call(function: Callable[[], Any]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure_fit_time(
    data: PreparedData, spec: ModelSpec, threads: int | None, repetitions: int
) -> dict[str, Any]:
    """Time irisfw's fit and the plain loop, alternating which one goes first."""
    options = {} if threads is None else {"threads": threads}
    backend = TorchBackend(TorchBackend.parse_options(options))
    default_threads = torch.get_num_threads()

    def irisfw_fit() -> Any:
        return backend.fit(data, spec)

    def plain() -> Any:
        try:
            return plain_fit(data, spec, threads)
        finally:
            torch.set_num_threads(default_threads)

    # Untimed warm-up: the first calls load lazily imported torch modules.
    model = irisfw_fit()
    _, plain_history = plain()

    irisfw_seconds: list[float] = []
    plain_seconds: list[float] = []
    for repetition in range(repetitions):
        if repetition % 2 == 0:
            irisfw_seconds.append(time_call(irisfw_fit))
            plain_seconds.append(time_call(plain))
        else:
            plain_seconds.append(time_call(plain))
            irisfw_seconds.append(time_call(irisfw_fit))

    irisfw_median = statistics.median(irisfw_seconds)
    plain_median = statistics.median(plain_seconds)
    steps = model.details["optimizer_steps"]
    loss_difference = max(
        abs(record.loss - plain_loss)
        for record, (plain_loss, _) in zip(model.history, plain_history, strict=True)
    )
    return {
        "threads": model.details["threads"],
        "repetitions": repetitions,
        "optimizer_steps": steps,
        "irisfw_seconds": irisfw_seconds,
        "plain_seconds": plain_seconds,
        "irisfw_median_seconds": irisfw_median,
        "plain_median_seconds": plain_median,
        "ratio": irisfw_median / plain_median,
        "overhead_per_step_microseconds": (irisfw_median - plain_median) / steps * 1e6,
        "max_epoch_loss_difference": loss_difference,
    }


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "torch_default_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repetitions", type=int, default=9, help="Timed fits per side and setting."
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write."
    )
    arguments = parser.parse_args()

    started = datetime.now(UTC)
    load_before = os.getloadavg()
    print("Part 1: default spec on Iris, seeds 0-9")
    accuracy_rows = measure_accuracy()
    mean_accuracy = statistics.mean(row["test_accuracy"] for row in accuracy_rows)
    print(f"mean test accuracy: {mean_accuracy:.4f} (target >= {ACCURACY_TARGET})\n")

    print(f"Part 2: fit time, {arguments.repetitions} repetitions per side")
    data = prepare(load_iris(), "species", source="iris", seed=0)
    spec = ModelSpec()
    timings = [
        measure_fit_time(data, spec, threads, arguments.repetitions)
        for threads in (None, 1)
    ]
    load_after = os.getloadavg()

    header = (
        f"{'threads':>7} | {'irisfw fit s':>12} | {'plain loop s':>12} | {'ratio':>5}"
        f" | {'overhead us/step':>16} | {'max loss diff':>13}"
    )
    print(header)
    print("-" * len(header))
    for row in timings:
        print(
            f"{row['threads']:>7} | {row['irisfw_median_seconds']:>12.4f}"
            f" | {row['plain_median_seconds']:>12.4f} | {row['ratio']:>5.2f}"
            f" | {row['overhead_per_step_microseconds']:>16.1f}"
            f" | {row['max_epoch_loss_difference']:>13.2e}"
        )
    print(f"ratio target: <= {RATIO_TARGET}, medians of {arguments.repetitions} fits")
    print(f"load average before/after (1, 5, 15 min): {load_before} / {load_after}")

    report = {
        "benchmark": "torch_backend",
        "started_at": started.isoformat(),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "spec": spec.model_dump(mode="json"),
        "accuracy": {
            "seeds": accuracy_rows,
            "mean_test_accuracy": mean_accuracy,
            "target": ACCURACY_TARGET,
        },
        "fit_time": {"runs": timings, "ratio_target": RATIO_TARGET},
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
