"""Sweeps from a TOML config file, with command-line overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from irisfw.errors import IrisfwError
from irisfw.planning import CompareArguments, plan_pairs, resolve_settings
from irisfw.plugins import Plugins
from irisfw.results import Comparison

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FAULTY = {"IRISFW_PLUGINS": "sklearn,faulty"}


@pytest.fixture
def sklearn_only():
    return Plugins(environ={"IRISFW_PLUGINS": "sklearn"})


def write(tmp_path, text):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


def test_grid_expands_every_combination(tmp_path, sklearn_only):
    path = write(
        tmp_path,
        """
backends = ["sklearn"]
[[specs]]
hidden_layers = [[9], [9, 9], [9, 9, 9]]
learning_rate = [0.01, 0.1]
epochs = 5
""",
    )

    pairs = plan_pairs(resolve_settings(CompareArguments(config=path)), sklearn_only)

    specs = [spec for _, spec, _ in pairs]
    assert len(specs) == 6
    assert {spec.hidden_layers for spec in specs} == {(9,), (9, 9), (9, 9, 9)}
    assert {spec.learning_rate for spec in specs} == {0.01, 0.1}
    assert {spec.epochs for spec in specs} == {5}


def test_hidden_layers_list_is_one_spec(tmp_path, sklearn_only):
    path = write(
        tmp_path, '[[specs]]\nbackends = ["sklearn"]\nhidden_layers = [3, 20, 100]\n'
    )

    [(_, spec, _)] = plan_pairs(
        resolve_settings(CompareArguments(config=path)), sklearn_only
    )

    assert spec.hidden_layers == (3, 20, 100)


def test_command_line_overrides_file(tmp_path, sklearn_only):
    path = write(tmp_path, "seed = 4\nrepeats = 3\n[[specs]]\nepochs = [5, 6]\n")

    settings = resolve_settings(
        CompareArguments(config=path, seed=9, spec_values={"epochs": 7})
    )
    pairs = plan_pairs(settings, sklearn_only)

    assert settings.seed == 9
    assert settings.repeats == 3
    assert [spec.epochs for _, spec, _ in pairs] == [7]


def test_full_batch_spelling(tmp_path, sklearn_only):
    path = write(tmp_path, '[[specs]]\nbatch_size = ["full", 8]\n')

    pairs = plan_pairs(resolve_settings(CompareArguments(config=path)), sklearn_only)

    assert [spec.batch_size for _, spec, _ in pairs] == [None, 8]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sead = 3\n", "sead: unknown key; allowed keys: data, target, seed"),
        ("[[specs]]\nhiden_layers = [9]\n", "specs[0].hiden_layers: unknown key"),
        ("repeats = 0\n", "repeats=0"),
        ('[[specs]]\nactivation = ["relu", "softplus"]\n', "'softplus'"),
        (
            '[[specs]]\nactivation = ["relu", "softplus"]\n',
            "'relu', 'tanh' or 'logistic'",
        ),
        ("seed = \n", "not valid TOML"),
        ('backends = ["nope"]\n', "unknown backend 'nope'"),
        ('[[specs]]\nbackends = ["torch"]\n', "specs[0] names backends torch"),
    ],
)
def test_bad_config_exit_two(run_cli, tmp_path, text, expected):
    path = write(tmp_path, text)

    result = run_cli(
        "compare", "--config", str(path), env={"IRISFW_PLUGINS": "sklearn"}
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr


def test_missing_config_exit_two(run_cli, tmp_path):
    result = run_cli("compare", "--config", str(tmp_path / "none.toml"))

    assert result.returncode == 2
    assert "not found" in result.stderr


def test_config_runs_expected_runs(run_cli, tmp_path, test_plugins_path):
    path = write(
        tmp_path,
        """
repeats = 2
backends = ["sklearn", "constant"]

[options.constant]
sleep = 0

[[specs]]
hidden_layers = [[4], [4, 4]]
epochs = 5
""",
    )

    result = run_cli(
        "compare",
        *("--config", str(path), "--format", "json"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 0, result.stderr
    comparison = Comparison.model_validate_json(result.stdout)
    assert len(comparison.runs) == 2 * 2 * 2
    assert len(comparison.summary) == 4
    assert {run.spec.hidden_layers for run in comparison.runs} == {(4,), (4, 4)}


def test_examples_valid(monkeypatch):
    plugins = Plugins()
    assert sorted(EXAMPLES.glob("*.toml")), "no example configs found"
    for path in sorted(EXAMPLES.glob("*.toml")):
        settings = resolve_settings(CompareArguments(config=path))
        try:
            pairs = plan_pairs(settings, plugins)
        except IrisfwError as error:
            pytest.fail(f"{path.name}: {error}")
        assert pairs, path.name
