"""Shared fixtures: prepared Iris data, the installed CLI, and test plugins."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).parent
ROOT = TESTS_DIR.parent
DATA_DIR = TESTS_DIR / "data"
TEST_PLUGIN_SOURCES = [
    TESTS_DIR / "plugins" / "irisfw-test-plugins",
    TESTS_DIR / "plugins" / "irisfw-test-duplicate",
]
EXAMPLE_BACKEND_SOURCE = ROOT / "examples" / "backend-numpy"
CONFORMANCE_PLUGIN_SOURCE = TESTS_DIR / "plugins" / "irisfw-test-conformance"


@pytest.fixture(scope="session")
def iris_frame():
    from irisfw.builtin import load_iris

    return load_iris()


@pytest.fixture(scope="session")
def iris_data(iris_frame):
    from irisfw.prepare import prepare

    return prepare(iris_frame, "species", source="iris", seed=0)


def irisfw_executable() -> str:
    """Return the irisfw console script installed beside this Python."""
    candidate = Path(sys.executable).parent / "irisfw"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("irisfw")
    if found is None:
        pytest.fail(
            "the irisfw script is not installed; pip install -r requirements-dev.txt"
        )
    return found


@pytest.fixture(scope="session")
def test_plugins_path(tmp_path_factory) -> Path:
    """Install the test-only plugin distributions into a folder with real pip.

    The folder goes on PYTHONPATH only for the tests that ask for it, so the
    faulty backends never reach a developer's own environment.
    """
    target = tmp_path_factory.mktemp("test-plugins")
    pip_install_into(target, TEST_PLUGIN_SOURCES)
    return target


@pytest.fixture(scope="session")
def example_backend_path(tmp_path_factory) -> Path:
    """Install the NumPy example backend, as a user would, into its own folder."""
    target = tmp_path_factory.mktemp("example-backend")
    pip_install_into(target, [EXAMPLE_BACKEND_SOURCE])
    return target


@pytest.fixture(scope="session")
def conformance_plugins_path(tmp_path_factory) -> Path:
    """Install the example backend and the backends with deliberate faults."""
    target = tmp_path_factory.mktemp("conformance-plugins")
    pip_install_into(target, [EXAMPLE_BACKEND_SOURCE, CONFORMANCE_PLUGIN_SOURCE])
    return target


def pip_install_into(target: Path, sources: list[Path]) -> None:
    """Install package folders into ``target`` with pip, without dependencies."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            *map(str, sources),
        ],
        check=True,
    )


RunCli = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def run_cli(tmp_path) -> RunCli:
    """Run the installed irisfw script in a subprocess and capture its output."""

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        plugins_path: Path | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess:
        environ = {**os.environ, "COLUMNS": "200", **(env or {})}
        if plugins_path is not None:
            environ["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(plugins_path), environ.get("PYTHONPATH")])
            )
        return subprocess.run(
            [irisfw_executable(), *args],
            capture_output=True,
            text=True,
            env=environ,
            cwd=tmp_path,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def two_backend_results(tmp_path_factory, test_plugins_path) -> Path:
    """Compare sklearn and the test-only constant backend once; return the JSON file.

    The constant backend always predicts the first class and records no
    history, so reports and plots see a good and a bad backend.
    """
    folder = tmp_path_factory.mktemp("two-backends")
    path = folder / "results.json"
    environ = {
        **os.environ,
        "IRISFW_PLUGINS": "sklearn,faulty",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(test_plugins_path), os.environ.get("PYTHONPATH")])
        ),
    }
    subprocess.run(
        [
            irisfw_executable(),
            "compare",
            "--backend",
            "sklearn",
            "--backend",
            "constant",
            "--epochs",
            "20",
            "--format",
            "json",
            "--output",
            str(path),
        ],
        capture_output=True,
        env=environ,
        cwd=folder,
        timeout=600,
        check=True,
    )
    return path
