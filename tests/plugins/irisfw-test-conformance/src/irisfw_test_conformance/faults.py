"""Backends that each break one conformance rule; everything else is correct.

Each one subclasses the NumPy example backend, so a conformance run fails
exactly the check that its fault breaks. numpy is imported inside methods,
as a plugin module must.
"""

from __future__ import annotations

import os

from irisfw import hookimpl
from irisfw.backends import FittedModel
from irisfw.errors import SpecError
from irisfw_numpy_example.backend import NumpyBackend


class WrappedModel(FittedModel):
    """Delegates to a trained model; subclasses change one behaviour."""

    def __init__(self, model):
        super().__init__(model.history, model.warnings, model.details)
        self.model = model

    def predict_proba(self, features):
        return self.model.predict_proba(features)

    def save(self, directory):
        self.model.save(directory)


class WrappingBackend(NumpyBackend):
    """Wraps every trained and loaded model in ``model_class``."""

    model_class = WrappedModel

    def fit(self, data, spec):
        return self.model_class(super().fit(data, spec))

    def load(self, directory, spec, *, n_features, n_classes):
        return self.model_class(
            super().load(directory, spec, n_features=n_features, n_classes=n_classes)
        )


class DroppedColumnModel(WrappedModel):
    def predict_proba(self, features):
        probabilities = self.model.predict_proba(features)[:, :-1]
        return probabilities / probabilities.sum(axis=1, keepdims=True)


class WrongShapeBackend(WrappingBackend):
    """Returns one probability column fewer than there are classes."""

    name = "wrongshape"
    model_class = DroppedColumnModel


class UnseededBackend(NumpyBackend):
    """Draws its seed from the operating system instead of spec.seed."""

    name = "unseeded"

    def fit(self, data, spec):
        seed = int.from_bytes(os.urandom(4), "little")
        return super().fit(data, spec.model_copy(update={"seed": seed}))


class IgnoresActivationBackend(NumpyBackend):
    """Trains relu whatever activation the spec names."""

    name = "ignoresactivation"

    def fit(self, data, spec):
        return super().fit(data, spec.model_copy(update={"activation": "relu"}))


class VagueRejectionBackend(NumpyBackend):
    """Rejects mse with a message that names neither the field nor the value."""

    name = "vaguerejection"

    def check_spec(self, spec):
        if spec.loss == "mse":
            raise SpecError("this is not supported")


class ShortHistoryModel(WrappedModel):
    def __init__(self, model):
        super().__init__(model)
        self.history = self.history[:-1]


class ShortHistoryBackend(WrappingBackend):
    """Records one epoch fewer than it trains."""

    name = "shorthistory"
    model_class = ShortHistoryModel


class UnsavableModel(WrappedModel):
    save = FittedModel.save


class NoSaveBackend(WrappingBackend):
    """Has no way to save its models."""

    name = "nosave"
    model_class = UnsavableModel


class LogitsModel(WrappedModel):
    def predict_proba(self, features):
        import numpy as np

        probabilities = self.model.predict_proba(features)
        return np.log(probabilities)


class LogitsBackend(WrappingBackend):
    """Returns log-probabilities instead of probabilities."""

    name = "logits"
    model_class = LogitsModel


class MisnamedToolkitBackend(NumpyBackend):
    """Names a toolkit distribution that does not exist."""

    name = "misnamedtoolkit"
    toolkit = "numpy-toolkit"


@hookimpl
def irisfw_register_backends(register):
    for backend in (
        WrongShapeBackend,
        UnseededBackend,
        IgnoresActivationBackend,
        VagueRejectionBackend,
        ShortHistoryBackend,
        NoSaveBackend,
        LogitsBackend,
        MisnamedToolkitBackend,
    ):
        register(backend)
