"""The backend interface that every toolkit plugin implements.

This module imports no numerical library, so plugins can subclass
``Backend`` at import time without slowing down ``irisfw --help``.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from irisfw.errors import SpecError
from irisfw.progress import report_epoch
from irisfw.results import EpochRecord
from irisfw.spec import ModelSpec, format_validation_error

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from irisfw.prepare import PreparedData

__all__ = [
    "THREADS_ENV",
    "Backend",
    "EpochRecord",
    "FittedModel",
    "NoOptions",
    "report_epoch",
    "thread_budget",
    "verbose",
]

THREADS_ENV = "IRISFW_THREADS"


class NoOptions(BaseModel):
    """Options model of a backend that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FittedModel(ABC):
    """A trained model plus what the backend observed while training it."""

    def __init__(
        self,
        history: list[EpochRecord] | None = None,
        warnings: list[str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.history = history or []
        self.warnings = warnings or []
        self.details = details or {}

    @abstractmethod
    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Return class probabilities, shape (rows, classes), rows summing to 1."""

    def save(self, directory: Path) -> None:
        """Write the model into the empty folder ``directory``.

        Use the toolkit's own format and nothing that executes code or
        unpickles arbitrary objects on load. ``Backend.load`` reads it back.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot save models")


class Backend(ABC):
    """Trains a ``ModelSpec`` on ``PreparedData`` with one toolkit.

    Subclasses set ``name`` (what users pass to ``--backend``) and ``toolkit``
    (the toolkit's distribution name, used to look up its version without
    importing it). ``toolkit_module`` is the module that ``load_toolkit``
    imports, so the runner can time the import apart from training.
    ``Options`` is a pydantic model of backend-specific options, filled from
    ``--option NAME.KEY=VALUE``.
    """

    name: ClassVar[str]
    toolkit: ClassVar[str]
    toolkit_module: ClassVar[str | None] = None
    description: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @classmethod
    def toolkit_version(cls) -> str | None:
        """Return the installed toolkit version from package metadata, or None."""
        try:
            return version(cls.toolkit)
        except PackageNotFoundError:
            return None

    @classmethod
    def parse_options(cls, values: dict[str, Any]) -> BaseModel:
        """Validate raw option values, raising SpecError naming the bad key."""
        try:
            return cls.Options(**values)
        except ValidationError as exc:
            allowed = ", ".join(cls.Options.model_fields) or "none"
            raise SpecError(
                format_validation_error(exc, f"option for backend {cls.name!r}")
                + f"; options of {cls.name!r}: {allowed}"
            ) from None

    @property
    def label(self) -> str:
        """Name shown in tables; backends add their key options to it."""
        return self.name

    def load_toolkit(self) -> None:
        """Import the toolkit; the runner times this call as the import time.

        Override it when the import needs preparation, such as choosing an
        engine through an environment variable first.
        """
        if self.toolkit_module is not None:
            import_module(self.toolkit_module)

    def check_spec(self, spec: ModelSpec) -> None:  # noqa: B027 - optional hook
        """Raise SpecError for a spec value this backend cannot honour."""

    def load(
        self, directory: Path, spec: ModelSpec, *, n_features: int, n_classes: int
    ) -> FittedModel:
        """Load a model that ``FittedModel.save`` wrote into ``directory``.

        The core has checked every file's SHA-256 against the manifest before
        this is called. Raise an exception if the installed toolkit cannot
        read the files.
        """
        raise NotImplementedError(f"backend {self.name!r} cannot load models")

    @abstractmethod
    def fit(self, data: PreparedData, spec: ModelSpec) -> FittedModel:
        """Train on ``data.x_train`` and ``data.y_train`` and return the model.

        Import the toolkit here, never at module level.
        """


def verbose() -> bool:
    """Return whether the user asked for toolkit output (``irisfw --verbose``).

    Backends keep toolkit logs and progress printing off unless this is true.
    """
    return logging.getLogger("irisfw").isEnabledFor(logging.DEBUG)


def thread_budget() -> int | None:
    """Return the CPU threads this run may use, or None when unrestricted.

    The runner sets it per worker so that parallel workers together use no
    more threads than there are CPUs. Backends pass it to their toolkit's
    thread-pool settings.
    """
    value = os.environ.get(THREADS_ENV)
    return int(value) if value else None
