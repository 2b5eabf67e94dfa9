"""Execute run requests: fit, predict and measure one backend at a time."""

from __future__ import annotations

import logging
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from irisfw import __version__
from irisfw.plugins import BackendEntry, Plugins
from irisfw.prepare import PreparedData
from irisfw.results import (
    Comparison,
    PluginInfo,
    RunResult,
    Timings,
    ToolkitInfo,
)
from irisfw.spec import ModelSpec

logger = logging.getLogger(__name__)

TRACEBACK_LINES = 6


@dataclass(frozen=True)
class RunRequest:
    """One run: a backend with its options, trained on one spec."""

    backend: str
    spec: ModelSpec
    options: dict[str, Any] = field(default_factory=dict)


def execute_run(
    request: RunRequest, entry: BackendEntry, data: PreparedData
) -> RunResult:
    """Train and evaluate one run; any exception becomes a failed RunResult."""
    backend_class = entry.backend_class
    base = {
        "backend": request.backend,
        "label": request.backend,
        "spec": request.spec,
        "seed": request.spec.seed,
        "options": dict(request.options),
        "toolkit": ToolkitInfo(
            name=backend_class.toolkit, version=backend_class.toolkit_version()
        ),
        "plugin": PluginInfo(
            distribution=entry.plugin.distribution, version=entry.plugin.version
        ),
        "fingerprint": data.fingerprint,
    }
    timings = Timings()
    caught: list[warnings.WarningMessage] = []
    try:
        backend = backend_class(backend_class.parse_options(request.options))
        base["label"] = backend.label
        backend.check_spec(request.spec)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            model = backend.fit(data, request.spec)
            timings.fit_seconds = time.perf_counter() - start

            model.predict_proba(data.x_test)  # untimed warm-up
            start = time.perf_counter()
            test_proba = model.predict_proba(data.x_test)
            timings.predict_seconds = time.perf_counter() - start
            train_proba = model.predict_proba(data.x_train)

        from irisfw.metrics import check_probabilities, compute_metrics

        test_proba = check_probabilities(test_proba, len(data.y_test), data.n_classes)
        train_proba = check_probabilities(
            train_proba, len(data.y_train), data.n_classes
        )
        metrics = compute_metrics(
            data.y_train, train_proba, data.y_test, test_proba, data.class_names
        )
    except Exception as exc:
        return RunResult(
            **base,
            status="failed",
            error=_describe_exception(exc),
            timings=timings,
            warnings=_warning_texts(caught),
        )
    return RunResult(
        **base,
        status="ok",
        metrics=metrics,
        timings=timings,
        history=model.history,
        warnings=[*model.warnings, *_warning_texts(caught)],
        details=model.details,
    )


def _describe_exception(exc: BaseException) -> str:
    lines = traceback.format_exception(exc)
    tail = "".join(lines[-TRACEBACK_LINES:]).rstrip()
    return f"{type(exc).__name__}: {exc}\n{tail}"


def _warning_texts(caught: Iterable[warnings.WarningMessage]) -> list[str]:
    """Deduplicate recorded warnings, keeping the first occurrence's order."""
    texts: dict[str, None] = {}
    for warning in caught:
        texts[f"{warning.category.__name__}: {warning.message}"] = None
    return list(texts)


def run_comparison(
    requests: list[RunRequest],
    data: PreparedData,
    plugins: Plugins,
    on_result: Callable[[RunResult], None] | None = None,
) -> Comparison:
    """Run every request in this process, one after another."""
    comparison = Comparison(irisfw_version=__version__, data=data.summary())
    for request in requests:
        entry = plugins.backend(request.backend)
        logger.info("running %s with %s", request.backend, request.spec.label)
        result = execute_run(request, entry, data)
        comparison.runs.append(result)
        plugins.run_finished(result, comparison.data)
        if on_result is not None:
            on_result(result)
    return comparison
