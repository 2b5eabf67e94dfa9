"""Benchmark start-up: irisfw --help and irisfw backends against python -c pass.

Run from the repository root, with every backend installed:

    python benchmarks/startup.py [--repetitions N] [--output PATH]

Each repetition runs the three commands once, one after another, as fresh
processes, and measures each one's wall time and CPU time (user plus system,
from ``resource.getrusage(RUSAGE_CHILDREN)``). The script prints medians,
minima and maxima. The wall time includes everything the user waits for:
interpreter start-up, imports, loading the plugins and printing.

A separate run of each command counts the modules in ``sys.modules`` when
the process exits and lists the toolkits and numerical libraries among them.
That run executes ``irisfw.cli.main`` from ``python -c`` with an exit hook,
so it imports what the console script imports.

The target is 0.5 s of wall time for each irisfw command, with no toolkit
imported. The table goes to stdout and the figures to
``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
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

TARGET_SECONDS = 0.5
# Top-level modules that count as toolkits or numerical libraries.
HEAVY_MODULES = (
    "sklearn",
    "torch",
    "tensorflow",
    "keras",
    "jax",
    "numpy",
    "pandas",
    "scipy",
    "pyarrow",
    "matplotlib",
)
TOOLKITS = ("sklearn", "torch", "tensorflow", "keras", "jax")
# Runs a command's code the way the console script does and writes the names
# of the imported modules to the file named by argv[1] when the process exits.
MODULE_COUNTER = """
import atexit, json, sys
output = sys.argv[1]
atexit.register(lambda: open(output, "w").write(json.dumps(sorted(sys.modules))))
arguments = sys.argv[2:]
if arguments:
    sys.argv = ["irisfw", *arguments]
    from irisfw.cli import main
    main()
"""


def commands() -> dict[str, list[str]]:
    irisfw = irisfw_executable()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "irisfw --help": [irisfw, "--help"],
        "irisfw backends": [irisfw, "backends"],
    }


def arguments_of(name: str) -> list[str]:
    return name.split()[1:] if name.startswith("irisfw") else []


def time_command(command: list[str]) -> tuple[float, float]:
    """Run ``command`` once; return its wall time and its CPU time in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def imported_modules(arguments: list[str]) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "modules.json"
        subprocess.run(
            [sys.executable, "-c", MODULE_COUNTER, str(output), *arguments],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        return json.loads(output.read_text())


def measure(repetitions: int) -> dict[str, Any]:
    runs = commands()
    walls: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}
    for command in runs.values():  # untimed warm-up of the file cache
        time_command(command)
    for _ in range(repetitions):
        for name, command in runs.items():
            wall, cpu = time_command(command)
            walls[name].append(wall)
            cpus[name].append(cpu)

    results = {}
    for name in runs:
        modules = imported_modules(arguments_of(name))
        heavy = sorted(
            {module.split(".")[0] for module in modules} & set(HEAVY_MODULES)
        )
        results[name] = {
            "command": runs[name],
            "wall_seconds": walls[name],
            "cpu_seconds": cpus[name],
            "wall": summary(walls[name]),
            "cpu": summary(cpus[name]),
            "modules": len(modules),
            "heavy_modules": heavy,
            "toolkit_imported": any(module in TOOLKITS for module in heavy),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repetitions", type=int, default=15, help="Timed runs per command."
    )
    parser.add_argument("--output", type=Path, help="JSON file to write.")
    arguments = parser.parse_args()

    load_before = load_average()
    results = measure(arguments.repetitions)
    load_after = load_average()

    headers = [
        "command",
        "wall median s",
        "wall min s",
        "wall max s",
        "CPU median s",
        "modules",
        "toolkit or numerical modules",
    ]
    rows = []
    for name, result in results.items():
        rows.append(
            [
                name,
                f"{result['wall']['median']:.3f}",
                f"{result['wall']['min']:.3f}",
                f"{result['wall']['max']:.3f}",
                f"{result['cpu']['median']:.3f}",
                str(result["modules"]),
                ", ".join(result["heavy_modules"]) or "none",
            ]
        )
    print_table(headers, rows)
    print(
        f"target: irisfw commands <= {TARGET_SECONDS} s wall, no toolkit imported;"
        f" {arguments.repetitions} repetitions"
    )
    print(f"load average before / after (1, 5, 15 min): {load_before} / {load_after}")

    write_results(
        "startup",
        {
            "benchmark": "startup",
            "machine": machine(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "repetitions": arguments.repetitions,
            "target_seconds": TARGET_SECONDS,
            "results": results,
        },
        arguments.output,
    )


if __name__ == "__main__":
    main()
