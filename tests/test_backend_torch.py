"""The torch backend, trained with real torch on the real Iris data."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from importlib.metadata import version
from typing import Any

import numpy as np
import pytest

from irisfw.errors import SpecError
from irisfw.plugins import Plugins
from irisfw.results import Comparison
from irisfw.runner import RunRequest, execute_run
from irisfw.spec import ModelSpec

torch = pytest.importorskip("torch")
nn = torch.nn

from irisfw_torch.backend import TorchBackend  # noqa: E402
from irisfw_torch.training import TorchModel  # noqa: E402

# Wiring tests train for a few epochs on one thread. Accuracy tests use the
# default spec and the default thread count.
SHORT = {"epochs": 5}
ONE_THREAD = {"threads": 1}
CUDA_AVAILABLE = torch.cuda.is_available()


def fit(data: Any, options: dict[str, Any] | None = None, **spec: Any) -> TorchModel:
    values = ONE_THREAD if options is None else options
    backend = TorchBackend(TorchBackend.parse_options(values))
    model = backend.fit(data, ModelSpec(**spec))
    assert isinstance(model, TorchModel)
    return model


def linear_layers(model: TorchModel) -> list[Any]:
    return [layer for layer in model.module.modules() if isinstance(layer, nn.Linear)]


# Accuracy and end-to-end runs


def test_default_spec_accuracy(iris_data):
    entry = Plugins().backend("torch")
    result = execute_run(
        RunRequest(backend="torch", spec=ModelSpec()), entry, iris_data
    )
    assert result.status == "ok", result.error
    assert result.metrics is not None
    assert result.metrics.test_accuracy >= 0.90
    assert len(result.history) == 100
    assert result.plugin.distribution == "irisfw-torch"


def test_cli_compare_json(run_cli):
    completed = run_cli("compare", "--backend", "torch", "--format", "json")
    assert completed.returncode == 0, completed.stderr
    comparison = Comparison.model_validate_json(completed.stdout)
    assert len(comparison.runs) == 1
    run = comparison.runs[0]
    assert run.status == "ok", run.error
    assert run.backend == "torch"
    assert run.toolkit.name == "torch"
    assert run.toolkit.version == version("torch")
    assert run.details["device"] == "cpu"
    assert run.details["threads"] >= 1
    assert run.details["torch_version"] == torch.__version__
    assert run.metrics is not None
    assert run.metrics.test_accuracy >= 0.90


# Determinism


def test_same_seed_identical_runs(iris_data):
    entry = Plugins().backend("torch")
    spec = ModelSpec(epochs=20, seed=3)
    request = RunRequest(backend="torch", spec=spec, options=ONE_THREAD)
    first = execute_run(request, entry, iris_data)
    second = execute_run(request, entry, iris_data)
    assert first.status == "ok", first.error
    assert second.status == "ok", second.error
    assert first.metrics == second.metrics
    assert first.history == second.history
    assert first.details == second.details


def test_same_seed_identical_probabilities(iris_data):
    first = fit(iris_data, seed=5, **SHORT)
    second = fit(iris_data, seed=5, **SHORT)
    np.testing.assert_array_equal(
        first.predict_proba(iris_data.x_test), second.predict_proba(iris_data.x_test)
    )


def test_other_seed_changes_history(iris_data):
    first = fit(iris_data, seed=0, **SHORT)
    second = fit(iris_data, seed=1, **SHORT)
    assert first.history != second.history


def test_fit_restores_torch_settings(iris_data):
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    rng_state = torch.get_rng_state()
    model = fit(iris_data, options={"threads": 1}, **SHORT)
    model.predict_proba(iris_data.x_test)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.get_rng_state(), rng_state)


# Every ModelSpec field changes what is trained


def test_hidden_layers_sizes(iris_data):
    model = fit(iris_data, hidden_layers=(8, 5), **SHORT)
    shapes = [(layer.in_features, layer.out_features) for layer in linear_layers(model)]
    assert shapes == [(4, 8), (8, 5), (5, 3)]


@pytest.mark.parametrize(
    ("activation", "module_type"),
    [("relu", nn.ReLU), ("tanh", nn.Tanh), ("logistic", nn.Sigmoid)],
)
def test_activation_module_type(iris_data, activation, module_type):
    model = fit(iris_data, hidden_layers=(6, 6), activation=activation, **SHORT)
    layers = list(model.module.children())
    assert [type(layer) for layer in layers] == [
        nn.Linear,
        module_type,
        nn.Linear,
        module_type,
        nn.Linear,
    ]


def test_activation_changes_history(iris_data):
    relu = fit(iris_data, activation="relu", **SHORT)
    tanh = fit(iris_data, activation="tanh", **SHORT)
    assert relu.history != tanh.history


def test_optimizer_adam_settings(iris_data):
    model = fit(iris_data, optimizer="adam", learning_rate=0.02, **SHORT)
    assert type(model.optimizer) is torch.optim.Adam
    group = model.optimizer.param_groups[0]
    assert group["lr"] == 0.02
    assert group["betas"] == (0.9, 0.999)
    assert group["eps"] == 1e-8
    assert group["weight_decay"] == 0


def test_optimizer_sgd_settings(iris_data):
    model = fit(iris_data, optimizer="sgd", learning_rate=0.05, **SHORT)
    assert type(model.optimizer) is torch.optim.SGD
    group = model.optimizer.param_groups[0]
    assert group["lr"] == 0.05
    assert group["momentum"] == 0
    assert group["nesterov"] is False
    assert group["weight_decay"] == 0


def test_optimizer_changes_history(iris_data):
    adam = fit(iris_data, optimizer="adam", **SHORT)
    sgd = fit(iris_data, optimizer="sgd", **SHORT)
    assert adam.history != sgd.history


def test_learning_rate_changes_history(iris_data):
    slow = fit(iris_data, learning_rate=0.001, **SHORT)
    fast = fit(iris_data, learning_rate=0.05, **SHORT)
    assert slow.history != fast.history


def test_epochs_count_history(iris_data):
    model = fit(iris_data, epochs=7)
    assert len(model.history) == 7
    assert [record.epoch for record in model.history] == list(range(1, 8))
    assert model.details["optimizer_steps"] == 7 * math.ceil(105 / 16)


@pytest.mark.parametrize(
    ("batch_size", "steps_per_epoch"), [(16, 7), (50, 3), (1, 105)]
)
def test_batch_size_sets_steps(iris_data, batch_size, steps_per_epoch):
    epochs = 2
    model = fit(iris_data, batch_size=batch_size, epochs=epochs)
    assert model.details["batch_size"] == batch_size
    assert model.details["optimizer_steps"] == epochs * steps_per_epoch


def test_batch_size_changes_history(iris_data):
    small = fit(iris_data, batch_size=8, **SHORT)
    large = fit(iris_data, batch_size=32, **SHORT)
    assert small.history != large.history


def test_full_batch_one_step_per_epoch(iris_data):
    model = fit(iris_data, batch_size=None, epochs=4)
    assert model.details["batch_size"] == len(iris_data.y_train)
    assert model.details["optimizer_steps"] == 4


def test_batch_size_clipped_to_rows(iris_data):
    full = fit(iris_data, batch_size=None, **SHORT)
    clipped = fit(iris_data, batch_size=1000, **SHORT)
    assert clipped.details["batch_size"] == len(iris_data.y_train)
    assert clipped.history == full.history


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_loss_matches_definition(iris_data, loss):
    # A tiny step size leaves the weights almost unchanged, so the first
    # epoch's loss is the loss of the final weights on every training row.
    model = fit(iris_data, loss=loss, learning_rate=1e-9, optimizer="sgd", epochs=1)
    proba = model.predict_proba(iris_data.x_train).astype(np.float64)
    if loss == "cross_entropy":
        rows = np.arange(len(iris_data.y_train))
        expected = -np.log(proba[rows, iris_data.y_train]).mean()
    else:
        expected = ((proba - iris_data.y_train_onehot) ** 2).mean()
    assert model.history[0].loss == pytest.approx(expected, rel=1e-4)


def test_loss_changes_history(iris_data):
    cross_entropy = fit(iris_data, loss="cross_entropy", **SHORT)
    mse = fit(iris_data, loss="mse", **SHORT)
    assert cross_entropy.history[0].loss != mse.history[0].loss


def test_history_accuracy_is_training_accuracy(iris_data):
    model = fit(
        iris_data, batch_size=None, optimizer="sgd", learning_rate=1e-9, epochs=1
    )
    predicted = model.predict_proba(iris_data.x_train).argmax(axis=1)
    expected = float((predicted == iris_data.y_train).mean())
    assert model.history[0].accuracy == pytest.approx(expected)


def test_predict_proba_shape_and_sums(iris_data):
    model = fit(iris_data, **SHORT)
    proba = model.predict_proba(iris_data.x_test)
    assert isinstance(proba, np.ndarray)
    assert proba.shape == (len(iris_data.y_test), 3)
    assert np.issubdtype(proba.dtype, np.floating)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert model.module.training is False


# Options


def test_threads_option_recorded(iris_data):
    model = fit(iris_data, options={"threads": 1}, **SHORT)
    assert model.details["threads"] == 1


def test_threads_default_is_torch_count(iris_data):
    model = fit(iris_data, options={}, **SHORT)
    assert model.details["threads"] == torch.get_num_threads()


def test_details_record_device_and_version(iris_data):
    model = fit(iris_data, options={"device": "cpu", "threads": 1}, **SHORT)
    assert model.details["device"] == "cpu"
    assert model.details["torch_version"] == torch.__version__
    assert model.details["deterministic_algorithms"] is True
    json.dumps(model.details)


def test_device_auto_picks_available(iris_data):
    model = fit(iris_data, options={"device": "auto", "threads": 1}, **SHORT)
    expected = "cuda" if CUDA_AVAILABLE else "cpu"
    assert model.details["device"].split(":")[0] == expected


def test_label_names_options():
    assert TorchBackend().label == "torch"
    options = TorchBackend.parse_options({"device": "auto", "threads": "1"})
    assert TorchBackend(options).label == "torch (auto, 1 thread)"


@pytest.mark.skipif(CUDA_AVAILABLE, reason="a CUDA device is available")
def test_device_cuda_unavailable_error():
    backend = TorchBackend(TorchBackend.parse_options({"device": "cuda"}))
    with pytest.raises(SpecError) as caught:
        backend.check_spec(ModelSpec())
    message = str(caught.value)
    assert "device='cuda'" in message
    assert "torch.device=cpu" in message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"device": "tpu"}, "device='tpu'"),
        ({"device": "cuda:x"}, "device='cuda:x'"),
        ({"threads": 0}, "threads=0"),
        ({"threads": "many"}, "threads='many'"),
        ({"colour": "red"}, "colour='red'"),
    ],
)
def test_invalid_option_error(values, expected):
    with pytest.raises(SpecError) as caught:
        TorchBackend.parse_options(values)
    assert expected in str(caught.value)
    assert "backend 'torch'" in str(caught.value)


@pytest.mark.skipif(CUDA_AVAILABLE, reason="a CUDA device is available")
def test_cli_device_cuda_unavailable(run_cli):
    completed = run_cli("compare", "--backend", "torch", "-o", "torch.device=cuda")
    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("irisfw: error:")
    assert "device='cuda'" in lines[0]
    assert completed.stdout == ""


def test_cli_unknown_option_key(run_cli):
    completed = run_cli("compare", "--backend", "torch", "-o", "torch.colour=red")
    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert "colour='red'" in lines[0]


def test_cli_quiet_without_verbose(run_cli):
    completed = run_cli(
        "compare", "--backend", "torch", "--epochs", "3", "-o", "torch.threads=1"
    )
    assert completed.returncode == 0, completed.stderr
    assert "epoch" not in completed.stderr
    verbose = run_cli(
        "--verbose",
        "compare",
        "--backend",
        "torch",
        "--epochs",
        "3",
        "-o",
        "torch.threads=1",
    )
    assert verbose.returncode == 0, verbose.stderr
    assert "torch epoch 3/3" in verbose.stderr


# Loading the plugin does not import torch


def test_plugin_import_skips_torch():
    code = (
        "import sys, irisfw_torch.plugin, irisfw_torch.backend\n"
        "from irisfw.plugins import Plugins\n"
        "Plugins().backend('torch')\n"
        "print('torch' in sys.modules)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "False"


def test_backends_command_skips_torch():
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "irisfw", "backends", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in completed.stderr.splitlines()
        if line.startswith("import time:")
    ]
    # Entry points are loaded with importlib.import_module, which -X importtime
    # does not report, so the backend module imported by the plugin is checked.
    assert "irisfw_torch.backend" in imported
    assert not [name for name in imported if name.split(".")[0] == "torch"]
    rows = {row["name"]: row for row in json.loads(completed.stdout)["backends"]}
    assert rows["torch"]["toolkit_version"] == version("torch")
    assert rows["torch"]["status"] == "ok"
