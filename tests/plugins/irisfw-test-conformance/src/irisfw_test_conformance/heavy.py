"""A plugin that imports its toolkit when it is loaded."""

from __future__ import annotations

import numpy  # noqa: F401 - the deliberate fault

from irisfw import hookimpl
from irisfw_numpy_example.backend import NumpyBackend


class HeavyImportBackend(NumpyBackend):
    name = "heavyimport"


@hookimpl
def irisfw_register_backends(register):
    register(HeavyImportBackend)
