"""The tensorflow backend, trained with real TensorFlow on the real Iris data."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from irisfw.errors import SpecError
from irisfw.metrics import check_probabilities, compute_metrics
from irisfw.spec import ModelSpec

tf = pytest.importorskip("tensorflow")

from irisfw_tensorflow import logs  # noqa: E402
from irisfw_tensorflow.backend import TensorFlowBackend, TensorFlowModel  # noqa: E402
from irisfw_tensorflow.training import SGD, Adam  # noqa: E402

NATIVE_LOG_MARKERS = (
    "oneDNN",
    "cpu_feature_guard",
    "absl::InitializeLog",
    "cudart_stub",
)


def fit(data, **spec_values) -> TensorFlowModel:
    model = TensorFlowBackend().fit(data, ModelSpec(**spec_values))
    assert isinstance(model, TensorFlowModel)
    return model


def parameters(model: TensorFlowModel) -> list[np.ndarray]:
    return [variable.numpy() for variable in model.network.parameters]


def numpy_logits(params: list[np.ndarray], features: np.ndarray, activation: str):
    """Compute logits in NumPy from params: the weights, then the biases."""
    functions = {
        "relu": lambda z: np.maximum(z, 0.0),
        "tanh": np.tanh,
        "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
    }
    layers = len(params) // 2
    weights, biases = params[:layers], params[layers:]
    hidden = features.astype(np.float64)
    for weight, bias in zip(weights[:-1], biases[:-1], strict=True):
        hidden = functions[activation](hidden @ weight + bias)
    return hidden @ weights[-1] + biases[-1]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


# Training quality and repeatability


def test_default_spec_accuracy(iris_data):
    model = fit(iris_data)
    proba = model.predict_proba(iris_data.x_test)

    assert isinstance(proba, np.ndarray)
    assert proba.dtype.kind == "f"
    assert proba.shape == (len(iris_data.y_test), iris_data.n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    accuracy = float((proba.argmax(axis=1) == iris_data.y_test).mean())
    assert accuracy >= 0.90


def test_history_records_loss_and_accuracy(iris_data):
    model = fit(iris_data, epochs=20)

    assert [record.epoch for record in model.history] == list(range(1, 21))
    assert all(record.loss > 0 for record in model.history)
    assert model.history[-1].loss < model.history[0].loss
    rows = len(iris_data.y_train)
    for record in model.history:
        assert record.accuracy is not None
        assert 0.0 <= record.accuracy <= 1.0
        # Accuracy is a count of correct training rows divided by the rows.
        assert record.accuracy * rows == pytest.approx(round(record.accuracy * rows))


def evaluate(model: TensorFlowModel, data):
    rows, classes = len(data.y_train), data.n_classes
    train_proba = check_probabilities(model.predict_proba(data.x_train), rows, classes)
    test_proba = check_probabilities(
        model.predict_proba(data.x_test), len(data.y_test), classes
    )
    return compute_metrics(
        data.y_train, train_proba, data.y_test, test_proba, data.class_names
    )


def test_same_seed_repeats_metrics(iris_data):
    first = fit(iris_data, seed=3)
    second = fit(iris_data, seed=3)

    assert first.history == second.history
    assert evaluate(first, iris_data) == evaluate(second, iris_data)
    for a, b in zip(parameters(first), parameters(second), strict=True):
        np.testing.assert_array_equal(a, b)


def test_other_seed_changes_training(iris_data):
    first = fit(iris_data, seed=0, epochs=5)
    second = fit(iris_data, seed=1, epochs=5)

    assert first.history != second.history
    assert not np.array_equal(parameters(first)[0], parameters(second)[0])


# Every spec field takes effect


def test_hidden_layers_set_shapes(iris_data):
    model = fit(iris_data, hidden_layers=(8, 5), epochs=1)

    assert [w.shape for w in model.network.weights] == [(4, 8), (8, 5), (5, 3)]
    assert [b.shape for b in model.network.biases] == [(8,), (5,), (3,)]
    assert model.details["initialisation"] == [
        "he_uniform",
        "he_uniform",
        "glorot_uniform",
    ]


@pytest.mark.parametrize(
    ("activation", "initialisation"),
    [
        ("relu", "he_uniform"),
        ("tanh", "glorot_uniform"),
        ("logistic", "glorot_uniform"),
    ],
)
def test_activation_matches_numpy(iris_data, activation, initialisation):
    model = fit(iris_data, activation=activation, hidden_layers=(6, 5), epochs=3)

    expected = softmax(numpy_logits(parameters(model), iris_data.x_test, activation))
    np.testing.assert_allclose(
        model.predict_proba(iris_data.x_test), expected, atol=1e-5
    )
    assert model.details["initialisation"][0] == initialisation


def test_initial_weights_within_bounds(iris_data):
    # A tiny SGD step leaves the weights at their initial values to 1e-6.
    relu = fit(
        iris_data, optimizer="sgd", learning_rate=1e-9, epochs=1, hidden_layers=(32,)
    )
    tanh = fit(
        iris_data,
        optimizer="sgd",
        learning_rate=1e-9,
        epochs=1,
        hidden_layers=(32,),
        activation="tanh",
    )
    he_limit = math.sqrt(6 / 4)
    glorot_limit = math.sqrt(6 / (4 + 32))

    relu_hidden = relu.network.weights[0].numpy()
    tanh_hidden = tanh.network.weights[0].numpy()
    assert np.abs(relu_hidden).max() <= he_limit
    assert np.abs(relu_hidden).max() > glorot_limit
    assert np.abs(tanh_hidden).max() <= glorot_limit
    assert np.all(relu.network.biases[0].numpy() == pytest.approx(0.0, abs=1e-6))


def test_optimizer_choice(iris_data):
    adam = fit(iris_data, optimizer="adam", epochs=2)
    sgd = fit(iris_data, optimizer="sgd", epochs=2)

    assert isinstance(adam.optimizer, Adam)
    assert isinstance(sgd.optimizer, SGD)
    assert float(adam.optimizer.epsilon.numpy()) == pytest.approx(1e-8)
    assert float(adam.optimizer.beta_1.numpy()) == pytest.approx(0.9)
    assert float(adam.optimizer.beta_2.numpy()) == pytest.approx(0.999)
    assert adam.history != sgd.history


def two_learning_rates(
    data, **spec_values
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Fit one full-batch epoch with learning rates 0.01 and 0.02 from one seed.

    Both fits start from the same weights and take one step, so for plain SGD
    the difference of the results is 0.01 times the gradient at the start.
    """
    small = fit(data, learning_rate=0.01, batch_size=None, epochs=1, **spec_values)
    large = fit(data, learning_rate=0.02, batch_size=None, epochs=1, **spec_values)
    return parameters(small), parameters(large)


def test_sgd_step_is_learning_rate_times_gradient(iris_data):
    small, large = two_learning_rates(iris_data, optimizer="sgd")
    initial = [2 * a - b for a, b in zip(small, large, strict=True)]
    gradients = [(a - b) / 0.01 for a, b in zip(small, large, strict=True)]

    # Cross-entropy gradient of the output bias: mean over rows of p - y.
    proba = softmax(numpy_logits(initial, iris_data.x_train, "relu"))
    expected = (proba - iris_data.y_train_onehot).mean(axis=0)
    np.testing.assert_allclose(gradients[-1], expected, atol=2e-4)


def test_adam_first_step_has_learning_rate_size(iris_data):
    small, large = two_learning_rates(iris_data, optimizer="adam")
    steps = (small[-1] - large[-1]) / 0.01

    # The first Adam step is lr * g / (|g| + epsilon / sqrt(1 - beta_2)), so
    # every output bias, whose gradient is far from 0, moves by about lr.
    np.testing.assert_allclose(np.abs(steps), 1.0, atol=1e-3)


def test_mse_gradient_uses_softmax_outputs(iris_data):
    small, large = two_learning_rates(iris_data, optimizer="sgd", loss="mse")
    initial = [2 * a - b for a, b in zip(small, large, strict=True)]
    gradient = (small[-1] - large[-1]) / 0.01

    # d/dz of mean((softmax(z) - y)**2) over rows and classes, per logit z_j.
    proba = softmax(numpy_logits(initial, iris_data.x_train, "relu"))
    error = proba - iris_data.y_train_onehot
    rows, classes = proba.shape
    per_row = proba * (error - (error * proba).sum(axis=1, keepdims=True))
    expected = 2.0 * per_row.sum(axis=0) / (rows * classes)
    np.testing.assert_allclose(gradient, expected, atol=2e-5)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_full_batch_first_epoch_loss(iris_data, loss):
    small, large = two_learning_rates(iris_data, optimizer="sgd", loss=loss)
    model = fit(
        iris_data,
        learning_rate=0.01,
        batch_size=None,
        epochs=1,
        optimizer="sgd",
        loss=loss,
    )
    initial = [2 * a - b for a, b in zip(small, large, strict=True)]

    # With one full-batch step, the epoch's figures are those of the initial weights.
    proba = softmax(numpy_logits(initial, iris_data.x_train, "relu"))
    onehot = iris_data.y_train_onehot
    if loss == "cross_entropy":
        expected_loss = -np.log((proba * onehot).sum(axis=1)).mean()
    else:
        expected_loss = ((proba - onehot) ** 2).mean()
    expected_accuracy = (proba.argmax(axis=1) == iris_data.y_train).mean()
    assert model.history[0].loss == pytest.approx(expected_loss, rel=1e-4)
    assert model.history[0].accuracy == pytest.approx(expected_accuracy)


def test_epochs_set_history_length(iris_data):
    model = fit(iris_data, epochs=7)

    assert len(model.history) == 7


@pytest.mark.parametrize(
    ("batch_size", "steps_per_epoch"),
    [(16, 7), (32, 4), (105, 1), (500, 1), (None, 1), (1, 105)],
)
def test_iterations_count_every_step(iris_data, batch_size, steps_per_epoch):
    epochs = 3
    model = fit(iris_data, batch_size=batch_size, epochs=epochs)
    rows = len(iris_data.y_train)
    expected_batch = rows if batch_size is None else min(batch_size, rows)

    assert math.ceil(rows / expected_batch) == steps_per_epoch
    # One optimizer serves the whole fit, so its step counter counts every step.
    assert int(model.optimizer.iterations.numpy()) == epochs * steps_per_epoch
    assert model.steps == epochs * steps_per_epoch
    assert model.details["batch_size"] == expected_batch
    assert model.details["steps_per_epoch"] == steps_per_epoch
    assert model.details["optimizer_iterations"] == epochs * steps_per_epoch


def test_adam_state_survives_steps(iris_data):
    model = fit(iris_data, epochs=2)

    assert int(model.optimizer.iterations.numpy()) == 2 * 7
    for moment in model.optimizer.v:
        assert np.any(moment.numpy() > 0)


def test_epoch_function_traced_once(iris_data):
    # 105 rows in batches of 16 end with a batch of 9 rows.
    model = fit(iris_data, batch_size=16, epochs=3)

    assert model.details["epoch_function_traces"] == 1
    assert not any("retracing" in warning for warning in model.warnings)


# Runtime details, options and logs


def test_details_describe_runtime(iris_data):
    model = fit(iris_data, epochs=1)
    details = model.details

    assert details["tensorflow_version"] == tf.__version__
    assert details["devices"]
    assert "device:" in details["variable_device"]
    assert isinstance(details["intra_op_threads"], int)
    assert isinstance(details["inter_op_threads"], int)
    assert details["op_determinism"] is True


def test_threads_option_after_start_warns(iris_data):
    fit(iris_data, epochs=1)  # starts TensorFlow's runtime in this process
    current = tf.config.threading.get_intra_op_parallelism_threads()
    requested = current + 1
    backend = TensorFlowBackend(
        TensorFlowBackend.parse_options({"threads": str(requested)})
    )

    model = backend.fit(iris_data, ModelSpec(epochs=1))

    assert backend.label == f"tensorflow (threads={requested})"
    assert any(f"threads={requested} was not applied" in w for w in model.warnings)
    assert model.details["intra_op_threads"] == current


def test_threads_option_rejects_zero():
    with pytest.raises(SpecError, match="threads"):
        TensorFlowBackend.parse_options({"threads": "0"})


def test_warnings_recorded_not_printed(capfd, caplog):
    logs.configure_python_logs()
    with logs.python_warnings_recorded() as messages:
        tf.get_logger().warning("a test warning")
        tf.get_logger().info("a test notice")

    assert messages == ["tensorflow: a test warning"]
    assert "a test warning" not in caplog.text
    assert "a test warning" not in capfd.readouterr().err
    assert logging.getLogger("tensorflow").level == logging.ERROR


def test_retracing_warning_recorded():
    logs.configure_python_logs()

    @tf.function
    def double(value):
        return value * 2

    with logs.python_warnings_recorded() as messages:
        for size in range(1, 8):
            double(tf.zeros([size]))

    assert any("retracing" in message for message in messages)


def test_native_stderr_captured(capfd):
    with logs.native_stderr_captured() as lines:
        os.write(2, b"I0000 native log line\n")

    assert lines == ["I0000 native log line"]
    assert capfd.readouterr().err == ""


def test_native_stderr_replayed_on_error(capfd):
    with pytest.raises(RuntimeError), logs.native_stderr_captured():
        os.write(2, b"E0000 explains the failure\n")
        raise RuntimeError("training failed")

    assert "explains the failure" in capfd.readouterr().err


@pytest.fixture
def verbose_irisfw():
    """Configure the irisfw logger as ``irisfw --verbose`` does."""
    irisfw_logger = logging.getLogger("irisfw")
    previous = irisfw_logger.level
    irisfw_logger.setLevel(logging.DEBUG)
    logs.configure_python_logs()
    yield
    irisfw_logger.setLevel(previous)
    logs.configure_python_logs()


def test_verbose_shows_logs(verbose_irisfw, capfd, caplog):
    with (
        logs.native_stderr_captured() as lines,
        logs.python_warnings_recorded() as messages,
    ):
        os.write(2, b"I0000 native log line\n")
        tf.get_logger().warning("a verbose warning")

    assert lines == []
    assert "I0000 native log line" in capfd.readouterr().err
    assert "a verbose warning" in caplog.text
    assert messages == ["tensorflow: a verbose warning"]
    assert logging.getLogger("tensorflow").level == logging.INFO


# Command line and plugin loading, in fresh processes


def test_compare_json_end_to_end(run_cli, monkeypatch):
    from irisfw.results import Comparison

    # The backend sets the variable itself when the user has not.
    monkeypatch.delenv(logs.NATIVE_LOG_LEVEL_ENV, raising=False)
    result = run_cli("compare", "--backend", "tensorflow", "--format", "json")

    assert result.returncode == 0, result.stderr
    comparison = Comparison.model_validate_json(result.stdout)
    run = comparison.runs[0]
    assert run.backend == "tensorflow"
    assert run.status == "ok", run.error
    assert run.metrics is not None
    assert run.metrics.test_accuracy >= 0.90
    assert len(run.history) == run.spec.epochs
    assert run.details["tensorflow_version"] == tf.__version__
    for marker in NATIVE_LOG_MARKERS:
        assert marker not in result.stderr


def test_compare_threads_option(run_cli):
    from irisfw.results import Comparison

    result = run_cli(
        "compare",
        "--backend",
        "tensorflow",
        "--epochs",
        "2",
        "--format",
        "json",
        "-o",
        "tensorflow.threads=1",
    )

    assert result.returncode == 0, result.stderr
    run = Comparison.model_validate_json(result.stdout).runs[0]
    assert run.label == "tensorflow (threads=1)"
    assert run.details["intra_op_threads"] == 1
    assert run.details["inter_op_threads"] == 1
    assert not any("not applied" in warning for warning in run.warnings)


def test_backends_command_skips_tensorflow():
    # Runs the command in a fresh interpreter, then lists what it imported.
    code = (
        "import sys; from irisfw.cli import app;"
        " app(['backends', '--json'], standalone_mode=False);"
        " prefixes = ('tensorflow', 'irisfw_tensorflow');"
        " print('MODULES', sorted(m for m in sys.modules if m.startswith(prefixes)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert '"tensorflow"' in result.stdout
    modules_line = result.stdout.strip().splitlines()[-1]
    assert "'irisfw_tensorflow.plugin'" in modules_line
    assert "'tensorflow'" not in modules_line


def test_plugin_import_skips_tensorflow():
    code = (
        "import sys, irisfw_tensorflow.plugin, irisfw_tensorflow.backend;"
        " toolkits = ('tensorflow', 'keras');"
        " print(sorted(m for m in sys.modules if m.split('.')[0] in toolkits))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
