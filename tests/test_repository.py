"""Checks that keep the repository's own files consistent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    command = ci_lines[-1]

    assert command.endswith("python -m pytest")
    assert f"\n{command}\n" in readme


def test_readme_quick_start_runs_compare():
    readme = (ROOT / "README.md").read_text()

    assert (
        "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt"
        " && .venv/bin/irisfw compare\n" in readme
    )


def test_dev_requirements_install_every_package():
    requirements = (ROOT / "requirements-dev.txt").read_text().splitlines()
    editable = {line.split()[1] for line in requirements if line.startswith("-e ")}
    packages = {
        f"packages/{path.parent.name}"
        for path in (ROOT / "packages").glob("*/pyproject.toml")
    }

    assert packages <= editable


def test_ruff_clean():
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(ROOT)],
        capture_output=True,
        text=True,
    )
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", str(ROOT)],
        capture_output=True,
        text=True,
    )

    assert check.returncode == 0, check.stdout
    assert fmt.returncode == 0, fmt.stdout
