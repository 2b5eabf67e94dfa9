"""Helpers shared by the benchmark scripts: machine facts, timing, output.

The scripts import this module by name, which works because Python puts the
script's folder (``benchmarks/``) first on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"
REPOSITORY = Path(__file__).resolve().parent.parent
PACKAGES = (
    "irisfw",
    "irisfw-sklearn",
    "irisfw-torch",
    "irisfw-tensorflow",
    "irisfw-keras",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "torch",
    "tensorflow",
    "keras",
    "pydantic",
    "typer",
    "rich",
)


def irisfw_executable() -> str:
    """Return the irisfw console script installed beside this Python."""
    candidate = Path(sys.executable).parent / "irisfw"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("irisfw")
    if found is None:
        sys.exit(
            "the irisfw script is not installed; pip install -r requirements-dev.txt"
        )
    return found


def _command_output(command: list[str]) -> str:
    try:
        return subprocess.run(
            command, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    """Return the machine, the Python and the package versions of this run."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "lscpu": _command_output(["lscpu"]).splitlines()[:20],
        "nproc": _command_output(["nproc"]),
        "free": _command_output(["free", "-h"]).splitlines(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "pythonpath": os.environ.get("PYTHONPATH"),
        "versions": versions,
    }


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def summary(values: list[float]) -> dict[str, float]:
    """Return the median, minimum and maximum of ``values``."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Print a Markdown table whose columns line up in a terminal."""
    widths = [
        max(len(headers[index]), *(len(row[index]) for row in rows))
        for index in range(len(headers))
    ]
    print(
        "| "
        + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
        + " |"
    )
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in rows:
        print(
            "| "
            + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            + " |"
        )


def write_results(
    name: str, record: dict[str, Any], output: Path | None = None
) -> Path:
    """Write ``record`` as JSON to ``benchmarks/results/NAME.json`` or ``output``."""
    path = output or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path
