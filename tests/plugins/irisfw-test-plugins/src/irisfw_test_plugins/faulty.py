"""Backends that misbehave in one way each, beside healthy backends."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from irisfw import hookimpl
from irisfw.backends import Backend, FittedModel, report_epoch


class SleepOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sleep: float = 0.0


class ConstantModel(FittedModel):
    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        proba = np.zeros((len(features), self.n_classes))
        proba[:, 0] = 1.0
        return proba


class ConstantBackend(Backend):
    """Always predicts the first class: a valid, bad model.

    Option ``sleep`` spreads that many seconds over the spec's epochs first,
    reporting each epoch, so tests can watch runs overlap and progress.
    """

    name = "constant"
    toolkit = "numpy"
    Options = SleepOptions

    def fit(self, data, spec):
        for epoch in range(1, spec.epochs + 1):
            time.sleep(self.options.sleep / spec.epochs)
            report_epoch(epoch, spec.epochs)
        return ConstantModel(data.n_classes)


class SleepyBackend(ConstantBackend):
    """A second sleeping backend, so two runs can overlap in one comparison."""

    name = "sleepy"


class HangingBackend(Backend):
    """Never returns from fit, like a model stuck in a loop."""

    name = "hanging"
    toolkit = "numpy"

    def fit(self, data, spec):
        while True:
            time.sleep(1)


class ExitingBackend(Backend):
    """Ends its process with os._exit(3) in the middle of fit."""

    name = "exiting"
    toolkit = "numpy"

    def fit(self, data, spec):
        os._exit(3)


class SegfaultBackend(Backend):
    """Kills its own process with SIGSEGV, as a crashing native library would."""

    name = "segfault"
    toolkit = "numpy"

    def fit(self, data, spec):
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(10)


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


class KillerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    marker_dir: str
    kills: int = 1
    delay: float = 0.5


class KillerBackend(Backend):
    """Kills its own process with SIGKILL on its first ``kills`` attempts.

    Each attempt leaves a file in ``marker_dir``, so attempts in new
    processes can count the earlier ones. Later attempts train like
    ``constant``. An attempt sleeps ``delay`` seconds before it kills, as a
    run that crashes during training would, so its worker has sent the
    run's start event by then.
    """

    name = "killer"
    toolkit = "numpy"
    Options = KillerOptions

    def fit(self, data, spec):
        folder = Path(self.options.marker_dir)
        earlier = len(list(folder.glob("attempt-*")))
        (folder / f"attempt-{uuid.uuid4().hex}").write_text(str(os.getpid()))
        if earlier < self.options.kills:
            time.sleep(self.options.delay)
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(10)
        return ConstantModel(data.n_classes)


class NoToolkitBackend(ConstantBackend):
    """Needs a toolkit distribution that is never installed."""

    name = "notoolkit"
    toolkit = "irisfw-no-such-toolkit"


@hookimpl
def irisfw_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(ConstantBackend)
    register(FailingBackend)
    register(BadShapeBackend)
    register(SleepyBackend)
    register(HangingBackend)
    register(ExitingBackend)
    register(SegfaultBackend)
    register(KillerBackend)
    register(NoToolkitBackend)
