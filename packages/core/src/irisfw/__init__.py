"""Compare one neural-network classifier trained with several ML toolkits.

Importing this package stays cheap: it imports no numerical library, and
the public names below, ``__version__`` included, load their modules on
first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from irisfw.backends import Backend, EpochRecord, FittedModel
    from irisfw.datasets import Dataset
    from irisfw.hookspecs import hookimpl
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
    "hookimpl": "irisfw.hookspecs",
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
    if name == "__version__":
        return _version()
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'irisfw' has no attribute {name!r}")
    return getattr(import_module(module), name)


def _version() -> str:
    # importlib.metadata costs tens of milliseconds to import, which
    # ``irisfw --help`` need not pay, so the version is looked up on first use.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("irisfw")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"
