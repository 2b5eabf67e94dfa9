"""Train the default irisfw spec on Iris with low-level TensorFlow, without irisfw.

The spec: one hidden layer of 16 ReLU units, Adam with learning rate 0.01,
betas 0.9 and 0.999 and epsilon 1e-8 (written out in TensorFlow ops), 100
epochs, batches of 16, cross-entropy, seed 0, on the split that
``iris_split`` builds. The weights are ``tf.Variable`` objects trained with
``GradientTape``, without Keras. Prints one JSON line with the import, fit
and predict times and the test accuracy. Run it as
``python benchmarks/plain/iris_tensorflow.py``.
``benchmarks/tensorflow_backend.py`` times ``train_step_loop`` against the
tensorflow backend's fit.
"""

import time

started = time.perf_counter()

import math  # noqa: E402
import os  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

# Hide TensorFlow's C++ start-up log lines, as the irisfw backend does.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from iris_split import load_split, report  # noqa: E402

imported = time.perf_counter()


class PlainModel:
    """ReLU hidden layers and a linear output layer, He and Glorot uniform weights."""

    def __init__(
        self, n_features: int, hidden_layers: tuple[int, ...], n_classes: int, seed: int
    ) -> None:
        generator = tf.random.Generator.from_seed(seed)
        sizes = [n_features, *hidden_layers, n_classes]
        self.weights = []
        self.biases = []
        for index in range(len(sizes) - 1):
            fan_in, fan_out = sizes[index], sizes[index + 1]
            is_output = index == len(sizes) - 2
            limit = math.sqrt(6 / (fan_in + fan_out) if is_output else 6 / fan_in)
            initial = generator.uniform((fan_in, fan_out), -limit, limit)
            self.weights.append(tf.Variable(initial))
            self.biases.append(tf.Variable(tf.zeros([fan_out])))
        self.variables = self.weights + self.biases

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        for weight, bias in zip(self.weights[:-1], self.biases[:-1], strict=True):
            x = tf.nn.relu(x @ weight + bias)
        return x @ self.weights[-1] + self.biases[-1]


class PlainAdam:
    """Adam written out in TensorFlow ops, with the bias-corrected step size."""

    def __init__(self, variables: list[tf.Variable], learning_rate: float) -> None:
        self.variables = variables
        self.learning_rate = learning_rate
        self.step = tf.Variable(0.0)
        self.m = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v)) for v in variables]

    def apply(self, gradients: list[tf.Tensor]) -> None:
        step = self.step.assign_add(1.0)
        rate = self.learning_rate * tf.sqrt(1 - 0.999**step) / (1 - 0.9**step)
        for variable, gradient, m, v in zip(
            self.variables, gradients, self.m, self.v, strict=True
        ):
            m.assign(0.9 * m + 0.1 * gradient)
            v.assign(0.999 * v + 0.001 * tf.square(gradient))
            variable.assign_sub(rate * m / (tf.sqrt(v) + 1e-8))


def make_train_step(model: PlainModel, optimizer: PlainAdam) -> Callable[..., Any]:
    def train_step(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            logits = model(x)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )
        optimizer.apply(tape.gradient(loss, model.variables))
        predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
        return loss, tf.reduce_sum(tf.cast(predicted == y, tf.int32))

    return train_step


def train_step_loop(
    x_train: np.ndarray,
    y_train: np.ndarray,
    n_classes: int,
    *,
    hidden_layers: tuple[int, ...] = (16,),
    learning_rate: float = 0.01,
    epochs: int = 100,
    batch_size: int | None = 16,
    seed: int = 0,
) -> tuple[PlainModel, list[tuple[float, float]]]:
    """Train with a per-batch ``tf.function`` step fed by ``tf.data``.

    This is the loop of TensorFlow's custom-training guide. Returns the model
    and the loss and training accuracy of each epoch.
    """
    model = PlainModel(x_train.shape[1], hidden_layers, n_classes, seed)
    optimizer = PlainAdam(model.variables, learning_rate)
    train_step = tf.function(make_train_step(model, optimizer), reduce_retracing=True)
    rows = len(y_train)
    dataset = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train.astype(np.int32)))
        .shuffle(rows, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size or rows)
    )
    history = []
    for _ in range(epochs):
        # Tensors accumulate the epoch's figures, so no batch waits for a
        # conversion to Python.
        loss_sum, correct = tf.constant(0.0), tf.constant(0)
        for x, y in dataset:
            loss, batch_correct = train_step(x, y)
            loss_sum += loss * tf.cast(tf.shape(x)[0], tf.float32)
            correct += batch_correct
        history.append((float(loss_sum) / rows, int(correct) / rows))
    return model, history


def main() -> None:
    x_train, x_test, y_train, y_test = load_split()
    start = time.perf_counter()
    model, _ = train_step_loop(x_train, y_train, n_classes=3)
    fit_seconds = time.perf_counter() - start

    start = time.perf_counter()
    probabilities = tf.nn.softmax(model(tf.constant(x_test))).numpy()
    predict_seconds = time.perf_counter() - start
    accuracy = float((probabilities.argmax(axis=1) == y_test).mean())
    report(
        "tensorflow",
        started,
        imported,
        fit_seconds,
        predict_seconds,
        accuracy,
        x_train,
        x_test,
    )


if __name__ == "__main__":
    main()
