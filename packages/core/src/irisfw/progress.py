"""Progress messages from a run to whoever is displaying it.

In a worker process the executor installs a sender that forwards messages
to the parent; in the main process the runner installs one that updates the
display directly. Without a sender the calls do nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

MIN_INTERVAL_SECONDS = 0.1

_sender: Callable[[Any], None] | None = None
_last_sent = 0.0


def set_sender(sender: Callable[[Any], None] | None) -> None:
    global _sender
    _sender = sender


def send(message: Any) -> None:
    if _sender is not None:
        _sender(message)


def report_epoch(epoch: int, epochs: int) -> None:
    """Report that ``epoch`` (1-based) of ``epochs`` has finished.

    Backends call this once per epoch. Messages are sent at most every
    0.1 s, plus the last epoch, so a fast loop pays almost nothing.
    """
    global _last_sent
    if _sender is None:
        return
    now = time.monotonic()
    if epoch < epochs and now - _last_sent < MIN_INTERVAL_SECONDS:
        return
    _last_sent = now
    _sender(("epoch", epoch, epochs))
