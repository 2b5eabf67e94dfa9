"""Each hook in irisfw.hookspecs: its documentation, its behaviour, its tracing.

Every hook needs a section in docs/hooks.md and a test named
``test_hook_<name>`` in this folder; the first two tests enforce that.
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
import types
from importlib.metadata import EntryPoint
from pathlib import Path

import pluggy
import pytest

from irisfw import hookimpl, hookspecs
from irisfw.backends import Backend
from irisfw.datasets import Dataset
from irisfw.plugins import Plugins
from irisfw.results import DataSummary, PluginInfo, RunResult, ToolkitInfo
from irisfw.spec import ModelSpec

TESTS_DIR = Path(__file__).parent
HOOKS_DOC = TESTS_DIR.parent / "docs" / "hooks.md"


def hook_signatures() -> dict[str, list[str]]:
    """Return each hook's argument names, read from the plugin manager."""
    manager = pluggy.PluginManager("irisfw")
    manager.add_hookspecs(hookspecs)
    signatures = {}
    for name, caller in vars(manager.hook).items():
        if isinstance(caller, pluggy.HookCaller) and caller.spec is not None:
            signatures[name] = list(inspect.signature(caller.spec.function).parameters)
    return signatures


def test_every_hook_documented():
    documented = dict(
        re.findall(
            r"^## (irisfw_\w+)\(([^)]*)\)$", HOOKS_DOC.read_text(), flags=re.MULTILINE
        )
    )
    signatures = hook_signatures()

    assert signatures, "no hook specifications found"
    assert sorted(documented) == sorted(signatures)
    for name, arguments in signatures.items():
        assert documented[name] == ", ".join(arguments), name


def test_every_hook_tested():
    sources = "\n".join(path.read_text() for path in TESTS_DIR.rglob("test_*.py"))

    for name in hook_signatures():
        assert f"def test_hook_{name}(" in sources, f"no test_hook_{name} in tests/"


def plugins_with(monkeypatch, **modules: types.ModuleType) -> Plugins:
    """Load only the given modules as plugins, through stand-in entry points."""
    entry_points = []
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, module.__name__, module)
        entry_points.append(
            EntryPoint(name=name, value=module.__name__, group="irisfw")
        )
    monkeypatch.setattr("irisfw.plugins.entry_points", lambda group: entry_points)
    return Plugins(environ={})


def plugin_module(name: str, **functions) -> types.ModuleType:
    module = types.ModuleType(name)
    for function_name, function in functions.items():
        setattr(module, function_name, hookimpl(function))
    return module


class StubBackend(Backend):
    name = "stub"
    toolkit = "numpy"

    def fit(self, data, spec):
        raise NotImplementedError


def test_hook_irisfw_register_backends(monkeypatch):
    def register_stub(register):
        register(StubBackend)

    def register_junk(register):
        register("not a class")

    plugins = plugins_with(
        monkeypatch,
        good=plugin_module("hooks_good", irisfw_register_backends=register_stub),
        junk=plugin_module("hooks_junk", irisfw_register_backends=register_junk),
    )

    entry = plugins.backend("stub")
    assert entry.backend_class is StubBackend
    assert entry.plugin.name == "good"
    assert plugins.plugins["good"].hooks == ["irisfw_register_backends"]
    assert plugins.plugins["good"].error is None
    assert plugins.plugins["junk"].error == (
        "irisfw_register_backends failed: TypeError: register() takes a Backend"
        " subclass, got 'not a class'"
    )


def test_hook_irisfw_register_datasets(monkeypatch, caplog):
    import pandas as pd

    def load():
        return pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"]})

    def register_tiny(register):
        register(Dataset("tiny", "two rows", "label", load))

    def register_iris(register):
        register(Dataset("iris", "replacement", "label", load))

    with caplog.at_level(logging.WARNING, logger="irisfw.plugins"):
        plugins = plugins_with(
            monkeypatch,
            tiny=plugin_module("hooks_tiny", irisfw_register_datasets=register_tiny),
            other=plugin_module("hooks_other", irisfw_register_datasets=register_iris),
        )

    assert plugins.datasets["tiny"].load()["label"].tolist() == ["a", "b"]
    assert {"wine", "breast_cancer", "digits"} <= set(plugins.datasets)
    assert plugins.datasets["iris"].description == "replacement"
    assert "dataset 'iris' from plugin 'other' replaces an earlier one" in caplog.text


def finished_result() -> tuple[RunResult, DataSummary]:
    result = RunResult(
        backend="stub",
        label="stub",
        status="failed",
        spec=ModelSpec(),
        seed=0,
        toolkit=ToolkitInfo(name="numpy", version=None),
        plugin=PluginInfo(distribution="unknown", version=None),
        fingerprint="0" * 16,
    )
    data = DataSummary(
        source="iris",
        target="species",
        rows=150,
        features=4,
        feature_names=["a", "b", "c", "d"],
        class_names=["x", "y", "z"],
        class_counts=[50, 50, 50],
        train_rows=105,
        test_rows=45,
        test_size=0.3,
        split_seed=0,
        fingerprint="0" * 16,
    )
    return result, data


def test_hook_irisfw_run_finished(monkeypatch, caplog):
    received = []

    def record(result, data):
        received.append((result.backend, result.status, data.rows))

    def fail(result):
        raise RuntimeError("tracker is down")

    plugins = plugins_with(
        monkeypatch,
        broken_sink=plugin_module("hooks_broken_sink", irisfw_run_finished=fail),
        sink=plugin_module("hooks_sink", irisfw_run_finished=record),
    )
    result, data = finished_result()

    with caplog.at_level(logging.ERROR, logger="irisfw.plugins"):
        plugins.run_finished(result, data)

    assert received == [("stub", "failed", 150)]
    assert "plugin 'broken_sink' failed in irisfw_run_finished" in caplog.text
    assert "RuntimeError: tracker is down" in caplog.text


def test_trace_covers_registration_calls(caplog):
    with caplog.at_level(logging.DEBUG, logger="irisfw.plugins"):
        Plugins(environ={"IRISFW_PLUGINS": "sklearn", "IRISFW_TRACE_HOOKS": "1"})

    messages = [record.getMessage() for record in caplog.records]
    assert (
        "hook irisfw_register_backends: calling plugin 'sklearn' with"
        " register=<function register>"
    ) in messages
    assert any(
        re.fullmatch(
            r"hook irisfw_register_backends: plugin 'sklearn' returned after"
            r" \d+\.\d\d ms",
            message,
        )
        for message in messages
    )
    assert (
        "hook irisfw_register_datasets: calling plugin 'irisfw.builtin' with"
        " register=<function register>"
    ) in messages


def test_trace_covers_hook_caller_and_errors(monkeypatch, caplog):
    def fail(result):
        raise RuntimeError("tracker is down")

    module = plugin_module("hooks_traced_sink", irisfw_run_finished=fail)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    entry_point = EntryPoint(name="sink", value=module.__name__, group="irisfw")
    monkeypatch.setattr("irisfw.plugins.entry_points", lambda group: [entry_point])
    plugins = Plugins(environ={"IRISFW_TRACE_HOOKS": "yes"})
    result, data = finished_result()

    with caplog.at_level(logging.DEBUG, logger="irisfw.plugins"):
        plugins.run_finished(result, data)
        with pytest.raises(RuntimeError):
            plugins.manager.hook.irisfw_run_finished(result=result, data=data)

    messages = [record.getMessage() for record in caplog.records]
    calls = [m for m in messages if m.startswith("hook irisfw_run_finished: calling")]
    assert len(calls) == 2
    assert all("plugin 'sink' with result=RunResult(" in call for call in calls)
    raised = [m for m in messages if "raised RuntimeError: tracker is down" in m]
    assert len(raised) == 2


def test_no_trace_without_variable(caplog):
    with caplog.at_level(logging.DEBUG, logger="irisfw.plugins"):
        Plugins(environ={"IRISFW_PLUGINS": "sklearn"})

    assert not [r for r in caplog.records if r.getMessage().startswith("hook ")]
