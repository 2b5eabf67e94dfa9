"""A multilayer perceptron in NumPy: forward pass, backpropagation, Adam and SGD.

This module imports numpy, so only ``NumpyBackend.fit`` and ``load`` import
it. How the ModelSpec maps onto the code:

- ``hidden_layers`` and ``activation``: one weight matrix of shape
  (inputs, units) and one bias vector per hidden layer, followed by relu,
  tanh or the logistic sigmoid, then an output layer that produces logits.
  ``predict_proba`` applies the softmax to the logits.
- Weights are drawn from ``np.random.default_rng(spec.seed)``: He uniform,
  U(-sqrt(6 / fan_in), sqrt(6 / fan_in)), for relu layers, and Glorot
  uniform, U(-sqrt(6 / (fan_in + fan_out)), ...), for tanh and logistic
  layers and for the output layer. Biases start at 0.
- ``cross_entropy`` is the mean over rows of -log softmax(logits)[label].
  ``mse`` is the mean over rows and classes of (softmax(logits) - one-hot)^2.
- ``adam`` uses beta1=0.9, beta2=0.999 and epsilon=1e-8 with bias correction,
  as torch.optim.Adam does. ``sgd`` is plain gradient descent without
  momentum. Neither adds weight decay.
- Each epoch permutes the training rows with the same generator that drew
  the weights and takes one step per ``batch_size`` rows. The last batch
  contains the remaining rows. ``batch_size=None``, or a batch size of at least the
  number of rows, takes one full-batch step per epoch without shuffling.

Everything is computed in float64, so results do not depend on the float32
rounding of the prepared data beyond its first conversion.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from irisfw.backends import EpochRecord, FittedModel, report_epoch, verbose

if TYPE_CHECKING:
    from pathlib import Path

    from irisfw.prepare import PreparedData
    from irisfw.spec import ModelSpec

logger = logging.getLogger(__name__)

ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-8
WEIGHTS_FILE = "weights.npz"


@dataclass
class Network:
    """Weights and biases of each layer, input side first, output layer last."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str

    def parameters(self) -> list[np.ndarray]:
        """Return every parameter array in a fixed order: weights, then biases."""
        return [*self.weights, *self.biases]


def layer_sizes(spec: ModelSpec, n_features: int, n_classes: int) -> list[int]:
    return [n_features, *spec.hidden_layers, n_classes]


def init_network(
    spec: ModelSpec, n_features: int, n_classes: int, rng: np.random.Generator
) -> Network:
    """Draw He or Glorot uniform weights and zero biases for ``spec``."""
    sizes = layer_sizes(spec, n_features, n_classes)
    output_layer = len(sizes) - 2
    weights = []
    biases = []
    for index, (fan_in, fan_out) in enumerate(pairwise(sizes)):
        if index < output_layer and spec.activation == "relu":
            limit = math.sqrt(6 / fan_in)
        else:
            limit = math.sqrt(6 / (fan_in + fan_out))
        weights.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)))
        biases.append(np.zeros(fan_out))
    return Network(weights, biases, spec.activation)


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    # logistic: 1 / (1 + exp(-z)), written with logaddexp so that a large
    # negative z does not overflow exp.
    return np.exp(-np.logaddexp(0.0, -z))


def activation_derivative(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Return d activation / d z, from the layer's input ``z`` and output ``a``."""
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "tanh":
        return 1.0 - a**2
    return a * (1.0 - a)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def forward(
    network: Network, features: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Return each hidden layer's input and output, and the logits.

    The outputs start with ``features`` itself, so ``outputs[i]`` is the input
    of layer ``i``.
    """
    inputs: list[np.ndarray] = []
    outputs = [features]
    for weights, biases in zip(network.weights[:-1], network.biases[:-1], strict=True):
        z = outputs[-1] @ weights + biases
        inputs.append(z)
        outputs.append(activate(network.activation, z))
    logits = outputs[-1] @ network.weights[-1] + network.biases[-1]
    return inputs, outputs, logits


def loss_and_gradient(
    logits: np.ndarray, labels: np.ndarray, onehot: np.ndarray, loss: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return the loss of each row and the gradient of their mean w.r.t. the logits."""
    rows = len(logits)
    probabilities = softmax(logits)
    if loss == "cross_entropy":
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        row_losses = -log_probabilities[np.arange(rows), labels]
        return row_losses, (probabilities - onehot) / rows

    # mse: mean over rows and classes of (p - y)^2. The gradient w.r.t. the
    # probabilities goes through the softmax Jacobian, diag(p) - p p^T.
    difference = probabilities - onehot
    row_losses = (difference**2).mean(axis=1)
    gradient = 2.0 * difference / difference.size
    weighted = (gradient * probabilities).sum(axis=1, keepdims=True)
    return row_losses, probabilities * (gradient - weighted)


def backward(
    network: Network,
    inputs: list[np.ndarray],
    outputs: list[np.ndarray],
    logits_gradient: np.ndarray,
) -> list[np.ndarray]:
    """Backpropagate the logits gradient to every weight and bias.

    Returns the gradients in the order of ``Network.parameters``.
    """
    layers = len(network.weights)
    weight_gradients: list[np.ndarray] = [np.empty(0)] * layers
    bias_gradients: list[np.ndarray] = [np.empty(0)] * layers
    delta = logits_gradient
    for index in reversed(range(layers)):
        weight_gradients[index] = outputs[index].T @ delta
        bias_gradients[index] = delta.sum(axis=0)
        if index > 0:
            upstream = delta @ network.weights[index].T
            delta = upstream * activation_derivative(
                network.activation, inputs[index - 1], outputs[index]
            )
    return [*weight_gradients, *bias_gradients]


class Sgd:
    """Plain gradient descent: parameter -= learning_rate * gradient."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate

    def step(self, parameters: list[np.ndarray], gradients: list[np.ndarray]) -> None:
        for parameter, gradient in zip(parameters, gradients, strict=True):
            parameter -= self.learning_rate * gradient


class Adam:
    """Adam with bias-corrected moment estimates, updating parameters in place."""

    def __init__(self, learning_rate: float, parameters: list[np.ndarray]) -> None:
        self.learning_rate = learning_rate
        self.steps = 0
        self.first_moments = [np.zeros_like(parameter) for parameter in parameters]
        self.second_moments = [np.zeros_like(parameter) for parameter in parameters]

    def step(self, parameters: list[np.ndarray], gradients: list[np.ndarray]) -> None:
        self.steps += 1
        first_correction = 1.0 - ADAM_BETA1**self.steps
        second_correction = 1.0 - ADAM_BETA2**self.steps
        for parameter, gradient, first, second in zip(
            parameters,
            gradients,
            self.first_moments,
            self.second_moments,
            strict=True,
        ):
            first *= ADAM_BETA1
            first += (1.0 - ADAM_BETA1) * gradient
            second *= ADAM_BETA2
            second += (1.0 - ADAM_BETA2) * gradient**2
            corrected_first = first / first_correction
            corrected_second = second / second_correction
            parameter -= (
                self.learning_rate
                * corrected_first
                / (np.sqrt(corrected_second) + ADAM_EPSILON)
            )


class NumpyModel(FittedModel):
    """A trained network; predicts with one forward pass and a softmax."""

    def __init__(self, network: Network, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.network = network

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        _, _, logits = forward(self.network, np.asarray(features, dtype=np.float64))
        return softmax(logits)

    def save(self, directory: Path) -> None:
        """Write the weights and biases as plain float64 arrays in one .npz file."""
        arrays = {}
        for index, (weights, biases) in enumerate(
            zip(self.network.weights, self.network.biases, strict=True)
        ):
            arrays[f"weights_{index}"] = weights
            arrays[f"biases_{index}"] = biases
        np.savez(directory / WEIGHTS_FILE, **arrays)


def load(
    directory: Path, spec: ModelSpec, *, n_features: int, n_classes: int
) -> NumpyModel:
    """Read the arrays that ``NumpyModel.save`` wrote, checking every shape.

    ``allow_pickle=False`` makes numpy reject object arrays, so loading runs
    no code from the file.
    """
    path = directory / WEIGHTS_FILE
    sizes = layer_sizes(spec, n_features, n_classes)
    expected = {}
    for index, (fan_in, fan_out) in enumerate(pairwise(sizes)):
        expected[f"weights_{index}"] = (fan_in, fan_out)
        expected[f"biases_{index}"] = (fan_out,)
    with np.load(path, allow_pickle=False) as archive:
        found = set(archive.files)
        if found != set(expected):
            raise ValueError(
                f"{path} contains arrays {sorted(found)}, expected {sorted(expected)}"
                f" for layer sizes {sizes}"
            )
        arrays = {name: archive[name] for name in expected}
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise ValueError(
                f"{path}: array {name} has shape {arrays[name].shape}, expected"
                f" {shape} for layer sizes {sizes}"
            )
    layers = len(sizes) - 1
    network = Network(
        weights=[
            arrays[f"weights_{index}"].astype(np.float64) for index in range(layers)
        ],
        biases=[
            arrays[f"biases_{index}"].astype(np.float64) for index in range(layers)
        ],
        activation=spec.activation,
    )
    return NumpyModel(network)


def fit(data: PreparedData, spec: ModelSpec) -> NumpyModel:
    """Initialise a network for ``spec``, train it on the training rows, return it."""
    rng = np.random.default_rng(spec.seed)
    network = init_network(spec, data.n_features, data.n_classes, rng)
    parameters = network.parameters()
    optimizer = (
        Adam(spec.learning_rate, parameters)
        if spec.optimizer == "adam"
        else Sgd(spec.learning_rate)
    )
    features = np.asarray(data.x_train, dtype=np.float64)
    labels = np.asarray(data.y_train)
    onehot = np.asarray(data.y_train_onehot, dtype=np.float64)
    rows = len(labels)
    batch_size = rows if spec.batch_size is None else min(spec.batch_size, rows)
    log_epochs = verbose()

    history = []
    steps = 0
    for epoch in range(1, spec.epochs + 1):
        order = np.arange(rows) if batch_size == rows else rng.permutation(rows)
        loss_sum = 0.0
        correct = 0
        for start in range(0, rows, batch_size):
            batch = order[start : start + batch_size]
            inputs, outputs, logits = forward(network, features[batch])
            row_losses, logits_gradient = loss_and_gradient(
                logits, labels[batch], onehot[batch], spec.loss
            )
            gradients = backward(network, inputs, outputs, logits_gradient)
            optimizer.step(parameters, gradients)
            steps += 1
            loss_sum += float(row_losses.sum())
            correct += int((logits.argmax(axis=1) == labels[batch]).sum())
        # The loss and accuracy of each batch are measured before its step,
        # as the torch backend measures them.
        record = EpochRecord(epoch=epoch, loss=loss_sum / rows, accuracy=correct / rows)
        history.append(record)
        report_epoch(epoch, spec.epochs)
        if log_epochs:
            logger.debug(
                "numpy epoch %d/%d: loss %.4f, training accuracy %.3f",
                epoch,
                spec.epochs,
                record.loss,
                record.accuracy,
            )

    details = {
        "numpy_version": np.__version__,
        "batch_size": batch_size,
        "optimizer_steps": steps,
        "parameters": sum(parameter.size for parameter in parameters),
    }
    return NumpyModel(network, history=history, details=details)
