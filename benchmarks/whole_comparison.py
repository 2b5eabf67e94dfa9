"""Benchmark irisfw compare on Iris against four plain scripts run one after another.

Run from the repository root, with all four backends installed:

    python benchmarks/whole_comparison.py [--repetitions N] [--output PATH]

Each repetition runs, as fresh processes:

1. ``irisfw compare`` with default settings: every installed backend on Iris,
   the default spec, as many parallel workers as CPUs (capped by the runs).
2. The four scripts in ``benchmarks/plain/`` one after another (scikit-learn,
   torch, TensorFlow, Keras). Each imports its toolkit, trains the default
   spec on the same standardised 70/30 stratified Iris split, and predicts.
   They use each toolkit's default thread count.
3. ``irisfw compare --backend NAME`` for each backend alone, so that the
   backend's fit runs with all CPUs, like the plain script's fit.

Steps 1 and 2 swap places every other repetition, so background load on the
machine affects both alike. The script reports medians over the repetitions:

- the wall time of step 1 against the sum of the wall times of step 2, the
  target being at most 1.0 and the aim 0.6;
- for each backend, irisfw's ``fit_seconds`` from step 3 against the plain
  script's own fit time, the target being at most 1.2 (Keras 1.5). The fit
  times of step 1, where the workers share the CPUs, are listed too.

Before timing, it checks that the plain scripts' split has the same bytes
as irisfw's prepared data. The table goes to stdout and the figures to
``benchmarks/results/whole_comparison.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from support import (
    irisfw_executable,
    load_average,
    machine,
    print_table,
    summary,
    write_results,
)

PLAIN_DIR = Path(__file__).parent / "plain"
# Backend name, plain script, fit-time ratio target.
BACKENDS = {
    "sklearn": ("iris_sklearn.py", 1.2),
    "torch": ("iris_torch.py", 1.2),
    "tensorflow": ("iris_tensorflow.py", 1.2),
    "keras": ("iris_keras.py", 1.5),
}
WHOLE_TARGET = 1.0
WHOLE_AIM = 0.6


def run(command: list[str], what: str) -> tuple[float, str]:
    """Run ``command``; return its wall time and stdout, or exit naming the failure."""
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.splitlines()[-15:])
        sys.exit(f"{what} failed with exit code {completed.returncode}:\n{tail}")
    return wall, completed.stdout


def check_backends() -> None:
    _, output = run([irisfw_executable(), "backends", "--json"], "irisfw backends")
    rows = {row["name"]: row for row in json.loads(output)["backends"]}
    missing = [name for name in BACKENDS if rows.get(name, {}).get("status") != "ok"]
    if missing:
        sys.exit(f"backends not installed or not usable: {', '.join(missing)}")


def irisfw_split_sha256() -> str:
    """Hash irisfw's prepared Iris features as the plain scripts hash theirs."""
    sys.path.insert(0, str(PLAIN_DIR))
    from iris_split import features_sha256

    from irisfw.builtin import load_iris
    from irisfw.prepare import prepare

    data = prepare(load_iris(), "species", source="iris", seed=0)
    return features_sha256(data.x_train, data.x_test)


def compare(folder: Path, backend: str | None) -> tuple[float, dict[str, Any]]:
    """Run irisfw compare; return its wall time and each backend's run record."""
    output = folder / f"compare-{backend or 'all'}.json"
    command = [irisfw_executable(), "--quiet", "compare", "--format", "json"]
    if backend is not None:
        command += ["--backend", backend]
    wall, _ = run([*command, "--output", str(output)], "irisfw compare")
    runs = json.loads(output.read_text())["runs"]
    failed = [item["backend"] for item in runs if item["status"] != "ok"]
    if failed:
        sys.exit(f"irisfw compare: runs failed: {', '.join(failed)}")
    return wall, {item["backend"]: item for item in runs}


def plain_scripts() -> tuple[float, dict[str, dict[str, Any]]]:
    """Run the four plain scripts one after another; return the summed wall time."""
    total = 0.0
    figures = {}
    for backend, (script, _) in BACKENDS.items():
        wall, output = run([sys.executable, str(PLAIN_DIR / script)], script)
        figures[backend] = {**json.loads(output.splitlines()[-1]), "wall_seconds": wall}
        total += wall
    return total, figures


def repetition(index: int, folder: Path) -> dict[str, Any]:
    load_before = load_average()
    if index % 2 == 0:
        compare_wall, together = compare(folder, None)
        plain_wall, plain = plain_scripts()
    else:
        plain_wall, plain = plain_scripts()
        compare_wall, together = compare(folder, None)
    alone = {}
    for backend in BACKENDS:
        wall, runs = compare(folder, backend)
        alone[backend] = {"wall_seconds": wall, "run": runs[backend]}
    record = {
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "compare_wall_seconds": compare_wall,
        "plain_wall_seconds": plain_wall,
        "ratio": compare_wall / plain_wall,
        "plain": plain,
        "backends": {},
    }
    for backend in BACKENDS:
        run_alone = alone[backend]["run"]
        fit = run_alone["timings"]["fit_seconds"]
        record["backends"][backend] = {
            "irisfw_fit_seconds": fit,
            "irisfw_import_seconds": run_alone["timings"]["import_seconds"],
            "irisfw_alone_wall_seconds": alone[backend]["wall_seconds"],
            "irisfw_test_accuracy": run_alone["metrics"]["test_accuracy"],
            "irisfw_threads": run_alone["threads"],
            "irisfw_fit_seconds_in_comparison": together[backend]["timings"][
                "fit_seconds"
            ],
            "plain_fit_seconds": plain[backend]["fit_seconds"],
            "plain_wall_seconds": plain[backend]["wall_seconds"],
            "plain_test_accuracy": plain[backend]["test_accuracy"],
            "fit_ratio": fit / plain[backend]["fit_seconds"],
        }
    print(
        f"repetition {index + 1}: compare {compare_wall:.2f} s, plain scripts"
        f" {plain_wall:.2f} s, ratio {record['ratio']:.2f}, load {load_before}",
        flush=True,
    )
    return record


def medians(records: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "compare_wall_seconds": summary([r["compare_wall_seconds"] for r in records]),
        "plain_wall_seconds": summary([r["plain_wall_seconds"] for r in records]),
        "ratio": summary([r["ratio"] for r in records]),
        "backends": {},
    }
    for backend, (_, target) in BACKENDS.items():
        rows = [r["backends"][backend] for r in records]
        result["backends"][backend] = {
            key: statistics.median(row[key] for row in rows)
            for key in rows[0]
            if isinstance(rows[0][key], float | int)
        }
        result["backends"][backend]["fit_ratio_target"] = target
    return result


def print_report(result: dict[str, Any], repetitions: int) -> None:
    print(f"\nWhole comparison on Iris, medians of {repetitions} repetitions")
    print_table(
        ["irisfw compare s", "4 plain scripts s", "ratio", "target", "aim"],
        [
            [
                f"{result['compare_wall_seconds']['median']:.2f}",
                f"{result['plain_wall_seconds']['median']:.2f}",
                f"{result['ratio']['median']:.2f}",
                f"<= {WHOLE_TARGET}",
                f"{WHOLE_AIM}",
            ]
        ],
    )
    print(
        "\nFit time per backend: irisfw compare --backend NAME against the plain script"
    )
    rows = []
    for backend, figures in result["backends"].items():
        rows.append(
            [
                backend,
                f"{figures['irisfw_fit_seconds']:.3f}",
                f"{figures['plain_fit_seconds']:.3f}",
                f"{figures['fit_ratio']:.2f}",
                f"<= {figures['fit_ratio_target']}",
                f"{figures['irisfw_fit_seconds_in_comparison']:.3f}",
                f"{figures['plain_wall_seconds']:.2f}",
                f"{figures['irisfw_test_accuracy']:.4f}",
                f"{figures['plain_test_accuracy']:.4f}",
            ]
        )
    print_table(
        [
            "backend",
            "irisfw fit s",
            "plain fit s",
            "ratio",
            "target",
            "irisfw fit s, all at once",
            "plain script s",
            "irisfw accuracy",
            "plain accuracy",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--output", type=Path, help="JSON file to write.")
    arguments = parser.parse_args()

    check_backends()
    expected = irisfw_split_sha256()
    started = load_average()
    records = []
    with tempfile.TemporaryDirectory(prefix="irisfw-bench-") as folder:
        for index in range(arguments.repetitions):
            record = repetition(index, Path(folder))
            hashes = {
                figures["features_sha256"] for figures in record["plain"].values()
            }
            if hashes != {expected}:
                sys.exit("the plain scripts' split differs from irisfw's prepared data")
            records.append(record)
    result = medians(records)
    print_report(result, arguments.repetitions)
    print(f"load average at start / end: {started} / {load_average()}")

    write_results(
        "whole_comparison",
        {
            "benchmark": "whole_comparison",
            "machine": machine(),
            "repetitions": arguments.repetitions,
            "split_sha256": expected,
            "targets": {"whole_ratio": WHOLE_TARGET, "whole_aim": WHOLE_AIM},
            "medians": result,
            "runs": records,
        },
        arguments.output,
    )


if __name__ == "__main__":
    main()
