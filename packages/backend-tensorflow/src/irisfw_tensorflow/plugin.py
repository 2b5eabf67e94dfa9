"""Entry point of the TensorFlow backend. Importing it does not import tensorflow."""

from __future__ import annotations

from collections.abc import Callable

from irisfw import hookimpl
from irisfw.backends import Backend
from irisfw_tensorflow.backend import TensorFlowBackend


@hookimpl
def irisfw_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(TensorFlowBackend)
