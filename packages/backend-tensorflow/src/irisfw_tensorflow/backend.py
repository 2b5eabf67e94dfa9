"""A ModelSpec trained with TensorFlow's own building blocks, without Keras.

How the spec maps onto TensorFlow (the code is in ``irisfw_tensorflow.training``):

- ``hidden_layers`` and ``activation`` give ``tf.Variable`` weights drawn
  from ``tf.random.Generator.from_seed(seed)``: He uniform for relu, Glorot
  uniform for tanh and logistic and for the output layer. Biases start at 0.
- ``optimizer`` is TensorFlow's fused Adam kernel (beta1=0.9, beta2=0.999,
  epsilon=1e-8) or plain gradient descent without momentum. One optimizer
  exists per fit, so Adam's moments carry over from step to step.
- ``loss`` is ``tf.nn.sparse_softmax_cross_entropy_with_logits`` or the mean
  squared difference between the softmax output and the one-hot labels.
- ``epochs`` calls of a ``tf.function`` that reshuffles the rows and takes
  ``ceil(rows / batch_size)`` steps; ``batch_size=None`` takes one full-batch
  step per epoch.
- ``seed`` seeds the weights, the shuffling and ``tf.random.set_seed``, and
  op determinism is enabled, so one seed gives identical results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from irisfw.backends import Backend, EpochRecord, FittedModel, thread_budget
from irisfw_tensorflow import logs

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from irisfw.prepare import PreparedData
    from irisfw.spec import ModelSpec
    from irisfw_tensorflow.training import Network, Optimizer


class TensorFlowOptions(BaseModel):
    """Options of the tensorflow backend, passed as ``-o tensorflow.KEY=VALUE``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int | None = Field(
        default=None,
        gt=0,
        description=(
            "Threads for TensorFlow's intra-op and inter-op thread pools; None"
            " uses the runner's share of the CPUs, or TensorFlow's own choice when"
            " the run is not limited."
        ),
    )


class TensorFlowModel(FittedModel):
    """A trained network, its optimizer and the number of steps taken."""

    def __init__(
        self, network: Network, optimizer: Optimizer, steps: int, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.network = network
        self.optimizer = optimizer
        self.steps = steps

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.network.predict_proba(features)

    def save(self, directory: Path) -> None:
        from irisfw_tensorflow import training

        with logs.native_stderr_captured():
            training.save_network(self.network, directory)


class TensorFlowBackend(Backend):
    name = "tensorflow"
    toolkit = "tensorflow"
    description = (
        "TensorFlow tf.Variable network trained with GradientTape in a tf.function"
    )
    Options = TensorFlowOptions

    @property
    def label(self) -> str:
        threads = self.options.threads  # type: ignore[attr-defined]
        return self.name if threads is None else f"{self.name} (threads={threads})"

    def load_toolkit(self) -> None:
        """Import tensorflow with its native start-up log captured, not printed."""
        logs.set_native_log_level()
        logs.configure_python_logs()
        with logs.native_stderr_captured() as native_log:
            import tensorflow  # noqa: F401
        self._import_log = native_log

    def load(
        self, directory: Path, spec: ModelSpec, *, n_features: int, n_classes: int
    ) -> FittedModel:
        self.load_toolkit()
        with logs.native_stderr_captured():
            from irisfw_tensorflow import training

            network = training.load_network(directory, spec, n_features, n_classes)
        return TensorFlowModel(network, None, steps=0)  # type: ignore[arg-type]

    def fit(self, data: PreparedData, spec: ModelSpec) -> FittedModel:
        # Without an explicit option, use the runner's share of the CPUs.
        threads = self.options.threads or thread_budget()  # type: ignore[attr-defined]
        logs.set_native_log_level()
        logs.configure_python_logs()
        with (
            logs.native_stderr_captured() as native_log,
            logs.python_warnings_recorded() as logged_warnings,
        ):
            from irisfw_tensorflow import training

            runtime_warnings = training.configure_runtime(threads, spec.seed)
            run = training.train(data, spec)
            details = training.runtime_details(run.network)

        history = [
            EpochRecord(epoch=index + 1, loss=loss, accuracy=accuracy)
            for index, (loss, accuracy) in enumerate(
                zip(run.losses, run.accuracies, strict=True)
            )
        ]
        details.update(
            {
                "initialisation": run.initialisation,
                "batch_size": run.batch_size,
                "steps_per_epoch": run.steps_per_epoch,
                "optimizer_iterations": int(run.optimizer.iterations.numpy()),
                "epoch_function_traces": run.traces,
            }
        )
        native_log = [*getattr(self, "_import_log", []), *native_log]
        if native_log:
            details["native_log"] = native_log
        return TensorFlowModel(
            run.network,
            run.optimizer,
            steps=spec.epochs * run.steps_per_epoch,
            history=history,
            warnings=[*runtime_warnings, *logged_warnings],
            details=details,
        )
