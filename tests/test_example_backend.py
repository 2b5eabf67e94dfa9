"""The NumPy example backend, installed with pip as a third-party plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

from conftest import EXAMPLE_BACKEND_SOURCE, ROOT
from irisfw.results import Comparison


def test_backends_lists_numpy(run_cli, example_backend_path):
    result = run_cli("backends", "--json", plugins_path=example_backend_path)

    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["backends"]}
    numpy_row = rows["numpy"]
    assert numpy_row["plugin"] == "numpy"
    assert numpy_row["distribution"] == "irisfw-numpy-example"
    assert numpy_row["version"] == "0.1.0"
    assert numpy_row["toolkit"] == "numpy"
    assert numpy_row["toolkit_version"] == version("numpy")
    assert numpy_row["status"] == "ok"


def test_backends_table_lists_numpy(run_cli, example_backend_path):
    result = run_cli("backends", plugins_path=example_backend_path)

    assert result.returncode == 0, result.stderr
    [row] = [
        line for line in result.stdout.splitlines() if "irisfw-numpy-example" in line
    ]
    assert "numpy" in row.split("│")[1]
    assert "ok" in row


def test_compare_numpy_reaches_accuracy(run_cli, example_backend_path):
    result = run_cli(
        "compare",
        "--backend",
        "numpy",
        "--format",
        "json",
        plugins_path=example_backend_path,
    )

    assert result.returncode == 0, result.stderr
    [run] = Comparison.model_validate_json(result.stdout).runs
    assert run.status == "ok", run.error
    assert run.metrics.test_accuracy >= 0.9
    assert run.plugin.distribution == "irisfw-numpy-example"
    assert run.toolkit.name == "numpy"
    assert len(run.history) == run.spec.epochs == 100
    assert run.details["optimizer_steps"] == 100 * 7


def test_saved_numpy_model_predicts(run_cli, example_backend_path, tmp_path):
    models = tmp_path / "models"
    compared = run_cli(
        "compare",
        "--backend",
        "numpy",
        "--format",
        "json",
        "--save-models",
        str(models),
        plugins_path=example_backend_path,
    )
    assert compared.returncode == 0, compared.stderr
    [run] = Comparison.model_validate_json(compared.stdout).runs
    rows = ROOT / "packages" / "core" / "src" / "irisfw" / "resources" / "iris.csv"

    predicted = run_cli(
        "predict",
        run.model_path,
        str(rows),
        "--ignore-extra",
        "--format",
        "json",
        plugins_path=example_backend_path,
    )

    assert predicted.returncode == 0, predicted.stderr
    assert sorted(path.name for path in (models / run.model_path).rglob("*.npz")) == [
        "weights.npz"
    ]
    predictions = json.loads(predicted.stdout)
    assert len(predictions) == 150
    assert {row["predicted"] for row in predictions} == {
        "setosa",
        "versicolor",
        "virginica",
    }


def test_example_own_tests_pass(example_backend_path):
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(example_backend_path), os.environ.get("PYTHONPATH")])
        ),
    }

    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE_BACKEND_SOURCE,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert " passed" in completed.stdout.splitlines()[-1]
    assert "failed" not in completed.stdout.splitlines()[-1]


def test_example_not_in_dev_requirements():
    requirements = (ROOT / "requirements-dev.txt").read_text()

    assert "examples/" not in requirements
    assert "irisfw-numpy-example" not in requirements
