"""Entry point of the NumPy example backend. Importing it does not import numpy.

irisfw imports this module whenever it loads its plugins, for a plain
`irisfw backends` too, so it imports only the backend class, whose module does
not import numpy either.
"""

from __future__ import annotations

from collections.abc import Callable

from irisfw import hookimpl
from irisfw.backends import Backend
from irisfw_numpy_example.backend import NumpyBackend


@hookimpl
def irisfw_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(NumpyBackend)
