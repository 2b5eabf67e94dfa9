"""The NumPy network's gradients and optimizer steps, checked numerically."""

from __future__ import annotations

import numpy as np
import pytest

from irisfw.spec import ModelSpec
from irisfw_numpy_example import mlp


def mean_loss(network, features, labels, onehot, loss):
    _, _, logits = mlp.forward(network, features)
    row_losses, _ = mlp.loss_and_gradient(logits, labels, onehot, loss)
    return row_losses.mean()


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_gradients_match_finite_differences(activation, loss):
    rng = np.random.default_rng(3)
    spec = ModelSpec(hidden_layers=(5, 4), activation=activation, loss=loss)
    network = mlp.init_network(spec, 3, 3, rng)
    features = rng.normal(size=(7, 3))
    labels = rng.integers(0, 3, size=7)
    onehot = np.eye(3)[labels]

    inputs, outputs, logits = mlp.forward(network, features)
    _, logits_gradient = mlp.loss_and_gradient(logits, labels, onehot, loss)
    gradients = mlp.backward(network, inputs, outputs, logits_gradient)

    step = 1e-6
    for parameter, gradient in zip(network.parameters(), gradients, strict=True):
        numeric = np.zeros_like(parameter)
        for index in np.ndindex(parameter.shape):
            original = parameter[index]
            parameter[index] = original + step
            upper = mean_loss(network, features, labels, onehot, loss)
            parameter[index] = original - step
            lower = mean_loss(network, features, labels, onehot, loss)
            parameter[index] = original
            numeric[index] = (upper - lower) / (2 * step)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-8)


def test_sgd_step_is_plain_gradient_descent():
    parameter = np.array([1.0, -2.0])
    gradient = np.array([0.5, 0.25])

    mlp.Sgd(0.1).step([parameter], [gradient])

    np.testing.assert_allclose(parameter, [0.95, -2.025])


def test_adam_first_step_moves_by_learning_rate():
    parameter = np.array([1.0, -2.0, 3.0])
    gradient = np.array([0.5, -4.0, 1e-3])
    adam = mlp.Adam(0.01, [parameter])

    adam.step([parameter], [gradient])

    # After bias correction the first step is lr * g / (|g| + eps).
    expected = np.array([1.0, -2.0, 3.0]) - 0.01 * gradient / (
        np.abs(gradient) + mlp.ADAM_EPSILON
    )
    np.testing.assert_allclose(parameter, expected, rtol=1e-12)


def test_adam_second_step_uses_bias_corrected_moments():
    parameter = np.array([0.0])
    adam = mlp.Adam(0.1, [parameter])
    adam.step([parameter], [np.array([1.0])])
    adam.step([parameter], [np.array([3.0])])

    first = (0.9 * 0.1 * 1.0 + 0.1 * 3.0) / (1 - 0.9**2)
    second = (0.999 * 0.001 * 1.0 + 0.001 * 9.0) / (1 - 0.999**2)
    after_first_step = -0.1 * 1.0 / (1.0 + 1e-8)
    expected = after_first_step - 0.1 * first / (np.sqrt(second) + 1e-8)
    np.testing.assert_allclose(parameter, [expected], rtol=1e-10)


def test_he_init_for_relu_and_glorot_for_output():
    spec = ModelSpec(hidden_layers=(400,), activation="relu")
    network = mlp.init_network(spec, 100, 300, np.random.default_rng(0))

    hidden, output = network.weights
    assert np.abs(hidden).max() <= np.sqrt(6 / 100)
    assert np.abs(hidden).max() > 0.95 * np.sqrt(6 / 100)
    assert np.abs(output).max() <= np.sqrt(6 / 700)
    assert all((bias == 0).all() for bias in network.biases)


@pytest.mark.parametrize(
    ("batch_size", "steps_per_epoch"), [(16, 7), (100, 2), (None, 1), (500, 1)]
)
def test_steps_per_epoch(iris_data, batch_size, steps_per_epoch):
    spec = ModelSpec(epochs=3, batch_size=batch_size)

    model = mlp.fit(iris_data, spec)

    # Iris has 105 training rows with the default 30% test split.
    assert model.details["optimizer_steps"] == 3 * steps_per_epoch
    assert model.details["batch_size"] == min(batch_size or 105, 105)


def test_training_reaches_iris_accuracy(iris_data):
    model = mlp.fit(iris_data, ModelSpec(epochs=100))

    predicted = model.predict_proba(iris_data.x_test).argmax(axis=1)
    assert (predicted == iris_data.y_test).mean() >= 0.9
    assert model.history[-1].loss < model.history[0].loss


def test_load_rejects_wrong_shapes(iris_data, tmp_path):
    model = mlp.fit(iris_data, ModelSpec(epochs=1))
    model.save(tmp_path)

    with pytest.raises(ValueError, match=r"weights_0 has shape \(4, 16\), expected"):
        mlp.load(tmp_path, ModelSpec(hidden_layers=(16,)), n_features=5, n_classes=3)
    with pytest.raises(ValueError, match="contains arrays"):
        mlp.load(tmp_path, ModelSpec(hidden_layers=(16, 16)), n_features=4, n_classes=3)
