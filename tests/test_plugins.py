"""Plugin discovery with real installed distributions, good and broken."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from irisfw.errors import BackendError
from irisfw.hookspecs import hookimpl
from irisfw.plugins import Plugins
from irisfw.results import Comparison


@pytest.fixture
def plugins_on_path(test_plugins_path, monkeypatch):
    monkeypatch.syspath_prepend(str(test_plugins_path))
    return test_plugins_path


def test_sklearn_registered_from_entry_point():
    plugins = Plugins(environ={"IRISFW_PLUGINS": "sklearn"})

    entry = plugins.backend("sklearn")
    assert entry.plugin.distribution == "irisfw-sklearn"
    assert entry.backend_class.toolkit == "scikit-learn"


def test_empty_selection_loads_no_plugins():
    plugins = Plugins(environ={"IRISFW_PLUGINS": ""})

    assert plugins.backends == {}
    assert "iris" in plugins.datasets


def test_broken_plugin_recorded_not_raised(plugins_on_path):
    plugins = Plugins(environ={"IRISFW_PLUGINS": "sklearn,broken"})

    broken = plugins.plugins["broken"]
    assert broken.distribution == "irisfw-test-plugins"
    assert broken.version == "0.0.1"
    assert "ModuleNotFoundError" in broken.error
    assert "irisfw_missing_dependency" in broken.error
    assert "sklearn" in plugins.backends


def test_strict_mode_reraises(plugins_on_path):
    with pytest.raises(ModuleNotFoundError):
        Plugins(environ={"IRISFW_PLUGINS": "broken", "IRISFW_STRICT_PLUGINS": "1"})


def test_duplicate_backend_names_both_distributions(plugins_on_path):
    plugins = Plugins(environ={"IRISFW_PLUGINS": "faulty,duplicate"})

    with pytest.raises(BackendError) as error:
        plugins.backend("constant")

    message = str(error.value)
    assert "irisfw-test-plugins 0.0.1" in message
    assert "irisfw-test-duplicate 0.0.2" in message


def test_unknown_backend_lists_available():
    plugins = Plugins(environ={"IRISFW_PLUGINS": "sklearn"})

    with pytest.raises(BackendError, match="available backends: sklearn"):
        plugins.backend("nope")


def test_plugin_hooks_listed():
    plugins = Plugins(environ={"IRISFW_PLUGINS": "sklearn"})

    assert plugins.plugins["sklearn"].hooks == ["irisfw_register_backends"]
    assert plugins.plugins["irisfw.builtin"].hooks == ["irisfw_register_datasets"]


class RecordingSink:
    def __init__(self):
        self.results = []

    @hookimpl
    def irisfw_run_finished(self, result, data):
        self.results.append((result.backend, result.status, data.fingerprint))


class FailingSink:
    @hookimpl
    def irisfw_run_finished(self, result, data):
        raise RuntimeError("sink is down")


def test_run_finished_reaches_sinks(iris_data, plugins_on_path):
    from irisfw.runner import RunRequest, run_comparison
    from irisfw.spec import ModelSpec

    plugins = Plugins(environ={"IRISFW_PLUGINS": "faulty"})
    sink = RecordingSink()
    plugins.manager.register(FailingSink(), name="failing-sink")
    plugins.manager.register(sink, name="sink")
    requests = [
        RunRequest("constant", ModelSpec(epochs=1)),
        RunRequest("failing", ModelSpec(epochs=1)),
    ]

    comparison = run_comparison(requests, iris_data, plugins)

    assert sorted(sink.results) == [
        ("constant", "ok", iris_data.fingerprint),
        ("failing", "failed", iris_data.fingerprint),
    ]
    assert [run.status for run in comparison.runs] == ["ok", "failed"]


def test_cli_backends_shows_broken_plugin(run_cli, test_plugins_path):
    result = run_cli(
        "backends",
        env={"IRISFW_PLUGINS": "sklearn,broken"},
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 0, result.stderr
    assert "sklearn" in result.stdout
    assert "broken" in result.stdout
    assert "irisfw_missing_dependency" in result.stdout


def test_cli_backends_json_shows_broken_plugin(run_cli, test_plugins_path):
    result = run_cli(
        "backends",
        "--json",
        env={"IRISFW_PLUGINS": "sklearn,broken"},
        plugins_path=test_plugins_path,
    )

    listing = json.loads(result.stdout)
    assert [row["name"] for row in listing["backends"]] == ["sklearn"]
    assert listing["backends"][0]["status"] == "ok"
    [error] = listing["plugin_errors"]
    assert error["plugin"] == "broken"
    assert error["distribution"] == "irisfw-test-plugins"
    assert error["version"] == "0.0.1"
    assert "ModuleNotFoundError" in error["error"]


def test_cli_compare_runs_healthy_backends(run_cli, test_plugins_path):
    result = run_cli(
        "compare",
        "--epochs",
        "5",
        "--format",
        "json",
        env={"IRISFW_PLUGINS": "sklearn,broken"},
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 0, result.stderr
    comparison = Comparison.model_validate_json(result.stdout)
    assert [run.backend for run in comparison.runs] == ["sklearn"]
    assert "broken" in result.stderr


def test_cli_failing_backend_exit_one(run_cli, test_plugins_path):
    result = run_cli(
        "compare",
        "-b",
        "sklearn",
        "-b",
        "failing",
        "-b",
        "badshape",
        "--epochs",
        "5",
        "--format",
        "json",
        env={"IRISFW_PLUGINS": "sklearn,faulty"},
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 1
    runs = {
        run.backend: run for run in Comparison.model_validate_json(result.stdout).runs
    }
    assert runs["sklearn"].status == "ok"
    assert runs["failing"].status == "failed"
    assert runs["failing"].error.startswith("RuntimeError: deliberate failure in fit")
    assert "faulty.py" in runs["failing"].error
    assert runs["badshape"].status == "failed"
    assert "shape (45, 2), expected (45, 3)" in runs["badshape"].error


def test_cli_duplicate_backend_exit_two(run_cli, test_plugins_path):
    result = run_cli(
        "compare",
        "--backend",
        "constant",
        env={"IRISFW_PLUGINS": "faulty,duplicate"},
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "irisfw-test-duplicate" in result.stderr
    assert "irisfw-test-plugins" in result.stderr


def test_cli_strict_mode_shows_traceback(run_cli, test_plugins_path):
    result = run_cli(
        "backends",
        env={"IRISFW_PLUGINS": "broken", "IRISFW_STRICT_PLUGINS": "1"},
        plugins_path=test_plugins_path,
    )

    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "irisfw_missing_dependency" in result.stderr


def test_plugin_module_imports_no_toolkit():
    code = (
        "import sys, irisfw_sklearn.plugin;"
        "print(','.join(m for m in ('sklearn', 'pandas', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == ""


def test_cli_backends_all_json_lists_hooks(run_cli, test_plugins_path):
    result = run_cli(
        "backends",
        "--all",
        "--json",
        env={"IRISFW_PLUGINS": "sklearn,broken,faulty"},
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 0, result.stderr
    plugins = {row["plugin"]: row for row in json.loads(result.stdout)["plugins"]}
    assert set(plugins) == {"irisfw.builtin", "sklearn", "broken", "faulty"}
    assert plugins["irisfw.builtin"]["hooks"] == ["irisfw_register_datasets"]
    assert plugins["sklearn"]["hooks"] == ["irisfw_register_backends"]
    assert plugins["faulty"] == {
        "plugin": "faulty",
        "distribution": "irisfw-test-plugins",
        "version": "0.0.1",
        "module": "irisfw_test_plugins.faulty",
        "hooks": ["irisfw_register_backends"],
        "error": None,
    }
    assert plugins["broken"]["hooks"] == []
    assert "ModuleNotFoundError" in plugins["broken"]["error"]


def test_cli_backends_json_without_all_omits_plugins(run_cli):
    result = run_cli("backends", "--json", env={"IRISFW_PLUGINS": "sklearn"})

    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {"backends", "plugin_errors"}


def test_cli_backends_all_table_lists_hooks(run_cli, example_backend_path):
    result = run_cli(
        "backends",
        "--all",
        env={"IRISFW_PLUGINS": "numpy"},
        plugins_path=example_backend_path,
    )

    assert result.returncode == 0, result.stderr
    assert "irisfw plugins" in result.stdout
    [row] = [
        line
        for line in result.stdout.splitlines()
        if "irisfw_numpy_example.plugin" in line
    ]
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[1:6] == [
        "numpy",
        "irisfw-numpy-example 0.1.0",
        "irisfw_numpy_example.plugin",
        "irisfw_register_backends",
        "ok",
    ]


TRACE_LINE = (
    "irisfw: DEBUG: hook irisfw_register_backends: calling plugin 'numpy' with"
    " register=<function register>"
)


def test_cli_trace_hooks_in_main_and_worker(run_cli, example_backend_path):
    result = run_cli(
        "--verbose",
        "compare",
        "--backend",
        "numpy",
        "--epochs",
        "2",
        "--format",
        "json",
        env={"IRISFW_PLUGINS": "numpy", "IRISFW_TRACE_HOOKS": "1"},
        plugins_path=example_backend_path,
    )

    assert result.returncode == 0, result.stderr
    Comparison.model_validate_json(result.stdout)
    # Once when the command loads its plugins, once in the worker process.
    assert result.stderr.count(TRACE_LINE) == 2
    assert "hook irisfw_register_datasets: calling plugin 'irisfw.builtin'" in (
        result.stderr
    )


def test_cli_trace_hooks_needs_verbose(run_cli, example_backend_path):
    result = run_cli(
        "backends",
        env={"IRISFW_PLUGINS": "numpy", "IRISFW_TRACE_HOOKS": "1"},
        plugins_path=example_backend_path,
    )

    assert result.returncode == 0, result.stderr
    assert "hook irisfw_register_backends" not in result.stderr
