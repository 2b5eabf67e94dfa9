"""Plugin discovery and a typed facade over the pluggy plugin manager.

Each entry point in the ``irisfw`` group is loaded on its own. A plugin that
fails to load is recorded with its error and the others keep working.

Environment variables:

- ``IRISFW_PLUGINS``: comma-separated entry-point names to load. Unset loads
  every installed plugin; an empty value loads none. The built-in datasets
  are always available.
- ``IRISFW_STRICT_PLUGINS=1``: re-raise plugin load errors, for plugin
  authors who want the traceback.
- ``IRISFW_TRACE_HOOKS=1``: log every hook call, with its plugin, arguments,
  outcome and duration, to the ``irisfw.plugins`` logger at DEBUG level
  (``irisfw --verbose`` shows it).
"""

from __future__ import annotations

import logging
import os
import reprlib
import time
from collections.abc import Mapping, Sequence
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
TRACE_ENV = "IRISFW_TRACE_HOOKS"
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


def _is_set(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def _selected_names(environ: Mapping[str, str]) -> set[str] | None:
    raw = environ.get(PLUGINS_ENV)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


class Plugins:
    """The loaded plugins, their backends and datasets."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._strict = _is_set(self._environ, STRICT_ENV)
        self._tracer = HookTracer() if _is_set(self._environ, TRACE_ENV) else None
        self.manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.manager.add_hookspecs(hookspecs)
        if self._tracer is not None:
            self.manager.add_hookcall_monitoring(
                self._tracer.before, self._tracer.after
            )
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
                self._call_impl(hook_name, impl, register=register_factory(plugin))
            except Exception as exc:
                if self._strict:
                    raise
                plugin.error = f"{hook_name} failed: {type(exc).__name__}: {exc}"
                logger.warning("plugin %r: %s", plugin.name, plugin.error)

    def _call_impl(self, hook_name: str, impl: pluggy.HookImpl, **kwargs: Any) -> Any:
        """Call one plugin's implementation of a hook, traced when tracing is on.

        The core calls some hooks plugin by plugin, which bypasses pluggy's
        hook-call monitoring, so those calls are traced here. As pluggy does,
        the implementation receives only the arguments that it names.
        """
        arguments = {name: kwargs[name] for name in impl.argnames}
        if self._tracer is None:
            return impl.function(**arguments)
        self._tracer.before(hook_name, [impl], kwargs)
        try:
            result = impl.function(**arguments)
        except BaseException as exc:
            self._tracer.finished(hook_name, exc)
            raise
        self._tracer.finished(hook_name, None)
        return result

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
        """Return the variables that choose and trace plugins, for worker processes."""
        return {
            name: self._environ[name]
            for name in (PLUGINS_ENV, STRICT_ENV, TRACE_ENV)
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
                self._call_impl("irisfw_run_finished", impl, result=result, data=data)
            except Exception:
                logger.exception(
                    "plugin %r failed in irisfw_run_finished", impl.plugin_name
                )


_argument_repr = reprlib.Repr()
_argument_repr.maxother = 60
_argument_repr.maxstring = 60


def _format_arguments(kwargs: Mapping[str, Any]) -> str:
    parts = []
    for name, value in kwargs.items():
        if callable(value) and hasattr(value, "__name__"):
            text = f"<function {value.__name__}>"
        else:
            text = _argument_repr.repr(value)
        parts.append(f"{name}={text}")
    return ", ".join(parts)


class HookTracer:
    """Log hook calls and their outcomes to the ``irisfw.plugins`` logger.

    ``before`` and ``after`` have the signatures that pluggy's
    ``PluginManager.add_hookcall_monitoring`` expects. Calls may nest, so the
    called plugins and start times are kept on a stack.
    """

    def __init__(self) -> None:
        self._calls: list[tuple[str, float]] = []

    def before(
        self,
        hook_name: str,
        hook_impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        names = [repr(impl.plugin_name) for impl in hook_impls]
        word = "plugin" if len(names) == 1 else "plugins"
        plugins = f"{word} {', '.join(names) or 'none'}"
        logger.debug(
            "hook %s: calling %s with %s",
            hook_name,
            plugins,
            _format_arguments(kwargs),
        )
        self._calls.append((plugins, time.perf_counter()))

    def after(
        self,
        outcome: pluggy.Result[Any],
        hook_name: str,
        hook_impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        self.finished(hook_name, outcome.exception)

    def finished(self, hook_name: str, error: BaseException | None) -> None:
        plugins, started = self._calls.pop()
        milliseconds = (time.perf_counter() - started) * 1000
        if error is None:
            logger.debug(
                "hook %s: %s returned after %.2f ms",
                hook_name,
                plugins,
                milliseconds,
            )
        else:
            logger.debug(
                "hook %s: %s raised %s: %s after %.2f ms",
                hook_name,
                plugins,
                type(error).__name__,
                error,
                milliseconds,
            )
