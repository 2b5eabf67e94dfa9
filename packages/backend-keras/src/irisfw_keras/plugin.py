"""Entry point of the Keras backend; importing it imports no Keras and no engine."""

from __future__ import annotations

from collections.abc import Callable

from irisfw import hookimpl
from irisfw.backends import Backend
from irisfw_keras.backend import KerasBackend


@hookimpl
def irisfw_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(KerasBackend)
