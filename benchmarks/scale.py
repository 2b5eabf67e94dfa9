"""Benchmark irisfw on a large table: preparation time, peak memory, training throughput.

Run from the repository root, with all four backends installed:

    python benchmarks/scale.py [--rows N] [--repetitions N] [--epochs N]
                               [--skip-careful] [--keep-file] [--output PATH]

The script writes a synthetic classification CSV file into a temporary
folder with scikit-learn's ``make_classification``: 1,000,000 rows, 20
features, 3 classes, a header line and an integer ``class`` column, values
rounded to 5 decimals. It deletes the file at the end unless
``--keep-file`` is given.

Preparation: each variant runs in its own process, which imports its
libraries first and then reads (and for irisfw prepares) the file:

- ``pandas.read_csv``: a bare ``pandas.read_csv(path)`` with the default C
  engine, the reference; and the same with ``engine="pyarrow"``;
- ``irisfw fast path (pyarrow)`` and ``(pandas C parser)``:
  ``irisfw.loading.load_table`` and ``irisfw.prepare.prepare_table``, the
  work ``irisfw compare`` does before training, with each engine;
- ``irisfw careful reader``: the same with ``fast=False``, the reader every
  file went through before the fast path existed (one repetition).

Each process reports its wall time for that work and its peak resident
memory (``VmHWM`` in ``/proc/self/status``; ``ru_maxrss`` is not used
because Linux carries the parent's resident size at ``fork`` over into the
child's), and the script
relates the peak to the size of the float64 feature matrix (rows x features
x 8 bytes), both as the whole peak and as the increase over the process's
memory after its imports. Targets: irisfw's preparation within 2x of the
bare ``pandas.read_csv`` time, peak memory within 3x of the matrix.

Throughput: the file is prepared once, saved as irisfw's runner saves it for
its workers, and each backend trains the default network for ``--epochs``
epochs with batches of 256 through ``irisfw.runner.execute_run`` in a
process of its own, with the thread settings that ``irisfw compare
--backend NAME`` gives a single worker. The script reports training rows
per second (epochs x training rows / fit seconds) and the process's peak
memory. The table goes to stdout and the figures to
``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from support import load_average, machine, print_table, write_results

FEATURES = 20
CLASSES = 3
TARGET = "class"
BATCH_SIZE = 256
BACKENDS = ("sklearn", "torch", "tensorflow", "keras")
TIME_TARGET = 2.0
MEMORY_TARGET = 3.0

# Returns the current (VmRSS) or peak (VmHWM) resident memory in MiB.
MEMORY_FUNCTION = """
def memory_mib(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(field + " not in /proc/self/status")
"""

# Code run in a fresh process for one preparation variant. argv: variant, path.
PREPARE_CHILD = (
    MEMORY_FUNCTION
    + """
import json, sys, time
variant, path = sys.argv[1], sys.argv[2]

import numpy as np
import pandas as pd
if variant.startswith("irisfw") or variant == "read_csv_pyarrow":
    import pyarrow, pyarrow.csv
if variant.startswith("irisfw"):
    from irisfw import fastcsv
    from irisfw.dataoptions import DataOptions
    from irisfw.loading import load_table
    from irisfw.prepare import prepare_table
    import sklearn.model_selection, sklearn.preprocessing
    if variant == "irisfw_pandas":
        fastcsv.default_engine = lambda: "pandas"
baseline = memory_mib("VmRSS")
start = time.perf_counter()
if variant == "read_csv":
    frame = pd.read_csv(path)
    rows, reader = len(frame), "pandas C"
elif variant == "read_csv_pyarrow":
    frame = pd.read_csv(path, engine="pyarrow")
    rows, reader = len(frame), "pyarrow"
else:
    table = load_table(
        path, {}, "class", DataOptions(), fast=variant != "irisfw_careful"
    )
    data = prepare_table(table)
    rows, reader = len(table.frame), table.csv_reader
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "baseline_mb": baseline,
                  "peak_mb": memory_mib("VmHWM"), "rows": rows, "reader": reader}))
"""
)

# Code run in a fresh process for one backend.
# argv: backend, data folder, epochs, batch size.
TRAIN_CHILD = (
    MEMORY_FUNCTION
    + """
import json, sys
backend, folder = sys.argv[1], sys.argv[2]
epochs, batch_size = int(sys.argv[3]), int(sys.argv[4])
from pathlib import Path
from irisfw.plugins import Plugins
from irisfw.prepare import load_prepared
from irisfw.runner import RunRequest, execute_run
from irisfw.spec import ModelSpec

data = load_prepared(Path(folder))
spec = ModelSpec(epochs=epochs, batch_size=batch_size)
result = execute_run(RunRequest(backend=backend, spec=spec), Plugins().backend(backend), data)
peak = memory_mib("VmHWM")
print(json.dumps({
    "status": result.status,
    "error": result.error,
    "label": result.label,
    "threads": result.threads,
    "train_rows": len(data.y_train),
    "timings": result.timings.model_dump(),
    "test_accuracy": result.metrics.test_accuracy if result.metrics else None,
    "peak_mb": peak,
}))
"""
)

PREPARE_VARIANTS = {
    "read_csv": "pandas.read_csv (C engine)",
    "read_csv_pyarrow": "pandas.read_csv (pyarrow engine)",
    "irisfw_pyarrow": "irisfw fast path (pyarrow)",
    "irisfw_pandas": "irisfw fast path (pandas C parser)",
    "irisfw_careful": "irisfw careful reader",
}


def write_csv(path: Path, rows: int) -> None:
    """Write the synthetic table to ``path``."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    features, labels = make_classification(
        n_samples=rows,
        n_features=FEATURES,
        n_informative=10,
        n_redundant=4,
        n_classes=CLASSES,
        random_state=0,
    )
    frame = pd.DataFrame(
        np.round(features, 5), columns=[f"f{i}" for i in range(FEATURES)]
    )
    frame[TARGET] = labels
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        frame.to_csv(path, index=False)
    else:
        # pyarrow writes each double's shortest round-trip text, so the rounded
        # values keep at most 5 decimals; it is much faster than to_csv.
        pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path)


def child(code: str, *arguments: str, environ: dict[str, str] | None = None) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, **(environ or {})},
    )
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.splitlines()[-15:])
        sys.exit(f"child process failed ({completed.returncode}):\n{tail}")
    return json.loads(completed.stdout.splitlines()[-1])


def measure_preparation(
    path: Path, repetitions: int, careful: bool
) -> dict[str, dict[str, Any]]:
    variants = [
        name for name in PREPARE_VARIANTS if careful or name != "irisfw_careful"
    ]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for repetition in range(repetitions):
        # Alternate the order so that background load affects every variant alike.
        order = variants if repetition % 2 == 0 else variants[::-1]
        for name in order:
            if name == "irisfw_careful" and runs[name]:
                continue
            record = child(PREPARE_CHILD, name, str(path))
            record["load_average"] = load_average()
            runs[name].append(record)
            print(
                f"  {PREPARE_VARIANTS[name]}: {record['seconds']:.2f} s,"
                f" peak {record['peak_mb']:.0f} MB, load {record['load_average']}",
                flush=True,
            )
    results = {}
    for name, records in runs.items():
        results[name] = {
            "runs": records,
            "seconds": statistics.median(r["seconds"] for r in records),
            "peak_mb": statistics.median(r["peak_mb"] for r in records),
            "increase_mb": statistics.median(
                r["peak_mb"] - r["baseline_mb"] for r in records
            ),
            "reader": records[0]["reader"],
        }
    return results


def thread_environ() -> dict[str, str]:
    """Return the thread settings that irisfw compare gives a single worker."""
    from irisfw.runner import THREAD_VARIABLES, threads_per_worker

    threads = str(threads_per_worker(1))
    environ = {name: threads for name in THREAD_VARIABLES if name not in os.environ}
    environ["IRISFW_THREADS"] = threads
    return environ


def measure_throughput(path: Path, folder: Path, epochs: int) -> dict[str, Any]:
    from irisfw.dataoptions import DataOptions
    from irisfw.loading import load_table
    from irisfw.prepare import prepare_table, save_prepared

    data = prepare_table(load_table(str(path), {}, TARGET, DataOptions()))
    save_prepared(data, folder)
    del data
    results = {}
    for backend in BACKENDS:
        load_before = load_average()
        record = child(
            TRAIN_CHILD,
            backend,
            str(folder),
            str(epochs),
            str(BATCH_SIZE),
            environ=thread_environ(),
        )
        if record["status"] != "ok":
            sys.exit(f"{backend} failed: {record['error']}")
        fit = record["timings"]["fit_seconds"]
        record["rows_per_second"] = epochs * record["train_rows"] / fit
        record["load_average_before"] = load_before
        record["load_average_after"] = load_average()
        results[backend] = record
        print(
            f"  {backend}: {record['rows_per_second']:,.0f} rows/s,"
            f" peak {record['peak_mb']:.0f} MB, load {load_before}",
            flush=True,
        )
    return results


def print_report(
    preparation: dict[str, Any],
    throughput: dict[str, Any],
    matrix_mb: float,
    epochs: int,
) -> None:
    reference = preparation["read_csv"]["seconds"]
    print(f"\nPreparation; float64 feature matrix {matrix_mb:.0f} MiB")
    rows = []
    for name, figures in preparation.items():
        rows.append(
            [
                PREPARE_VARIANTS[name],
                str(len(figures["runs"])),
                f"{figures['seconds']:.2f}",
                f"{figures['seconds'] / reference:.2f}",
                f"{figures['peak_mb']:.0f}",
                f"{figures['peak_mb'] / matrix_mb:.2f}",
                f"{figures['increase_mb']:.0f}",
                f"{figures['increase_mb'] / matrix_mb:.2f}",
            ]
        )
    print_table(
        [
            "variant",
            "runs",
            "median s",
            "x read_csv",
            "peak MiB",
            "peak / matrix",
            "increase MiB",
            "increase / matrix",
        ],
        rows,
    )
    print(f"targets: <= {TIME_TARGET}x read_csv time, <= {MEMORY_TARGET}x the matrix")

    print(
        f"\nTraining throughput, default network, {epochs} epochs, batch {BATCH_SIZE}"
    )
    print_table(
        [
            "backend",
            "threads",
            "fit s",
            "rows/s",
            "import s",
            "peak MiB",
            "test accuracy",
        ],
        [
            [
                backend,
                str(record["threads"]),
                f"{record['timings']['fit_seconds']:.1f}",
                f"{record['rows_per_second']:,.0f}",
                f"{record['timings']['import_seconds']:.1f}",
                f"{record['peak_mb']:.0f}",
                f"{record['test_accuracy']:.4f}",
            ]
            for backend, record in throughput.items()
        ],
    )


def main() -> None:
    if sys.argv[1:2] == ["--write-csv"]:
        write_csv(Path(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--skip-careful", action="store_true", help="Do not time the careful reader."
    )
    parser.add_argument(
        "--keep-file", action="store_true", help="Keep the generated CSV file."
    )
    parser.add_argument("--output", type=Path, help="JSON file to write.")
    arguments = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="irisfw-scale-"))
    path = folder / "synthetic.csv"
    started = load_average()
    try:
        # A child process writes the file, so that this process stays small.
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--write-csv", str(path), str(arguments.rows)],
            check=True,
        )
        write_seconds = time.perf_counter() - start
        size_mb = path.stat().st_size / 2**20
        print(f"wrote {path}: {size_mb:.0f} MiB in {write_seconds:.1f} s")
        print("preparation:")
        preparation = measure_preparation(
            path, arguments.repetitions, not arguments.skip_careful
        )
        print("training:")
        throughput = measure_throughput(path, folder / "prepared", arguments.epochs)
    finally:
        if arguments.keep_file:
            print(f"kept {path}")
            shutil.rmtree(folder / "prepared", ignore_errors=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    matrix_mb = arguments.rows * FEATURES * 8 / 2**20
    print_report(preparation, throughput, matrix_mb, arguments.epochs)
    print(f"load average at start / end: {started} / {load_average()}")
    write_results(
        "scale",
        {
            "benchmark": "scale",
            "machine": machine(),
            "rows": arguments.rows,
            "features": FEATURES,
            "classes": CLASSES,
            "file_mib": size_mb,
            "float64_matrix_mib": matrix_mb,
            "epochs": arguments.epochs,
            "batch_size": BATCH_SIZE,
            "targets": {"time_ratio": TIME_TARGET, "memory_ratio": MEMORY_TARGET},
            "preparation": preparation,
            "throughput": throughput,
        },
        arguments.output,
    )


if __name__ == "__main__":
    main()
