"""The network, optimizers and training loop, written with TensorFlow alone.

This module imports tensorflow, so only ``TensorFlowBackend.fit`` imports it,
after ``irisfw_tensorflow.logs`` has set up TensorFlow's log output. It uses
no Keras: the weights and biases are ``tf.Variable``s, gradients come from
``tf.GradientTape``, and Adam and SGD call TensorFlow's fused training
kernels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from irisfw.backends import report_epoch

if TYPE_CHECKING:
    from irisfw.prepare import PreparedData
    from irisfw.spec import ModelSpec

ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "relu": tf.nn.relu,
    "tanh": tf.math.tanh,
    "logistic": tf.math.sigmoid,
}
# He initialisation keeps the activation variance of ReLU layers. Glorot
# initialisation suits the symmetric, saturating tanh and logistic functions.
HIDDEN_INITIALISATION = {
    "relu": "he_uniform",
    "tanh": "glorot_uniform",
    "logistic": "glorot_uniform",
}
OUTPUT_INITIALISATION = "glorot_uniform"

ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-8


def initialisation_schemes(activation: str, hidden_layer_count: int) -> list[str]:
    """Return the weight initialisation of each layer, output layer last."""
    return [HIDDEN_INITIALISATION[activation]] * hidden_layer_count + [
        OUTPUT_INITIALISATION
    ]


def uniform_limit(scheme: str, fan_in: int, fan_out: int) -> float:
    """Return the bound of the uniform distribution of an initialisation scheme."""
    if scheme == "he_uniform":
        return math.sqrt(6.0 / fan_in)
    if scheme == "glorot_uniform":
        return math.sqrt(6.0 / (fan_in + fan_out))
    raise ValueError(f"unknown initialisation scheme {scheme!r}")


class Network(tf.Module):
    """Fully connected layers: hidden layers with one activation, then logits.

    Weights are drawn from ``generator`` and biases start at zero.
    """

    def __init__(
        self,
        n_features: int,
        hidden_layers: tuple[int, ...],
        n_classes: int,
        activation: str,
        generator: tf.random.Generator,
    ) -> None:
        super().__init__(name="network")
        self.n_features = n_features
        self.activation = ACTIVATIONS[activation]

        sizes = [n_features, *hidden_layers, n_classes]
        schemes = initialisation_schemes(activation, len(hidden_layers))
        self.weights: list[tf.Variable] = []
        self.biases: list[tf.Variable] = []
        for index, (fan_in, fan_out) in enumerate(pairwise(sizes)):
            limit = uniform_limit(schemes[index], fan_in, fan_out)
            initial = generator.uniform(
                (fan_in, fan_out), minval=-limit, maxval=limit, dtype=tf.float32
            )
            self.weights.append(tf.Variable(initial, name=f"weight_{index}"))
            self.biases.append(tf.Variable(tf.zeros([fan_out]), name=f"bias_{index}"))

        self._probabilities = tf.function(
            self.probabilities,
            input_signature=[tf.TensorSpec([None, n_features], tf.float32)],
        )

    @property
    def parameters(self) -> list[tf.Variable]:
        return [*self.weights, *self.biases]

    def logits(self, features: tf.Tensor) -> tf.Tensor:
        hidden = features
        for weight, bias in zip(self.weights[:-1], self.biases[:-1], strict=True):
            hidden = self.activation(tf.matmul(hidden, weight) + bias)
        return tf.matmul(hidden, self.weights[-1]) + self.biases[-1]

    def probabilities(self, features: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(self.logits(features))

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Return softmax probabilities as a float32 array of shape (rows, classes)."""
        array = np.asarray(features, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.n_features:
            raise ValueError(
                f"expected features of shape (rows, {self.n_features}),"
                f" got {array.shape}"
            )
        return self._probabilities(tf.constant(array)).numpy()


class Adam(tf.Module):
    """Adam with TensorFlow's fused ``ResourceApplyAdam`` kernel.

    Per variable and step t the kernel computes
    ``lr_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``,
    ``m = beta_1 * m + (1 - beta_1) * g``, ``v = beta_2 * v + (1 - beta_2) * g**2``
    and ``w -= lr_t * m / (sqrt(v) + epsilon)``, the update that Keras 3 and
    scikit-learn's MLP use too.
    """

    def __init__(self, variables: list[tf.Variable], learning_rate: float) -> None:
        super().__init__(name="adam")
        self.variables_to_train = variables
        self.iterations = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="iterations"
        )
        self.m = [_zeros_like(variable, "m") for variable in variables]
        self.v = [_zeros_like(variable, "v") for variable in variables]
        self.learning_rate = tf.constant(learning_rate, tf.float32)
        self.beta_1 = tf.constant(ADAM_BETA_1, tf.float32)
        self.beta_2 = tf.constant(ADAM_BETA_2, tf.float32)
        self.epsilon = tf.constant(ADAM_EPSILON, tf.float32)

    def apply_gradients(self, gradients: list[tf.Tensor]) -> None:
        step = tf.cast(self.iterations.assign_add(1), tf.float32)
        beta_1_power = tf.pow(self.beta_1, step)
        beta_2_power = tf.pow(self.beta_2, step)
        for variable, gradient, m, v in zip(
            self.variables_to_train, gradients, self.m, self.v, strict=True
        ):
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle,
                m=m.handle,
                v=v.handle,
                beta1_power=beta_1_power,
                beta2_power=beta_2_power,
                lr=self.learning_rate,
                beta1=self.beta_1,
                beta2=self.beta_2,
                epsilon=self.epsilon,
                grad=gradient,
            )


class SGD(tf.Module):
    """Plain gradient descent, ``w -= lr * g``, without momentum."""

    def __init__(self, variables: list[tf.Variable], learning_rate: float) -> None:
        super().__init__(name="sgd")
        self.variables_to_train = variables
        self.iterations = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="iterations"
        )
        self.learning_rate = tf.constant(learning_rate, tf.float32)

    def apply_gradients(self, gradients: list[tf.Tensor]) -> None:
        self.iterations.assign_add(1)
        for variable, gradient in zip(self.variables_to_train, gradients, strict=True):
            tf.raw_ops.ResourceApplyGradientDescent(
                var=variable.handle, alpha=self.learning_rate, delta=gradient
            )


Optimizer = Adam | SGD
OPTIMIZERS: dict[str, type[Optimizer]] = {"adam": Adam, "sgd": SGD}


def _zeros_like(variable: tf.Variable, slot: str) -> tf.Variable:
    name = f"{variable.name.split(':')[0]}_{slot}"
    return tf.Variable(tf.zeros_like(variable), trainable=False, name=name)


def cross_entropy(logits: tf.Tensor, labels: tf.Tensor, n_classes: int) -> tf.Tensor:
    """Mean softmax cross-entropy over the rows, computed from the logits."""
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    )


def mean_squared_error(
    logits: tf.Tensor, labels: tf.Tensor, n_classes: int
) -> tf.Tensor:
    """Mean over rows and classes of (softmax output - one-hot label) squared."""
    targets = tf.one_hot(labels, n_classes, dtype=tf.float32)
    return tf.reduce_mean(tf.square(tf.nn.softmax(logits) - targets))


LOSSES: dict[str, Callable[[tf.Tensor, tf.Tensor, int], tf.Tensor]] = {
    "cross_entropy": cross_entropy,
    "mse": mean_squared_error,
}


def configure_runtime(threads: int | None, seed: int) -> list[str]:
    """Set thread pools, the global seed and op determinism, returning warnings.

    TensorFlow accepts thread counts only before its runtime starts, which is
    the first time it runs an op in the process.
    """
    warnings = []
    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError as exc:
            warnings.append(
                f"option threads={threads} was not applied because TensorFlow's"
                f" runtime had already started in this process ({exc}); the thread"
                " counts in details are the ones in effect"
            )
    tf.random.set_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return warnings


@dataclass
class TrainingRun:
    """A trained network with its optimizer and per-epoch training figures."""

    network: Network
    optimizer: Optimizer
    initialisation: list[str]
    losses: list[float]
    accuracies: list[float]
    batch_size: int
    steps_per_epoch: int
    traces: int


def train(data: PreparedData, spec: ModelSpec) -> TrainingRun:
    """Train a new network on the training rows of ``data`` as ``spec`` describes."""
    generator = tf.random.Generator.from_seed(spec.seed)
    init_generator, shuffle_generator = generator.split(2)
    network = Network(
        n_features=data.n_features,
        hidden_layers=spec.hidden_layers,
        n_classes=data.n_classes,
        activation=spec.activation,
        generator=init_generator,
    )
    optimizer = OPTIMIZERS[spec.optimizer](network.parameters, spec.learning_rate)
    rows = len(data.y_train)
    batch_size = rows if spec.batch_size is None else min(spec.batch_size, rows)
    train_epoch = build_epoch_function(
        network,
        optimizer,
        LOSSES[spec.loss],
        features=tf.constant(data.x_train, dtype=tf.float32),
        labels=tf.constant(data.y_train, dtype=tf.int32),
        n_classes=data.n_classes,
        batch_size=batch_size,
        shuffle_generator=shuffle_generator,
    )

    epoch_results = []
    for epoch in range(1, spec.epochs + 1):
        epoch_results.append(train_epoch())
        report_epoch(epoch, spec.epochs)
    losses = tf.stack([loss for loss, _ in epoch_results]).numpy()
    correct_counts = tf.stack([correct for _, correct in epoch_results]).numpy()
    return TrainingRun(
        network=network,
        optimizer=optimizer,
        initialisation=initialisation_schemes(spec.activation, len(spec.hidden_layers)),
        losses=[float(loss) for loss in losses],
        accuracies=[int(correct) / rows for correct in correct_counts],
        batch_size=batch_size,
        steps_per_epoch=math.ceil(rows / batch_size),
        traces=int(train_epoch.experimental_get_tracing_count()),
    )


def build_epoch_function(
    network: Network,
    optimizer: Optimizer,
    loss_function: Callable[[tf.Tensor, tf.Tensor, int], tf.Tensor],
    *,
    features: tf.Tensor,
    labels: tf.Tensor,
    n_classes: int,
    batch_size: int,
    shuffle_generator: tf.random.Generator,
) -> Any:
    """Return a ``tf.function`` that trains one epoch and returns (loss, correct).

    Its graph shuffles the row indices and loops over the mini-batches, so the
    data stays in tensors and Python runs once per epoch, not once per batch.
    ``loss`` is the mean training loss over the rows and ``correct`` counts the
    rows whose prediction before their step was right.
    """
    rows = int(labels.shape[0])

    def train_step(
        batch_features: tf.Tensor, batch_labels: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            logits = network.logits(batch_features)
            loss = loss_function(logits, batch_labels, n_classes)
        gradients = tape.gradient(loss, network.parameters)
        optimizer.apply_gradients(gradients)
        predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
        correct = tf.reduce_sum(tf.cast(tf.equal(predicted, batch_labels), tf.int32))
        return loss, correct

    # No arguments and an empty input_signature: the function is traced once,
    # and the last, smaller batch of an epoch is a dynamic shape in the graph.
    @tf.function(input_signature=[])
    def train_epoch() -> tuple[tf.Tensor, tf.Tensor]:
        seed = shuffle_generator.make_seeds(1)[:, 0]
        order = tf.random.experimental.stateless_shuffle(tf.range(rows), seed=seed)
        loss_sum = tf.constant(0.0)
        correct = tf.constant(0)
        for start in tf.range(0, rows, batch_size):
            index = order[start : start + batch_size]
            batch_loss, batch_correct = train_step(
                tf.gather(features, index), tf.gather(labels, index)
            )
            loss_sum += batch_loss * tf.cast(tf.size(index), tf.float32)
            correct += batch_correct
        return loss_sum / rows, correct

    return train_epoch


CHECKPOINT_PREFIX = "checkpoint"


def save_network(network: Network, directory: Path) -> None:
    """Write the weights and biases as a TensorFlow checkpoint (tensors only)."""
    tf.train.Checkpoint(network=network).write(str(directory / CHECKPOINT_PREFIX))


def load_network(
    directory: Path, spec: ModelSpec, n_features: int, n_classes: int
) -> Network:
    """Rebuild the network for ``spec`` and restore its saved variables."""
    network = Network(
        n_features=n_features,
        hidden_layers=spec.hidden_layers,
        n_classes=n_classes,
        activation=spec.activation,
        generator=tf.random.Generator.from_seed(0),
    )
    checkpoint = tf.train.Checkpoint(network=network)
    checkpoint.read(str(directory / CHECKPOINT_PREFIX)).assert_consumed()
    return network


def runtime_details(network: Network) -> dict[str, Any]:
    """Return TensorFlow's version, devices and thread pool sizes as JSON values."""
    return {
        "tensorflow_version": tf.__version__,
        "devices": [device.name for device in tf.config.list_logical_devices()],
        "variable_device": network.weights[0].device,
        # 0 means TensorFlow picks the number of threads itself.
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "op_determinism": True,
    }
