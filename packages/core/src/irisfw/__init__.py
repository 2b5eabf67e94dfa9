"""Compare one neural-network classifier trained with several ML toolkits.

Importing this package stays cheap: it imports no numerical library. The
public names below load their modules on first use.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from irisfw.hookspecs import hookimpl

try:
    __version__ = version("irisfw")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from irisfw.backends import Backend, EpochRecord, FittedModel
    from irisfw.datasets import Dataset
    from irisfw.prepare import PreparedData
    from irisfw.results import Comparison, RunResult
    from irisfw.spec import ModelSpec

_LAZY = {
    "Backend": "irisfw.backends",
    "EpochRecord": "irisfw.backends",
    "FittedModel": "irisfw.backends",
    "Dataset": "irisfw.datasets",
    "PreparedData": "irisfw.prepare",
    "Comparison": "irisfw.results",
    "RunResult": "irisfw.results",
    "ModelSpec": "irisfw.spec",
}

__all__ = [
    "Backend",
    "Comparison",
    "Dataset",
    "EpochRecord",
    "FittedModel",
    "ModelSpec",
    "PreparedData",
    "RunResult",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'irisfw' has no attribute {name!r}")
    return getattr(import_module(module), name)
