"""The same comparison twice with one seed gives identical metrics per backend."""

from __future__ import annotations

from irisfw.results import Comparison

BACKENDS = ["sklearn", "torch", "tensorflow", "keras"]


def run_all(run_cli):
    result = run_cli(
        "compare",
        *[argument for name in BACKENDS for argument in ("-b", name)],
        *("--epochs", "15", "--repeats", "2", "--seed", "3", "--format", "json"),
    )
    assert result.returncode == 0, result.stderr
    return Comparison.model_validate_json(result.stdout)


def test_repeated_comparison_identical(run_cli):
    first = run_all(run_cli)
    second = run_all(run_cli)

    assert [run.backend for run in first.runs] == [run.backend for run in second.runs]
    for one, two in zip(first.runs, second.runs, strict=True):
        assert one.status == "ok", one.error
        assert one.fingerprint == two.fingerprint
        assert one.metrics == two.metrics, one.backend
        assert [epoch.loss for epoch in one.history] == [
            epoch.loss for epoch in two.history
        ], one.backend


def test_tensorflow_and_torch_alternate(run_cli):
    result = run_cli(
        "compare",
        *("-b", "tensorflow", "-b", "torch", "--repeats", "3", "--epochs", "5"),
        *("--jobs", "2", "--format", "json"),
    )

    assert result.returncode == 0, result.stderr
    runs = Comparison.model_validate_json(result.stdout).runs
    assert len(runs) == 6
    assert {run.status for run in runs} == {"ok"}
    assert len({run.worker_pid for run in runs}) == 6
