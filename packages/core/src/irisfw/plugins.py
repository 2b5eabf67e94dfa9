"""Plugin discovery and a typed facade over the pluggy plugin manager.

Each entry point in the ``irisfw`` group is loaded on its own. A plugin that
fails to load is recorded with its error and the others keep working.

Environment variables:

- ``IRISFW_PLUGINS``: comma-separated entry-point names to load. Unset loads
  every installed plugin; an empty value loads none. The built-in datasets
  are always available.
- ``IRISFW_STRICT_PLUGINS=1``: re-raise plugin load errors, for plugin
  authors who want the traceback.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pluggy

from irisfw import builtin, hookspecs
from irisfw.backends import Backend
from irisfw.datasets import Dataset
from irisfw.errors import BackendError

if TYPE_CHECKING:
    from irisfw.results import DataSummary, RunResult

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "irisfw"
PLUGINS_ENV = "IRISFW_PLUGINS"
STRICT_ENV = "IRISFW_STRICT_PLUGINS"
BUILTIN_NAME = "irisfw.builtin"


@dataclass
class Plugin:
    """One loaded or failed plugin and where it came from."""

    name: str
    distribution: str
    version: str | None
    module: str
    error: str | None = None
    hooks: list[str] = field(default_factory=list)


@dataclass
class BackendEntry:
    """A registered backend class and the plugin that registered it."""

    name: str
    backend_class: type[Backend]
    plugin: Plugin
    conflicts: list[Plugin] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        if not self.conflicts:
            return None
        owners = " and ".join(
            _describe(plugin) for plugin in [self.plugin, *self.conflicts]
        )
        return (
            f"backend {self.name!r} is registered by both {owners}; uninstall one"
            f" or choose plugins with {PLUGINS_ENV}"
        )


def _describe(plugin: Plugin) -> str:
    return f"{plugin.distribution} {plugin.version or '(unknown version)'}"


def _is_strict(environ: Mapping[str, str]) -> bool:
    return environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes"}


def _selected_names(environ: Mapping[str, str]) -> set[str] | None:
    raw = environ.get(PLUGINS_ENV)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


class Plugins:
    """The loaded plugins, their backends and datasets."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._strict = _is_strict(self._environ)
        self.manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.manager.add_hookspecs(hookspecs)
        self.plugins: dict[str, Plugin] = {}
        self.backends: dict[str, BackendEntry] = {}
        self.datasets: dict[str, Dataset] = {}

        from irisfw import __version__

        self._add(
            builtin, Plugin(BUILTIN_NAME, "irisfw", __version__, builtin.__name__)
        )
        self._load_entry_points()
        self._collect_backends()
        self._collect_datasets()

    def _load_entry_points(self) -> None:
        selected = _selected_names(self._environ)
        found = set()
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            found.add(entry_point.name)
            if selected is not None and entry_point.name not in selected:
                continue
            self._load_entry_point(entry_point)
        for name in sorted((selected or set()) - found):
            logger.warning(
                "%s names plugin %r, which is not installed", PLUGINS_ENV, name
            )

    def _load_entry_point(self, entry_point: EntryPoint) -> None:
        dist = entry_point.dist
        plugin = Plugin(
            name=entry_point.name,
            distribution=dist.name if dist is not None else "unknown",
            version=dist.version if dist is not None else None,
            module=entry_point.value,
        )
        if entry_point.name in self.plugins:
            other = self.plugins[entry_point.name]
            plugin.error = (
                f"plugin name {entry_point.name!r} is also used by"
                f" {_describe(other)}; only the first was loaded"
            )
            self.plugins[f"{entry_point.name} ({plugin.distribution})"] = plugin
            return
        try:
            module = entry_point.load()
            self._add(module, plugin)
        except Exception as exc:
            if self._strict:
                raise
            plugin.error = f"{type(exc).__name__}: {exc}"
            self.plugins[plugin.name] = plugin
            logger.warning("plugin %r failed to load: %s", plugin.name, plugin.error)

    def _add(self, module: Any, plugin: Plugin) -> None:
        self.manager.register(module, name=plugin.name)
        plugin.hooks = sorted(
            caller.name for caller in self.manager.get_hookcallers(module) or []
        )
        self.plugins[plugin.name] = plugin

    def _call_per_plugin(self, hook_name: str, register_factory: Any) -> None:
        """Call one registration hook plugin by plugin, so each item's owner is known."""
        caller = getattr(self.manager.hook, hook_name)
        for impl in caller.get_hookimpls():
            plugin = self.plugins[impl.plugin_name]
            try:
                impl.function(register=register_factory(plugin))
            except Exception as exc:
                if self._strict:
                    raise
                plugin.error = f"{hook_name} failed: {type(exc).__name__}: {exc}"
                logger.warning("plugin %r: %s", plugin.name, plugin.error)

    def _collect_backends(self) -> None:
        def factory(plugin: Plugin) -> Any:
            def register(backend_class: type[Backend]) -> None:
                if not (
                    isinstance(backend_class, type)
                    and issubclass(backend_class, Backend)
                ):
                    raise TypeError(
                        f"register() takes a Backend subclass, got {backend_class!r}"
                    )
                name = backend_class.name
                existing = self.backends.get(name)
                if existing is not None:
                    existing.conflicts.append(plugin)
                    return
                self.backends[name] = BackendEntry(name, backend_class, plugin)

            return register

        self._call_per_plugin("irisfw_register_backends", factory)

    def _collect_datasets(self) -> None:
        def factory(plugin: Plugin) -> Any:
            def register(dataset: Dataset) -> None:
                if dataset.name in self.datasets:
                    logger.warning(
                        "dataset %r from plugin %r replaces an earlier one",
                        dataset.name,
                        plugin.name,
                    )
                self.datasets[dataset.name] = dataset

            return register

        self._call_per_plugin("irisfw_register_datasets", factory)

    def selection_environ(self) -> dict[str, str]:
        """Return the variables that choose plugins, for worker processes."""
        return {
            name: self._environ[name]
            for name in (PLUGINS_ENV, STRICT_ENV)
            if name in self._environ
        }

    def backend(self, name: str) -> BackendEntry:
        """Return a usable backend entry, raising BackendError with the fix."""
        entry = self.backends.get(name)
        if entry is None:
            available = ", ".join(sorted(self.backends)) or "none installed"
            broken = [p.name for p in self.plugins.values() if p.error]
            hint = (
                f"; plugins that failed to load: {', '.join(broken)}" if broken else ""
            )
            raise BackendError(
                f"unknown backend {name!r}; available backends: {available}{hint};"
                " run 'irisfw backends' for details"
            )
        if entry.error:
            raise BackendError(entry.error)
        return entry

    def run_finished(self, result: RunResult, data: DataSummary) -> None:
        """Send a finished run to every plugin; a failing sink is only logged."""
        for impl in self.manager.hook.irisfw_run_finished.get_hookimpls():
            try:
                impl.function(result=result, data=data)
            except Exception:
                logger.exception(
                    "plugin %r failed in irisfw_run_finished", impl.plugin_name
                )
