"""Keras 3 Sequential model trained from a ModelSpec.

How the spec maps onto Keras:

- The model is ``keras.Input``, one ``Dense`` layer per hidden layer with the
  spec's activation (``logistic`` is Keras's ``"sigmoid"``), and a ``Dense``
  output layer with softmax.
- ``cross_entropy`` is ``CategoricalCrossentropy`` on the one-hot labels. On
  the TensorFlow engine Keras computes it from the logits under the softmax.
  The torch and JAX engines compute it from the probabilities, clipped to
  [1e-7, 1 - 1e-7].
- ``mse`` is ``MeanSquaredError`` between the softmax output and the one-hot
  labels, averaged over rows and classes.
- ``adam`` is ``Adam`` with epsilon=1e-8 (the Keras default is 1e-7), and
  ``sgd`` is ``SGD`` with momentum=0.
- ``fit`` runs with ``shuffle=True`` and no validation split, so every
  training row is used in every epoch. ``batch_size=None`` passes the number
  of training rows, and larger batch sizes are clipped to it.
- ``keras.utils.set_random_seed(spec.seed)`` seeds the weights and the
  shuffling. On the TensorFlow engine, op determinism is enabled too.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import warnings
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from irisfw.backends import Backend, EpochRecord, FittedModel, report_epoch, verbose
from irisfw.errors import SpecError
from irisfw_keras.engine import (
    Engine,
    default_engine,
    import_keras,
    resolve_engine,
)

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

    import numpy as np

    from irisfw.prepare import PreparedData
    from irisfw.spec import ModelSpec

ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid"}
MODEL_FILE = "model.keras"

# Environment variables that Keras reads at import to cap epochs and batches.
TRAINING_LIMIT_VARIABLES = ("KERAS_MAX_EPOCHS", "KERAS_MAX_STEPS_PER_EPOCH")

# torch 2.13's Tensor.__array__ has no ``copy`` parameter, so NumPy 2 warns
# each time Keras's torch engine converts a tensor with np.array, which it
# does for the logs after every batch. The warning does not affect results.
TORCH_ARRAY_COPY_WARNING = re.escape(
    "__array__ implementation doesn't accept a copy keyword"
)


class KerasOptions(BaseModel):
    """Options of the Keras backend, set with ``-o keras.KEY=VALUE``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Engine | None = Field(
        default=None,
        description=(
            "Keras engine: tensorflow, torch or jax. Default: the first installed"
            " in that order."
        ),
    )


class KerasModel(FittedModel):
    """A trained Keras model plus the raw ``History.history`` of its fit."""

    def __init__(
        self,
        model: Any,
        engine: str,
        keras_history: dict[str, list[float]],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.engine = engine
        self.keras_history = keras_history

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        # Calling the model directly is faster than model.predict for a few
        # hundred rows, because predict builds a data pipeline for each call.
        import numpy as np

        inputs = np.asarray(features, dtype=np.float32)
        if self.engine == "torch":
            import torch

            with torch.no_grad():
                output = self.model(inputs, training=False)
            # Tensor.numpy() avoids np.array(tensor) and its NumPy 2 warning.
            return output.cpu().numpy()
        import keras

        return keras.ops.convert_to_numpy(self.model(inputs, training=False))

    def save(self, directory: Path) -> None:
        """Write the native ``.keras`` archive: config and weights, no pickled code."""
        self.model.save(directory / MODEL_FILE)


class KerasBackend(Backend):
    name = "keras"
    toolkit = "keras"
    description = "Keras 3 Sequential model on TensorFlow, PyTorch or JAX"
    Options = KerasOptions

    options: KerasOptions

    @property
    def engine(self) -> Engine | None:
        """Engine this backend runs on: the option, else the default, else None."""
        return self.options.engine or default_engine()

    @property
    def label(self) -> str:
        engine = self.engine
        return self.name if engine is None else f"{self.name} ({engine})"

    def check_spec(self, spec: ModelSpec) -> None:
        # Every spec value maps onto Keras. What can fail is the engine, which
        # may be missing or differ from the one Keras already runs on here, and
        # the limits that Keras reads from the environment at import.
        resolve_engine(self.options.engine)
        _check_no_training_limits(
            {name: os.environ.get(name) or None for name in TRAINING_LIMIT_VARIABLES}
        )

    def load_toolkit(self) -> None:
        """Import Keras on the chosen engine, which must happen before training."""
        import_keras(self.options.engine)

    def load(
        self, directory: Path, spec: ModelSpec, *, n_features: int, n_classes: int
    ) -> FittedModel:
        keras = import_keras(self.options.engine)
        # safe_mode refuses Lambda layers and other deserialised Python code.
        model = keras.saving.load_model(
            directory / MODEL_FILE, compile=False, safe_mode=True
        )
        shape = (model.input_shape[-1], model.output_shape[-1])
        if shape != (n_features, n_classes):
            raise ValueError(
                f"{MODEL_FILE} maps {shape[0]} features to {shape[1]} classes; the"
                f" manifest says {n_features} and {n_classes}"
            )
        return KerasModel(model, keras.backend.backend(), {})

    def fit(self, data: PreparedData, spec: ModelSpec) -> FittedModel:
        keras = import_keras(self.options.engine)
        engine = keras.backend.backend()
        _check_no_training_limits(
            {
                "KERAS_MAX_EPOCHS": keras.config.max_epochs(),
                "KERAS_MAX_STEPS_PER_EPOCH": keras.config.max_steps_per_epoch(),
            }
        )
        seed_everything(keras, engine, spec.seed)

        model = build_model(keras, spec, data.n_features, data.n_classes)
        model.compile(
            optimizer=build_optimizer(keras, spec),
            loss=build_loss(keras, spec),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
        rows = len(data.y_train)
        batch_size = rows if spec.batch_size is None else min(spec.batch_size, rows)
        history = _train(model, data, spec.epochs, batch_size)

        optimizer_steps = int(model.optimizer.iterations)
        _check_training_length(
            history, spec.epochs, optimizer_steps, math.ceil(rows / batch_size)
        )
        details = {
            "engine": engine,
            "engine_version": _engine_version(engine),
            "device": _device(model),
            "floatx": keras.config.floatx(),
            "train_rows": rows,
            "batch_size": batch_size,
            "optimizer_steps": optimizer_steps,
            **_engine_details(engine),
        }
        return KerasModel(
            model,
            engine,
            history,
            history=_epoch_records(history),
            details=details,
        )


def seed_everything(keras: ModuleType, engine: str, seed: int) -> None:
    """Seed Python, NumPy and the engine, and make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(seed)
    if engine == "tensorflow":
        import tensorflow as tf

        # NOTE: op determinism is a process-wide TensorFlow setting and stays
        # on after this fit, also for other TensorFlow users in the process.
        tf.config.experimental.enable_op_determinism()


def build_model(keras: ModuleType, spec: ModelSpec, features: int, classes: int) -> Any:
    """Return an uncompiled Sequential model with the spec's hidden layers."""
    activation = ACTIVATIONS[spec.activation]
    layers = [keras.Input(shape=(features,))]
    layers += [
        keras.layers.Dense(units, activation=activation) for units in spec.hidden_layers
    ]
    layers.append(keras.layers.Dense(classes, activation="softmax"))
    return keras.Sequential(layers)


def build_optimizer(keras: ModuleType, spec: ModelSpec) -> Any:
    if spec.optimizer == "adam":
        return keras.optimizers.Adam(
            learning_rate=spec.learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8
        )
    return keras.optimizers.SGD(
        learning_rate=spec.learning_rate, momentum=0.0, nesterov=False
    )


def build_loss(keras: ModuleType, spec: ModelSpec) -> Any:
    if spec.loss == "cross_entropy":
        return keras.losses.CategoricalCrossentropy()
    return keras.losses.MeanSquaredError()


def _train(
    model: Any, data: PreparedData, epochs: int, batch_size: int
) -> dict[str, list[float]]:
    """Fit on every training row, reshuffled each epoch, and return History.history."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=TORCH_ARRAY_COPY_WARNING, category=DeprecationWarning
        )
        history = model.fit(
            data.x_train,
            data.y_train_onehot,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            verbose=2 if verbose() else 0,
            callbacks=[_progress_callback(epochs)],
        )
    return {
        key: [float(value) for value in values]
        for key, values in history.history.items()
    }


def _progress_callback(epochs: int) -> Any:
    """Return a Keras callback that reports each finished epoch to irisfw."""
    import keras

    return keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: report_epoch(epoch + 1, epochs)
    )


def _epoch_records(history: dict[str, list[float]]) -> list[EpochRecord]:
    return [
        EpochRecord(epoch=index + 1, loss=loss, accuracy=accuracy)
        for index, (loss, accuracy) in enumerate(
            zip(history["loss"], history["accuracy"], strict=True)
        )
    ]


def _check_no_training_limits(limits: dict[str, object]) -> None:
    """Raise SpecError if a Keras-wide limit would cut training short of the spec."""
    active = [f"{name}={value}" for name, value in limits.items() if value is not None]
    if active:
        raise SpecError(
            f"Keras limits training ({', '.join(active)}), so it would not train"
            " every epoch and batch of the spec; unset these environment variables"
        )


def _check_training_length(
    history: dict[str, list[float]],
    epochs: int,
    optimizer_steps: int,
    steps_per_epoch: int,
) -> None:
    """Raise RuntimeError unless Keras ran every epoch and every batch of the spec."""
    ran = len(history["loss"])
    expected_steps = epochs * steps_per_epoch
    if ran != epochs or optimizer_steps != expected_steps:
        raise RuntimeError(
            f"Keras trained {ran} epochs with {optimizer_steps} optimizer steps,"
            f" expected {epochs} epochs with {expected_steps} steps"
        )


def _engine_version(engine: str) -> str:
    return str(importlib.import_module(engine).__version__)


def _device(model: Any) -> str:
    """Return the device that stores the model's first weight, e.g. cpu."""
    device = getattr(model.weights[0].value, "device", None)
    if callable(device):  # some jax versions have a device() method instead
        device = device()
    return str(device)


def _engine_details(engine: str) -> dict[str, Any]:
    if engine == "tensorflow":
        return {"op_determinism": True}
    if engine == "torch":
        import torch

        return {"threads": torch.get_num_threads()}
    return {}
