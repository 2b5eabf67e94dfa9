"""Choice and import of the Keras engine, the framework that runs Keras's ops.

Keras 3 reads the ``KERAS_BACKEND`` environment variable once, when ``keras``
is first imported, and keeps that engine for the life of the process. This
module finds installed engines with ``importlib.util.find_spec``, so choosing
one imports nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from typing import TYPE_CHECKING, Literal

from irisfw.backends import verbose
from irisfw.errors import SpecError

if TYPE_CHECKING:
    from types import ModuleType

Engine = Literal["tensorflow", "torch", "jax"]

# Order in which the default engine is chosen among the installed ones.
ENGINES: tuple[Engine, ...] = ("tensorflow", "torch", "jax")

# TensorFlow 2.21 logs two harmless lines at ERROR level on CPU-only machines
# (a failed cuInit call, and a tf.data attribute it does not know), so level 3
# is needed to keep its C++ log quiet. Errors that stop training still raise
# Python exceptions.
TF_LOG_LEVEL = "3"


def is_installed(engine: str) -> bool:
    """Return whether the engine's module is importable, without importing it."""
    return find_spec(engine) is not None


def default_engine() -> Engine | None:
    """Return the first installed engine in ``ENGINES`` order, or None."""
    for engine in ENGINES:
        if is_installed(engine):
            return engine
    return None


def loaded_engine() -> str | None:
    """Return the engine of the Keras already imported in this process, or None."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    return str(keras.backend.backend())


def resolve_engine(requested: Engine | None) -> Engine:
    """Return the engine to run, raising SpecError if it cannot run in this process."""
    engine = requested if requested is not None else default_engine()
    if engine is None:
        raise SpecError(
            "no Keras engine is installed; install one, e.g."
            " pip install 'irisfw-keras[tensorflow]' (or [torch], [jax])"
        )
    if not is_installed(engine):
        installed = ", ".join(name for name in ENGINES if is_installed(name))
        raise SpecError(
            f"Keras engine {engine!r} is not installed; install it with"
            f" pip install {engine} (or pip install 'irisfw-keras[{engine}]');"
            f" installed engines: {installed or 'none'}"
        )
    loaded = loaded_engine()
    if loaded is not None and loaded != engine:
        choice = "requested" if requested is not None else "the default"
        raise SpecError(
            f"Keras engine {engine!r} is {choice}, but Keras is already imported in"
            f" this process with engine {loaded!r} and cannot switch engines; pass"
            f" -o keras.engine={loaded} or run {engine!r} in a new process"
        )
    return engine


def import_keras(requested: Engine | None) -> ModuleType:
    """Import Keras on the resolved engine and return the ``keras`` module.

    Calling it again returns the imported module. Unless irisfw runs verbose,
    this sets ``TF_CPP_MIN_LOG_LEVEL`` when the user has not set it, and hides
    what native code prints during the import.
    """
    engine = resolve_engine(requested)
    if not verbose():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)
    previous = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = engine
    try:
        with native_stderr_silenced():
            import keras
    finally:
        # Keras has read the variable by now, so restore the user's environment.
        if previous is None:
            del os.environ["KERAS_BACKEND"]
        else:
            os.environ["KERAS_BACKEND"] = previous
    running = keras.backend.backend()
    if running != engine:
        raise SpecError(
            f"Keras runs on engine {running!r} after importing it with"
            f" KERAS_BACKEND={engine!r}; check that Keras 3 is installed"
        )
    if engine != "tensorflow" and is_installed("tensorflow"):
        # keras.utils.set_random_seed imports TensorFlow whenever it is
        # installed, to seed tf.random for tf.data pipelines. Importing it here
        # hides its import-time log lines and counts it as import time.
        with native_stderr_silenced():
            import tensorflow  # noqa: F401
    return keras


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Redirect file descriptor 2 to os.devnull while the block runs, unless verbose.

    TensorFlow's C++ code writes log lines at import time, before its log
    level applies (the "All log messages before absl::InitializeLog()" lines),
    so ``TF_CPP_MIN_LOG_LEVEL`` alone does not hide them. Anything else written
    to stderr inside the block, Python text included, is dropped as well.
    """
    if verbose():
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2, so there is nothing to hide
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
