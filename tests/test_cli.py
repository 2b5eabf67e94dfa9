"""The installed irisfw script, run as a user runs it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from conftest import DATA_DIR
from irisfw.results import Comparison

HEAVY_MODULES = ("pandas", "sklearn", "torch", "tensorflow", "keras", "jax")


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["backends"],
        ["backends", "--json"],
        ["backends", "--all"],
    ],
)
def test_light_startup_imports_no_toolkit(args):
    code = (
        "import sys\n"
        f"sys.argv = ['irisfw', *{args!r}]\n"
        "from irisfw.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert "HEAVY=\n" in result.stderr


def test_version(run_cli):
    result = run_cli("--version")

    assert result.returncode == 0
    assert result.stdout.startswith("irisfw ")


def test_compare_default_table(run_cli):
    result = run_cli("compare", env={"IRISFW_PLUGINS": "sklearn"})

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "data: iris, target 'species'"
    assert "rows: 150, features: 4" in lines[1]
    assert "105 train / 45 test" in lines[2]
    assert lines[3].startswith("fingerprint: ")
    [row] = [line for line in lines if "sklearn" in line and "ok" in line]
    test_accuracy = float(row.split("│")[3])
    assert test_accuracy >= 0.9


def test_compare_json_round_trips(run_cli):
    result = run_cli(
        "compare",
        "--format",
        "json",
        "--epochs",
        "20",
        env={"IRISFW_PLUGINS": "sklearn"},
    )

    assert result.returncode == 0, result.stderr
    comparison = Comparison.model_validate_json(result.stdout)
    [run] = comparison.runs
    assert comparison.schema_version == 1
    assert run.status == "ok"
    assert run.spec.epochs == 20
    assert len(run.history) == 20
    assert run.fingerprint == comparison.data.fingerprint
    assert run.toolkit.name == "scikit-learn"
    assert run.toolkit.version
    assert run.plugin.distribution == "irisfw-sklearn"
    assert run.timings.fit_seconds > 0
    assert run.timings.predict_seconds > 0
    assert len(run.metrics.per_class) == 3
    assert sum(map(sum, run.metrics.confusion_matrix)) == 45
    assert any("ConvergenceWarning" in warning for warning in run.warnings)
    assert "ConvergenceWarning" not in result.stderr


def test_compare_kaggle_file_species_target(run_cli):
    result = run_cli(
        "compare",
        "--data",
        str(DATA_DIR / "kaggle_Iris.csv"),
        "--target",
        "Species",
        "--format",
        "json",
        env={"IRISFW_PLUGINS": "sklearn"},
    )

    assert result.returncode == 0, result.stderr
    comparison = Comparison.model_validate_json(result.stdout)
    assert comparison.data.target == "Species"
    assert comparison.data.class_names == [
        "Iris-setosa",
        "Iris-versicolor",
        "Iris-virginica",
    ]


def test_compare_csv_format(run_cli):
    result = run_cli(
        "compare", "--format", "csv", "--epochs", "5", env={"IRISFW_PLUGINS": "sklearn"}
    )

    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1
    assert rows[0]["backend"] == "sklearn"
    assert 0 <= float(rows[0]["test_accuracy"]) <= 1
    assert "recall[setosa]" in rows[0]


def test_compare_markdown_format(run_cli):
    result = run_cli(
        "compare",
        "--format",
        "markdown",
        "--epochs",
        "5",
        env={"IRISFW_PLUGINS": "sklearn"},
    )

    assert "| backend | status | test acc |" in result.stdout
    assert "| sklearn | ok |" in result.stdout


def test_compare_output_file(run_cli, tmp_path):
    output = tmp_path / "out.json"

    result = run_cli(
        "compare",
        "--format",
        "json",
        "--epochs",
        "5",
        "--output",
        str(output),
        env={"IRISFW_PLUGINS": "sklearn"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert Comparison.model_validate_json(output.read_text()).runs[0].status == "ok"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_compare_spec_options_reach_run(run_cli):
    result = run_cli(
        "compare",
        "--hidden",
        "8,4",
        "--activation",
        "tanh",
        "--optimizer",
        "sgd",
        "--learning-rate",
        "0.05",
        "--epochs",
        "7",
        "--batch-size",
        "full",
        "--seed",
        "3",
        "--test-size",
        "0.2",
        "--format",
        "json",
        env={"IRISFW_PLUGINS": "sklearn"},
    )

    comparison = Comparison.model_validate_json(result.stdout)
    spec = comparison.runs[0].spec
    assert spec.hidden_layers == (8, 4)
    assert spec.activation == "tanh"
    assert spec.optimizer == "sgd"
    assert spec.learning_rate == 0.05
    assert spec.epochs == 7
    assert spec.batch_size is None
    assert spec.seed == 3
    assert comparison.data.split_seed == 3
    assert comparison.data.test_rows == 30


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data", "missing.csv"], "'missing.csv' not found"),
        (["--target", "label"], "'label' not found"),
        (["--activation", "softplus"], "'relu', 'tanh' or 'logistic'"),
        (["--optimizer", "rmsprop"], "'adam' or 'sgd'"),
        (["--loss", "hinge"], "'cross_entropy' or 'mse'"),
        (["--epochs", "0"], "epochs=0"),
        (["--epochs", "ten"], "--epochs"),
        (["--learning-rate", "-1"], "learning_rate=-1.0"),
        (["--hidden", "8,x"], "--hidden '8,x'"),
        (["--hidden", "0"], "hidden_layers"),
        (["--batch-size", "some"], "--batch-size 'some'"),
        (["--test-size", "1.5"], "--test-size"),
        (["--format", "yaml"], "--format 'yaml'"),
        (["--backend", "nope"], "unknown backend 'nope'"),
        (["--backend", "sklearn", "--loss", "mse"], "does not support loss 'mse'"),
        (["--option", "sklearn"], "BACKEND.KEY=VALUE"),
        (["--option", "sklearn.speed=2"], "speed"),
        (["--option", "torch.device=cpu", "-b", "sklearn"], "not in this comparison"),
        (["--no-such-option"], "--no-such-option"),
    ],
)
def test_compare_user_errors_exit_two(run_cli, args, expected):
    result = run_cli("compare", *args, env={"IRISFW_PLUGINS": "sklearn"})

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("irisfw: error: ")
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_compare_no_backends_exit_two(run_cli):
    result = run_cli("compare", env={"IRISFW_PLUGINS": ""})

    assert result.returncode == 2
    assert "no backends are installed" in result.stderr


def test_compare_data_directory_exit_two(run_cli, tmp_path):
    result = run_cli(
        "compare", "--data", str(tmp_path), env={"IRISFW_PLUGINS": "sklearn"}
    )

    assert result.returncode == 2
    assert "is a directory" in result.stderr


def test_datasets_json(run_cli):
    result = run_cli("datasets", "--json")

    names = [row["name"] for row in json.loads(result.stdout)]
    assert names == ["breast_cancer", "digits", "iris", "wine"]


def test_compare_named_dataset(run_cli):
    result = run_cli(
        "compare",
        "--data",
        "wine",
        "--format",
        "json",
        env={"IRISFW_PLUGINS": "sklearn"},
    )

    comparison = Comparison.model_validate_json(result.stdout)
    assert comparison.data.rows == 178
    assert comparison.data.target == "class"
    assert comparison.runs[0].metrics.test_accuracy >= 0.9
