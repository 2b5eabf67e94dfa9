"""Wheels of every package, installed by extra into a fresh virtual environment.

The wheels come from this repository; their dependencies come from the
package index, through pip's cache. Installing ``irisfw[sklearn]`` must
bring scikit-learn and no other toolkit, and ``irisfw[torch]`` must add
torch. The virtual environment is deleted afterwards, because torch alone
takes several hundred megabytes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT
from irisfw.results import Comparison

pytestmark = pytest.mark.slow

# torch 2.13.0 is the CPU build that lies on this project's machines; an
# unpinned torch would pull a multi-gigabyte CUDA build from the index.
TORCH_PIN = "torch==2.13.0"
WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-")
TIMEOUT_SECONDS = 1200


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """Build a wheel of every package in packages/ and write a constraints file."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    packages = sorted(
        path.parent for path in (ROOT / "packages").glob("*/pyproject.toml")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(folder),
            *map(str, packages),
        ],
        check=True,
        timeout=TIMEOUT_SECONDS,
    )
    pins = [TORCH_PIN]
    for wheel in sorted(folder.glob("*.whl")):
        match = WHEEL_NAME.match(wheel.name)
        assert match is not None, wheel.name
        # Pinning the local versions keeps pip from taking a same-named
        # distribution from the index.
        pins.append(f"{match['name'].replace('_', '-')}=={match['version']}")
    (folder / "constraints.txt").write_text("\n".join(pins) + "\n")
    return folder


def clean_environ() -> dict[str, str]:
    """Return this environment without what points at the development venv."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
        and not key.startswith("IRISFW_")
    }


class Venv:
    def __init__(self, folder: Path, wheelhouse: Path) -> None:
        self.folder = folder
        self.wheelhouse = wheelhouse

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.folder / "bin" / program), *args],
            capture_output=True,
            text=True,
            env={**clean_environ(), "COLUMNS": "200"},
            cwd=self.folder,
            timeout=TIMEOUT_SECONDS,
        )

    def install(self, requirement: str) -> None:
        completed = self.run(
            "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--find-links",
            str(self.wheelhouse),
            "--constraint",
            str(self.wheelhouse / "constraints.txt"),
            requirement,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr

    def distributions(self) -> dict[str, str]:
        completed = self.run("python", "-m", "pip", "list", "--format", "json")
        assert completed.returncode == 0, completed.stderr
        return {
            row["name"].lower().replace("_", "-"): row["version"]
            for row in json.loads(completed.stdout)
        }

    def backends(self) -> dict[str, dict]:
        completed = self.run("irisfw", "backends", "--json")
        assert completed.returncode == 0, completed.stderr
        listing = json.loads(completed.stdout)
        assert listing["plugin_errors"] == []
        return {row["name"]: row for row in listing["backends"]}

    def compare(self, *args: str) -> Comparison:
        completed = self.run(
            "irisfw", "compare", "--epochs", "5", "--format", "json", *args
        )
        assert completed.returncode == 0, completed.stderr
        return Comparison.model_validate_json(completed.stdout)


@pytest.fixture(scope="module")
def venv(wheelhouse) -> Iterator[Venv]:
    """A fresh virtual environment with ``irisfw[sklearn]`` installed from wheels."""
    # Outside pytest's temporary folders, which keep the last runs on disk.
    folder = Path(tempfile.mkdtemp(prefix="irisfw-extras-venv-"))
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(folder)],
            check=True,
            env=clean_environ(),
            timeout=TIMEOUT_SECONDS,
        )
        environment = Venv(folder, wheelhouse)
        environment.install("irisfw[sklearn]")
        yield environment
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_wheels_built_for_every_package(wheelhouse):
    built = {WHEEL_NAME.match(path.name)["name"] for path in wheelhouse.glob("*.whl")}
    expected = {
        re.search(r'^name = "([^"]+)"', path.read_text(), re.MULTILINE)[1].replace(
            "-", "_"
        )
        for path in (ROOT / "packages").glob("*/pyproject.toml")
    }

    assert built == expected


def test_sklearn_extra_installs_only_sklearn(venv):
    distributions = venv.distributions()

    assert "irisfw" in distributions
    assert "irisfw-sklearn" in distributions
    assert "scikit-learn" in distributions
    for absent in ("torch", "tensorflow", "keras", "jax", "irisfw-torch"):
        assert absent not in distributions, absent
    assert list(venv.backends()) == ["sklearn"]
    comparison = venv.compare()
    assert [(run.backend, run.status) for run in comparison.runs] == [("sklearn", "ok")]


def test_torch_extra_adds_torch(venv):
    venv.install("irisfw[torch]")

    distributions = venv.distributions()
    assert distributions["torch"].startswith("2.13.0")
    assert "tensorflow" not in distributions
    backends = venv.backends()
    assert sorted(backends) == ["sklearn", "torch"]
    assert backends["torch"]["status"] == "ok"
    assert backends["torch"]["toolkit_version"] == distributions["torch"]
    comparison = venv.compare("--backend", "torch")
    assert [(run.backend, run.status) for run in comparison.runs] == [("torch", "ok")]
