"""Keras backend: real Keras on real Iris, on the TensorFlow and torch engines.

Keras fixes its engine at the first import in a process. The in-process
tests here use the TensorFlow engine; the torch engine runs through the CLI
in a subprocess.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from importlib.metadata import version
from importlib.util import find_spec

import numpy as np
import pytest

from irisfw.errors import SpecError
from irisfw.plugins import Plugins
from irisfw.results import Comparison, RunResult
from irisfw.runner import RunRequest, execute_run
from irisfw.spec import ModelSpec

pytestmark = pytest.mark.skipif(
    find_spec("keras") is None or find_spec("tensorflow") is None,
    reason="needs keras and tensorflow installed",
)

TOOLKIT_MODULES = ("keras", "tensorflow", "torch", "jax")

# Start of a C++ log line from TensorFlow or XLA: a severity letter, then the
# month and day as four digits.
NATIVE_LOG_LINE = re.compile(r"^[IWEF]\d{4} ")


def run_keras(data, spec: ModelSpec) -> RunResult:
    """Run the keras backend on TensorFlow in this process, as the runner does."""
    entry = Plugins().backend("keras")
    request = RunRequest(backend="keras", spec=spec, options={"engine": "tensorflow"})
    result = execute_run(request, entry, data)
    assert result.status == "ok", result.error
    return result


def fit_keras(data, spec: ModelSpec):
    from irisfw_keras.backend import KerasBackend, KerasOptions

    return KerasBackend(KerasOptions(engine="tensorflow")).fit(data, spec)


@pytest.fixture(scope="module")
def default_run(iris_data) -> RunResult:
    return run_keras(iris_data, ModelSpec())


# --- plugin loading --------------------------------------------------------


def test_plugin_import_loads_no_toolkit():
    code = (
        "import json, sys\n"
        "import irisfw_keras.plugin\n"
        "from irisfw.plugins import Plugins\n"
        "backend = Plugins().backend('keras').backend_class()\n"
        "label = backend.label\n"
        f"loaded = [m for m in {TOOLKIT_MODULES!r} if m in sys.modules]\n"
        "print(json.dumps({'loaded': loaded, 'label': label}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    output = json.loads(completed.stdout)
    assert output["loaded"] == []
    assert output["label"] == "keras (tensorflow)"


def test_backends_command_imports_no_toolkit():
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "irisfw", "backends", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in completed.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "irisfw_keras" in imported
    assert imported.isdisjoint(TOOLKIT_MODULES), imported & set(TOOLKIT_MODULES)
    listed = {row["name"]: row for row in json.loads(completed.stdout)["backends"]}
    assert listed["keras"]["status"] == "ok"
    assert listed["keras"]["toolkit"] == "keras"


# --- options and engine choice ---------------------------------------------


def test_label_shows_engine():
    from irisfw_keras.backend import KerasBackend, KerasOptions

    assert KerasBackend(KerasOptions(engine="torch")).label == "keras (torch)"
    assert KerasBackend(KerasOptions(engine="jax")).label == "keras (jax)"
    assert KerasBackend().label == "keras (tensorflow)"


def test_unknown_engine_rejected():
    from irisfw_keras.backend import KerasBackend

    with pytest.raises(SpecError, match="engine='mxnet'"):
        KerasBackend.parse_options({"engine": "mxnet"})


@pytest.mark.skipif(find_spec("jax") is not None, reason="jax is installed")
def test_missing_engine_rejected_in_check_spec():
    from irisfw_keras.backend import KerasBackend, KerasOptions

    backend = KerasBackend(KerasOptions(engine="jax"))
    with pytest.raises(SpecError, match=r"'jax' is not installed.*pip install jax"):
        backend.check_spec(ModelSpec())


@pytest.mark.skipif(find_spec("jax") is not None, reason="jax is installed")
def test_missing_engine_exits_2_with_one_line(run_cli):
    completed = run_cli("compare", "--backend", "keras", "-o", "keras.engine=jax")
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("irisfw: error: ")
    assert "'jax' is not installed" in lines[0]
    assert "pip install jax" in lines[0]


def test_training_limit_variable_rejected(monkeypatch):
    from irisfw_keras.backend import KerasBackend

    monkeypatch.setenv("KERAS_MAX_EPOCHS", "2")
    with pytest.raises(SpecError, match="KERAS_MAX_EPOCHS=2"):
        KerasBackend().check_spec(ModelSpec())


# --- TensorFlow engine, in this process ------------------------------------


def test_default_spec_accuracy_tensorflow(default_run):
    assert default_run.metrics is not None
    assert default_run.metrics.test_accuracy >= 0.90
    assert default_run.label == "keras (tensorflow)"
    assert default_run.warnings == []


def test_engine_recorded_tensorflow(default_run):
    import keras

    assert keras.backend.backend() == "tensorflow"
    assert default_run.details["engine"] == "tensorflow"
    assert default_run.details["engine_version"] == version("tensorflow")
    assert default_run.details["op_determinism"] is True


def test_history_per_epoch(default_run):
    history = default_run.history
    assert [record.epoch for record in history] == list(range(1, 101))
    assert all(record.accuracy is not None for record in history)
    assert history[-1].loss < history[0].loss
    assert history[-1].accuracy > history[0].accuracy


def test_trains_on_all_rows_without_validation(iris_data):
    spec = ModelSpec(epochs=4, batch_size=16)
    fitted = fit_keras(iris_data, spec)
    rows = len(iris_data.y_train)
    assert set(fitted.keras_history) == {"loss", "accuracy"}
    assert not any(key.startswith("val_") for key in fitted.keras_history)
    assert fitted.details["train_rows"] == rows
    assert int(fitted.model.optimizer.iterations) == 4 * math.ceil(rows / 16)
    assert fitted.details["optimizer_steps"] == 4 * math.ceil(rows / 16)


def test_predict_proba_returns_numpy(iris_data):
    fitted = fit_keras(iris_data, ModelSpec(epochs=2))
    proba = fitted.predict_proba(iris_data.x_test)
    assert isinstance(proba, np.ndarray)
    assert proba.dtype.kind == "f"
    assert proba.shape == (len(iris_data.y_test), iris_data.n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


SPEC_CASES = [
    pytest.param(
        ModelSpec(
            hidden_layers=(8, 5),
            activation="tanh",
            optimizer="sgd",
            learning_rate=0.05,
            epochs=3,
            batch_size=10,
            loss="mse",
        ),
        id="two-layers-tanh-sgd-mse",
    ),
    pytest.param(
        ModelSpec(
            hidden_layers=(12,),
            activation="logistic",
            optimizer="adam",
            learning_rate=0.002,
            epochs=2,
            batch_size=None,
        ),
        id="logistic-adam-full-batch",
    ),
    pytest.param(
        ModelSpec(hidden_layers=(4, 4, 4), epochs=2, batch_size=500),
        id="three-layers-batch-clipped",
    ),
]


@pytest.mark.parametrize("spec", SPEC_CASES)
def test_spec_fields_take_effect(iris_data, spec: ModelSpec):
    import keras

    fitted = fit_keras(iris_data, spec)
    model = fitted.model
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    expected_activation = {"logistic": "sigmoid"}.get(spec.activation, spec.activation)

    assert [layer.units for layer in dense] == [*spec.hidden_layers, 3]
    assert [layer.activation.__name__ for layer in dense[:-1]] == [
        expected_activation
    ] * len(spec.hidden_layers)
    assert dense[-1].activation.__name__ == "softmax"

    optimizer = model.optimizer
    assert float(optimizer.learning_rate) == pytest.approx(spec.learning_rate)
    if spec.optimizer == "adam":
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert optimizer.epsilon == 1e-8
        assert (optimizer.beta_1, optimizer.beta_2) == (0.9, 0.999)
    else:
        assert isinstance(optimizer, keras.optimizers.SGD)
        assert optimizer.momentum == 0.0
        assert optimizer.nesterov is False

    if spec.loss == "mse":
        assert isinstance(model.loss, keras.losses.MeanSquaredError)
    else:
        assert isinstance(model.loss, keras.losses.CategoricalCrossentropy)
        assert model.loss.from_logits is False

    rows = len(iris_data.y_train)
    batch = rows if spec.batch_size is None else min(spec.batch_size, rows)
    assert fitted.details["batch_size"] == batch
    assert len(fitted.history) == spec.epochs
    assert len(fitted.keras_history["loss"]) == spec.epochs
    assert int(optimizer.iterations) == spec.epochs * math.ceil(rows / batch)


def test_mse_loss_is_mean_over_rows_and_classes(iris_data):
    spec = ModelSpec(loss="mse", optimizer="sgd", learning_rate=1e-9, epochs=1)
    fitted = fit_keras(iris_data, spec)
    proba = fitted.predict_proba(iris_data.x_train)
    expected = float(np.mean((proba - iris_data.y_train_onehot) ** 2))
    # A learning rate of 1e-9 leaves the weights unchanged within float32, so
    # the epoch's mean training loss equals the loss of the final model.
    assert fitted.history[0].loss == pytest.approx(expected, rel=1e-4)


def test_learning_rate_changes_training(iris_data):
    slow = fit_keras(iris_data, ModelSpec(learning_rate=0.001, epochs=3))
    fast = fit_keras(iris_data, ModelSpec(learning_rate=0.05, epochs=3))
    assert slow.history[-1].loss != fast.history[-1].loss


def test_same_seed_repeats_tensorflow(iris_data):
    spec = ModelSpec(epochs=10, seed=3)
    first = fit_keras(iris_data, spec)
    second = fit_keras(iris_data, spec)
    other_seed = fit_keras(iris_data, spec.model_copy(update={"seed": 4}))
    assert first.history == second.history
    assert np.array_equal(
        first.predict_proba(iris_data.x_test), second.predict_proba(iris_data.x_test)
    )
    assert first.history != other_seed.history


def test_other_engine_rejected_after_import(default_run):
    from irisfw_keras.backend import KerasBackend, KerasOptions

    backend = KerasBackend(KerasOptions(engine="torch"))
    with pytest.raises(SpecError, match=r"already imported .* engine 'tensorflow'"):
        backend.check_spec(ModelSpec())


# --- torch engine, in a subprocess -----------------------------------------


@pytest.mark.skipif(find_spec("torch") is None, reason="torch is not installed")
def test_default_spec_torch_engine(run_cli):
    completed = run_cli(
        "compare", "--backend", "keras", "-o", "keras.engine=torch", "--format", "json"
    )
    assert completed.returncode == 0, completed.stderr
    comparison = Comparison.model_validate_json(completed.stdout)
    (run,) = comparison.runs
    assert run.status == "ok", run.error
    assert run.metrics is not None
    assert run.metrics.test_accuracy >= 0.90
    assert run.label == "keras (torch)"
    assert run.details["engine"] == "torch"
    assert run.details["engine_version"] == version("torch")
    assert len(run.history) == 100
    rows = comparison.data.train_rows
    assert run.details["train_rows"] == rows
    assert run.details["optimizer_steps"] == 100 * math.ceil(rows / 16)
    assert run.warnings == []

    native_log = [
        line
        for line in completed.stderr.splitlines()
        if NATIVE_LOG_LINE.match(line) or "absl" in line
    ]
    assert native_log == []
