"""Backends that misbehave in one way each, beside healthy backends."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from irisfw import hookimpl
from irisfw.backends import Backend, FittedModel


class ConstantModel(FittedModel):
    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        proba = np.zeros((len(features), self.n_classes))
        proba[:, 0] = 1.0
        return proba


class ConstantBackend(Backend):
    """Always predicts the first class: a fast, valid, bad model."""

    name = "constant"
    toolkit = "numpy"

    def fit(self, data, spec):
        return ConstantModel(data.n_classes)


class FailingBackend(Backend):
    """Raises inside fit."""

    name = "failing"
    toolkit = "numpy"

    def fit(self, data, spec):
        raise RuntimeError("deliberate failure in fit")


class BadShapeModel(FittedModel):
    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return np.full((len(features), 2), 0.5)


class BadShapeBackend(Backend):
    """Returns probabilities with the wrong number of columns."""

    name = "badshape"
    toolkit = "numpy"

    def fit(self, data, spec):
        return BadShapeModel()


@hookimpl
def irisfw_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(ConstantBackend)
    register(FailingBackend)
    register(BadShapeBackend)
