"""Benchmark the tensorflow backend's test accuracy over seeds and its fit time.

Run from the repository root:

    python benchmarks/tensorflow_backend.py [--repetitions N] [--output PATH]

Part 1 trains the default ModelSpec with the tensorflow backend on Iris for
seeds 0 to 9. Each seed drives both the split and the spec, as ``irisfw
compare --seed`` does, and the script prints the mean test accuracy. It then
trains the same ten splits with other spec seeds, to show how far the
ten-seed mean moves with the initial weights and the shuffling alone.

Part 2 times ``TensorFlowBackend.fit`` against two hand-written TensorFlow
scripts for the same spec on the seed-0 split:

- ``plain_step_loop``: ``train_step_loop`` in ``plain/iris_tensorflow.py``,
  the loop of TensorFlow's custom-training guide, a
  ``tf.function`` train step called from Python for each batch of a
  shuffled ``tf.data`` pipeline. This is the reference for the target.
- ``plain_epoch_loop``: one ``tf.function`` per epoch that loops over the
  batches in the graph, the structure the backend uses, so the ratio against
  it shows what the backend's own bookkeeping costs.

Both plain scripts support the default spec's settings (ReLU, Adam,
cross-entropy, a batch size no larger than the training rows), which is all
the benchmark trains.

tensorflow is imported and every variant runs once untimed before timing, so
no side pays for the import or for TensorFlow's runtime start-up. Each side
still traces its ``tf.function`` in every repetition, as a fresh fit does.
The variants alternate within each repetition so that background load affects
them alike, and the script reports medians and ratios.

The table goes to stdout and the figures to
``benchmarks/results/tensorflow_backend.json``.
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
import tensorflow as tf

from irisfw.builtin import load_iris
from irisfw.prepare import PreparedData, prepare
from irisfw.spec import ModelSpec
from irisfw_tensorflow.backend import TensorFlowBackend

# The plain scripts import their helpers by name from their own folder.
sys.path.insert(0, str(Path(__file__).parent / "plain"))
from iris_tensorflow import (
    PlainAdam,
    PlainModel,
    make_train_step,
    train_step_loop,
)

SEEDS = range(10)
SPREAD_OFFSETS = range(0, 800, 100)
ACCURACY_TARGET = 0.95
RATIO_TARGET = 1.2
DEFAULT_REPETITIONS = 7
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "tensorflow_backend.json"

PlainFit = Callable[[PreparedData, ModelSpec], Callable[[np.ndarray], np.ndarray]]


def plain_step_loop(
    data: PreparedData, spec: ModelSpec
) -> Callable[[np.ndarray], np.ndarray]:
    """Train with ``train_step_loop`` of ``plain/iris_tensorflow.py``."""
    model, _ = train_step_loop(
        data.x_train,
        data.y_train,
        data.n_classes,
        hidden_layers=spec.hidden_layers,
        learning_rate=spec.learning_rate,
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        seed=spec.seed,
    )
    return lambda features: tf.nn.softmax(model(tf.constant(features))).numpy()


def plain_epoch_loop(
    data: PreparedData, spec: ModelSpec
) -> Callable[[np.ndarray], np.ndarray]:
    """Train with one ``tf.function`` per epoch that loops over the batches."""
    model = PlainModel(data.n_features, spec.hidden_layers, data.n_classes, spec.seed)
    optimizer = PlainAdam(model.variables, spec.learning_rate)
    train_step = make_train_step(model, optimizer)
    x_train = tf.constant(data.x_train)
    y_train = tf.constant(data.y_train.astype(np.int32))
    rows = len(data.y_train)
    batch_size = spec.batch_size or rows
    shuffle_generator = tf.random.Generator.from_seed(spec.seed + 1)

    @tf.function(input_signature=[])
    def train_epoch() -> tuple[tf.Tensor, tf.Tensor]:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(rows), seed=shuffle_generator.make_seeds(1)[:, 0]
        )
        loss_sum, correct = tf.constant(0.0), tf.constant(0)
        for start in tf.range(0, rows, batch_size):
            index = order[start : start + batch_size]
            loss, batch_correct = train_step(
                tf.gather(x_train, index), tf.gather(y_train, index)
            )
            loss_sum += loss * tf.cast(tf.size(index), tf.float32)
            correct += batch_correct
        return loss_sum / rows, correct

    results = [train_epoch() for _ in range(spec.epochs)]
    # Convert the epoch figures to Python, as the backend does for its history.
    _ = [(float(loss), int(correct) / rows) for loss, correct in results]
    return lambda features: tf.nn.softmax(model(tf.constant(features))).numpy()


def irisfw_fit(
    data: PreparedData, spec: ModelSpec
) -> Callable[[np.ndarray], np.ndarray]:
    return TensorFlowBackend().fit(data, spec).predict_proba


def measure_test_accuracy(
    predict_proba: Callable[[np.ndarray], np.ndarray], data: PreparedData
) -> float:
    return float((predict_proba(data.x_test).argmax(axis=1) == data.y_test).mean())


def accuracy_over_seeds(frame: Any) -> dict[str, Any]:
    accuracies = []
    for seed in SEEDS:
        data = prepare(frame, "species", source="iris", seed=seed)
        model = TensorFlowBackend().fit(data, ModelSpec(seed=seed))
        accuracies.append(measure_test_accuracy(model.predict_proba, data))
    return {
        "seeds": list(SEEDS),
        "test_accuracy": accuracies,
        "mean": statistics.fmean(accuracies),
        "min": min(accuracies),
        "target": ACCURACY_TARGET,
    }


def accuracy_spread(frame: Any) -> dict[str, Any]:
    """Repeat part 1 with other weight seeds on the same ten splits.

    Split seed s is trained with spec seed s + offset, so the means show how
    much the ten-seed mean moves with the initial weights and the shuffling.
    """
    splits = [prepare(frame, "species", source="iris", seed=seed) for seed in SEEDS]
    per_seed = []
    for offset in SPREAD_OFFSETS:
        accuracies = []
        for seed, data in zip(SEEDS, splits, strict=True):
            model = TensorFlowBackend().fit(data, ModelSpec(seed=seed + offset))
            accuracies.append(measure_test_accuracy(model.predict_proba, data))
        per_seed.append(accuracies)
    means = [statistics.fmean(accuracies) for accuracies in per_seed]
    return {
        "spec_seed_offsets": list(SPREAD_OFFSETS),
        "test_accuracy": per_seed,
        "mean_test_accuracy": means,
        "mean_of_means": statistics.fmean(means),
    }


def fit_times(frame: Any, repetitions: int) -> dict[str, Any]:
    data = prepare(frame, "species", source="iris", seed=0)
    spec = ModelSpec(seed=0)
    variants: dict[str, PlainFit] = {
        "irisfw": irisfw_fit,
        "plain_step_loop": plain_step_loop,
        "plain_epoch_loop": plain_epoch_loop,
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    accuracy: dict[str, float] = {}
    for name, fit in variants.items():  # untimed warm-up
        accuracy[name] = measure_test_accuracy(fit(data, spec), data)
    for _ in range(repetitions):
        for name, fit in variants.items():
            start = time.perf_counter()
            fit(data, spec)
            seconds[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        "spec": spec.label,
        "repetitions": repetitions,
        "seconds": seconds,
        "median_seconds": medians,
        "test_accuracy": accuracy,
        "ratio_to_plain_step_loop": medians["irisfw"] / medians["plain_step_loop"],
        "ratio_to_plain_epoch_loop": medians["irisfw"] / medians["plain_epoch_loop"],
        "target_ratio": RATIO_TARGET,
    }


def environment() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
    }


def print_accuracy(accuracy: dict[str, Any]) -> None:
    seeds = accuracy["seeds"]
    print(f"Test accuracy, default spec, seeds {seeds[0]}-{seeds[-1]}")
    for seed, value in zip(seeds, accuracy["test_accuracy"], strict=True):
        print(f"  seed {seed}: {value:.4f}")
    print(
        f"  mean {accuracy['mean']:.4f} (min {accuracy['min']:.4f},"
        f" target >= {ACCURACY_TARGET})"
    )


def print_spread(spread: dict[str, Any]) -> None:
    print("Test accuracy on the same splits with spec seed = split seed + offset")
    rows = zip(
        spread["spec_seed_offsets"],
        spread["test_accuracy"],
        spread["mean_test_accuracy"],
        strict=True,
    )
    for offset, accuracies, mean in rows:
        values = " ".join(f"{value:.3f}" for value in accuracies)
        print(f"  offset {offset:>3}: {values}  mean {mean:.4f}")
    print(f"  mean of means: {spread['mean_of_means']:.4f}")


def print_fit_times(timing: dict[str, Any]) -> None:
    print(f"Fit time, spec {timing['spec']}, {timing['repetitions']} repetitions")
    print(
        f"  {'variant':<18} {'median s':>9} {'min s':>8} {'max s':>8} {'test acc':>9}"
    )
    for name, values in timing["seconds"].items():
        print(
            f"  {name:<18} {statistics.median(values):>9.3f} {min(values):>8.3f}"
            f" {max(values):>8.3f} {timing['test_accuracy'][name]:>9.4f}"
        )

    print(
        f"  irisfw / plain_step_loop:  {timing['ratio_to_plain_step_loop']:.2f}"
        f" (target <= {RATIO_TARGET})"
    )
    print(f"  irisfw / plain_epoch_loop: {timing['ratio_to_plain_epoch_loop']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=DEFAULT_REPETITIONS)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    arguments = parser.parse_args()

    # The backend enables op determinism for the whole process, so enabling it
    # first makes every variant run under the same setting.
    tf.config.experimental.enable_op_determinism()
    frame = load_iris()
    accuracy = accuracy_over_seeds(frame)
    spread = accuracy_spread(frame)
    timing = fit_times(frame, arguments.repetitions)
    print_accuracy(accuracy)
    print()
    print_spread(spread)
    print()
    print_fit_times(timing)

    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "environment": environment(),
        "accuracy": accuracy,
        "accuracy_spread": spread,
        "fit_time": timing,
    }
    arguments.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {arguments.output}")


if __name__ == "__main__":
    main()
