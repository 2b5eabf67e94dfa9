"""The backend class that irisfw instantiates. This module does not import numpy.

The training code lives in ``irisfw_numpy_example.mlp``, which imports numpy
at its top, so ``fit`` and ``load`` import that module only when they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irisfw.backends import Backend, FittedModel

if TYPE_CHECKING:
    from pathlib import Path

    from irisfw.prepare import PreparedData
    from irisfw.spec import ModelSpec


class NumpyBackend(Backend):
    """Trains a ModelSpec with plain NumPy arrays and hand-written backpropagation.

    Every ModelSpec value is supported, so ``check_spec`` is not overridden,
    and the backend has no options.
    """

    name = "numpy"
    toolkit = "numpy"
    toolkit_module = "numpy"
    description = "From-scratch NumPy multilayer perceptron (irisfw example plugin)"

    def fit(self, data: PreparedData, spec: ModelSpec) -> FittedModel:
        from irisfw_numpy_example import mlp

        return mlp.fit(data, spec)

    def load(
        self, directory: Path, spec: ModelSpec, *, n_features: int, n_classes: int
    ) -> FittedModel:
        from irisfw_numpy_example import mlp

        return mlp.load(directory, spec, n_features=n_features, n_classes=n_classes)
