"""Entry point of the scikit-learn backend. Importing it does not import sklearn."""

from __future__ import annotations

from collections.abc import Callable

from irisfw import hookimpl
from irisfw.backends import Backend
from irisfw_sklearn.backend import SklearnBackend


@hookimpl
def irisfw_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(SklearnBackend)
