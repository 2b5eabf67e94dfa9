"""Record the interpreter, machine and package versions behind a comparison."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from irisfw.results import Environment

if TYPE_CHECKING:
    from irisfw.plugins import Plugins

# Libraries the core itself computes with, recorded beside the toolkits.
CORE_LIBRARIES = ("numpy", "pandas", "scikit-learn")


def distribution_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def capture_environment(
    plugins: Plugins, argv: Sequence[str] | None = None
) -> Environment:
    """Describe this process: Python, platform, CPUs, versions and command line.

    ``packages`` lists irisfw first, then, sorted by name, every loaded
    plugin's distribution, every registered backend's toolkit and the core's
    numerical libraries. Versions come from package metadata, so no toolkit
    is imported.
    """
    names = {
        plugin.distribution
        for plugin in plugins.plugins.values()
        if plugin.distribution != "unknown"
    }
    names.update(entry.backend_class.toolkit for entry in plugins.backends.values())
    names.update(CORE_LIBRARIES)
    names.discard("irisfw")
    command_line = list(sys.argv if argv is None else argv)
    if command_line:
        command_line[0] = Path(command_line[0]).name
    return Environment(
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        packages={
            name: distribution_version(name) for name in ["irisfw", *sorted(names)]
        },
        command_line=command_line,
    )
