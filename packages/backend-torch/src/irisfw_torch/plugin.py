"""Entry point of the PyTorch backend. Importing it does not import torch."""

from __future__ import annotations

from collections.abc import Callable

from irisfw import hookimpl
from irisfw.backends import Backend
from irisfw_torch.backend import TorchBackend


@hookimpl
def irisfw_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(TorchBackend)
