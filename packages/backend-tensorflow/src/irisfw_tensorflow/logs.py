"""Keep TensorFlow's log output off the terminal unless irisfw runs with --verbose.

TensorFlow logs from two layers:

- Native code writes to file descriptor 2 through Abseil logging.
  ``TF_CPP_MIN_LOG_LEVEL`` is the documented switch, but with TensorFlow 2.21
  it does not filter the messages logged before Abseil logging is
  initialised (the oneDNN notice, cpu_feature_guard, CUDA probing), which
  appear when tensorflow is imported and when its runtime starts. So
  ``native_stderr_captured`` also redirects descriptor 2 into a temporary
  file while TensorFlow is imported and trains.
- Python code logs to the ``tensorflow`` logger, for example retracing and
  AutoGraph warnings, and some modules log to absl-py's ``absl`` logger.

Nothing in this module imports tensorflow.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from irisfw.backends import verbose

NATIVE_LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
# 2 drops INFO and WARNING messages and keeps ERROR and FATAL.
QUIET_NATIVE_LOG_LEVEL = "2"
STDERR_FD = 2
PYTHON_LOGGERS = ("tensorflow", "absl")


def set_native_log_level() -> None:
    """Set TF_CPP_MIN_LOG_LEVEL for a quiet run unless the user has set it.

    TensorFlow reads the variable when it is imported, so call this first.
    """
    if not verbose():
        os.environ.setdefault(NATIVE_LOG_LEVEL_ENV, QUIET_NATIVE_LOG_LEVEL)


def configure_python_logs() -> None:
    """Set the tensorflow and absl loggers to INFO with --verbose, else to ERROR."""
    level = logging.INFO if verbose() else logging.ERROR
    logging.getLogger("tensorflow").setLevel(level)
    try:
        # absl-py comes with tensorflow. Its logger must be created by
        # absl.logging, which installs its own logger class for it.
        from absl import logging as absl_logging
    except ImportError:
        return
    absl_logging.set_verbosity(absl_logging.INFO if verbose() else absl_logging.ERROR)


class _WarningRecorder(logging.Filter):
    """Logger filter that stores WARNING and higher messages.

    It passes on only the records that the logger's level before recording
    let through, so recording never makes a quiet logger print.
    """

    def __init__(self, shown_level: int) -> None:
        super().__init__()
        self.shown_level = shown_level
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.messages.append(f"{record.name}: {record.getMessage()}")
        return record.levelno >= self.shown_level


@contextmanager
def python_warnings_recorded() -> Iterator[list[str]]:
    """Record the warnings that TensorFlow logs through Python while active.

    Yields a list that fills with "logger: message" texts. Loggers set above
    WARNING are lowered to WARNING for the duration, and their records below
    the original level are recorded but not printed.
    """
    messages: list[str] = []
    installed: list[tuple[logging.Logger, _WarningRecorder, int]] = []
    for name in PYTHON_LOGGERS:
        logger = logging.getLogger(name)
        shown_level = logger.getEffectiveLevel()
        recorder = _WarningRecorder(shown_level)
        recorder.messages = messages
        logger.addFilter(recorder)
        installed.append((logger, recorder, logger.level))
        if shown_level > logging.WARNING:
            logger.setLevel(logging.WARNING)
    try:
        yield messages
    finally:
        for logger, recorder, level in installed:
            logger.removeFilter(recorder)
            logger.setLevel(level)


@contextmanager
def native_stderr_captured() -> Iterator[list[str]]:
    """Redirect file descriptor 2 into a temporary file unless verbose() is true.

    Yields a list that receives the captured lines when the block ends. If the
    block raises, the captured text is also written back to stderr, because
    TensorFlow's native log may explain the error. The redirect is process
    wide, so output of other threads during the block is captured as well.
    """
    lines: list[str] = []
    if verbose():
        yield lines
        return
    try:
        saved_fd = os.dup(STDERR_FD)
    except OSError:
        # The process has no descriptor 2 (pythonw, a closed stderr).
        yield lines
        return

    with tempfile.TemporaryFile() as capture:
        _flush_stderr()
        os.dup2(capture.fileno(), STDERR_FD)
        completed = False
        try:
            yield lines
            completed = True
        finally:
            _flush_stderr()
            os.dup2(saved_fd, STDERR_FD)
            os.close(saved_fd)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            lines.extend(line for line in text.splitlines() if line.strip())
            if not completed and text and sys.stderr is not None:
                sys.stderr.write(text)


def _flush_stderr() -> None:
    if sys.stderr is not None:
        sys.stderr.flush()
