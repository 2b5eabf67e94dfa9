"""Turn command-line arguments and a config file into run requests."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irisfw.config import CompareConfig, SpecGrid, expand_grid, load_config
from irisfw.dataoptions import DataOptions
from irisfw.errors import IrisfwError, SpecError
from irisfw.plugins import Plugins
from irisfw.spec import ModelSpec

logger = logging.getLogger(__name__)

DEFAULT_DATA = "iris"
DEFAULT_SEED = 0
DEFAULT_TEST_SIZE = 0.3


@dataclass
class CompareArguments:
    """``irisfw compare`` arguments; None means not given on the command line."""

    backends: list[str] = field(default_factory=list)
    data: str | None = None
    target: str | None = None
    seed: int | None = None
    test_size: float | None = None
    spec_values: dict[str, Any] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)
    output_format: str = "table"
    output: Path | None = None
    quiet: bool = False
    jobs: int | None = None
    timeout: float | None = None
    in_process: bool = False
    repeats: int | None = None
    cv: int | None = None
    config: Path | None = None
    save_models: Path | None = None
    plot_dir: Path | None = None
    plot_formats: str | None = None
    data_options: DataOptions = field(default_factory=DataOptions)
    scheduler: str | None = None


@dataclass
class Settings:
    """Arguments merged with the config file and the defaults."""

    data: str
    target: str | None
    seed: int
    test_size: float
    repeats: int
    cv: int | None
    jobs: int | None
    timeout: float | None
    scheduler: str | None
    backends: list[str]
    options: dict[str, dict[str, Any]]
    grids: list[SpecGrid]
    spec_overrides: dict[str, Any]


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def resolve_settings(arguments: CompareArguments) -> Settings:
    """Merge the command line over the config file over the defaults."""
    config = load_config(arguments.config) if arguments.config else CompareConfig()
    options = {name: dict(values) for name, values in config.options.items()}
    for backend, values in parse_options(arguments.options).items():
        options.setdefault(backend, {}).update(values)
    return Settings(
        data=_first(arguments.data, config.data, DEFAULT_DATA),
        target=_first(arguments.target, config.target),
        seed=_first(arguments.seed, config.seed, DEFAULT_SEED),
        test_size=_first(arguments.test_size, config.test_size, DEFAULT_TEST_SIZE),
        repeats=_first(arguments.repeats, config.repeats, 1),
        cv=_first(arguments.cv, config.cv),
        jobs=_first(arguments.jobs, config.jobs),
        timeout=_first(arguments.timeout, config.timeout),
        scheduler=_first(arguments.scheduler, config.scheduler),
        backends=list(dict.fromkeys(arguments.backends or config.backends or [])),
        options=options,
        grids=config.specs or [SpecGrid()],
        spec_overrides=dict(arguments.spec_values),
    )


def parse_options(texts: list[str]) -> dict[str, dict[str, str]]:
    """Group ``BACKEND.KEY=VALUE`` texts by backend."""
    options: dict[str, dict[str, str]] = {}
    for text in texts:
        name_key, sep, value = text.partition("=")
        backend, dot, key = name_key.partition(".")
        if not sep or not dot or not backend or not key:
            raise IrisfwError(
                f"invalid --option {text!r}; write BACKEND.KEY=VALUE, e.g. torch.device=cpu"
            )
        options.setdefault(backend, {})[key] = value
    return options


def plan_pairs(
    settings: Settings, plugins: Plugins
) -> list[tuple[str, ModelSpec, dict[str, Any]]]:
    """Return every (backend, spec, options) to run, each checked by its backend.

    A backend the user named that cannot honour a spec is an error; a backend
    chosen by default is skipped for that spec with a warning. With a Dask
    scheduler the toolkits need to be installed on the workers only, so the
    workers check them.
    """
    local_toolkits = settings.scheduler is None
    explicit = bool(settings.backends)
    names = settings.backends
    if not explicit:
        names = sorted(
            name for name, entry in plugins.backends.items() if not entry.error
        )
        if not names:
            raise IrisfwError(
                "no backends are installed; install one, e.g. pip install"
                " 'irisfw[sklearn]', and check 'irisfw backends'"
            )
    for backend in settings.options:
        if backend not in names:
            raise IrisfwError(
                f"options are given for backend {backend!r}, which is not in this"
                f" comparison; backends: {', '.join(names)}"
            )

    backends = {}
    for name in names:
        entry = plugins.backend(name)
        backend_class = entry.backend_class
        # Options name the backend explicitly, so an invalid one is always an error.
        backends[name] = backend_class(
            backend_class.parse_options(settings.options.get(name, {}))
        )

    pairs = []
    for position, grid in enumerate(settings.grids):
        grid_names = names
        if grid.backends is not None:
            unknown = [name for name in grid.backends if name not in names]
            if unknown:
                raise IrisfwError(
                    f"specs[{position}] names backends {', '.join(unknown)}, which are"
                    f" not in this comparison; backends: {', '.join(names)}"
                )
            grid_names = grid.backends
        for spec in expand_grid(grid, position, settings.spec_overrides):
            for name in grid_names:
                if _can_run(backends[name], spec, explicit, local_toolkits):
                    pairs.append((name, spec, settings.options.get(name, {})))
    if not pairs:
        raise IrisfwError("no backend can run this spec; see the warnings above")
    # Overlapping grids can produce one (backend, spec) twice; run it once.
    unique = {}
    for name, spec, options in pairs:
        unique.setdefault((name, spec), (name, spec, options))
    return list(unique.values())


def _can_run(
    backend: Any, spec: ModelSpec, explicit: bool, local_toolkit: bool
) -> bool:
    backend_class = type(backend)
    try:
        if local_toolkit and backend_class.toolkit_version() is None:
            raise SpecError(
                f"backend {backend_class.name!r} needs {backend_class.toolkit}, which is"
                f" not installed; pip install {backend_class.toolkit}"
            )
        backend.check_spec(spec)
    except SpecError as exc:
        if explicit:
            raise
        logger.warning(
            "skipping backend %r for %s: %s", backend_class.name, spec.label, exc
        )
        return False
    return True
