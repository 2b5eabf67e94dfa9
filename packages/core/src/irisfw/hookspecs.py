"""Hook specifications: the points where plugins extend irisfw.

A plugin is a module (or any object) with functions decorated with
``irisfw.hookimpl`` and named after the hooks below. Plugins are found
through the ``irisfw`` entry-point group. Loading a plugin must not import
its toolkit: import it inside ``Backend.fit`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from irisfw.backends import Backend
    from irisfw.datasets import Dataset
    from irisfw.results import DataSummary, RunResult

hookspec = pluggy.HookspecMarker("irisfw")
hookimpl = pluggy.HookimplMarker("irisfw")


@hookspec
def irisfw_register_backends(register: Callable[[type[Backend]], None]) -> None:
    """Register backends by calling ``register(BackendClass)`` once per class.

    Called once when the plugins are loaded. The class's ``name`` is the name
    users pass to ``--backend``; two plugins that register one name are an
    error that names both distributions.
    """


@hookspec
def irisfw_register_datasets(register: Callable[[Dataset], None]) -> None:
    """Register named datasets by calling ``register(Dataset(...))``.

    Called once when the plugins are loaded. The dataset's name is what users
    pass to ``--data``; a file path of the same name takes precedence.
    """


@hookspec
def irisfw_run_finished(result: RunResult, data: DataSummary) -> Any:
    """Receive each finished run, whatever its status.

    Called in the main process after every run, in the order the runs finish,
    for result sinks such as experiment trackers. The return value is ignored.
    An exception raised here is logged and does not stop the comparison.
    """
