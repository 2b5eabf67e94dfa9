"""Comparison settings from a TOML file, with list values expanded into a grid.

Example::

    data = "iris"
    seed = 0
    repeats = 5
    backends = ["sklearn", "torch"]

    [options.torch]
    threads = 1

    [[specs]]
    hidden_layers = [[9], [9, 9], [9, 9, 9]]   # three specs
    learning_rate = [0.01, 0.1]                 # times two

    [[specs]]
    backends = ["sklearn"]                      # only for sklearn
    hidden_layers = [3, 20, 100]                # one spec: three layers

A field given a list of its values expands into one spec per value, and
several such fields into every combination. ``hidden_layers`` is a list of
layer sizes, so it expands only when given a list of lists. Command-line
options override the file: a spec option replaces that field in every spec.
"""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from irisfw.errors import IrisfwError
from irisfw.spec import ModelSpec, format_validation_error

SPEC_FIELDS = [name for name in ModelSpec.model_fields if name != "seed"]


class SpecGrid(BaseModel):
    """One ``[[specs]]`` table: spec fields, each a value or a list of values."""

    model_config = ConfigDict(extra="forbid")

    backends: list[str] | None = Field(
        default=None, description="Backends this grid applies to; default: all."
    )
    hidden_layers: Any = None
    activation: Any = None
    optimizer: Any = None
    learning_rate: Any = None
    epochs: Any = None
    batch_size: Any = None
    loss: Any = None


class CompareConfig(BaseModel):
    """The top level of a comparison config file."""

    model_config = ConfigDict(extra="forbid")

    data: str | None = None
    target: str | None = None
    seed: int | None = Field(default=None, ge=0)
    test_size: float | None = None
    repeats: int | None = Field(default=None, ge=1)
    cv: int | None = Field(default=None, ge=2)
    jobs: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    scheduler: str | None = Field(
        default=None,
        description="Dask scheduler address, or 'local' for a LocalCluster.",
    )
    backends: list[str] | None = None
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    specs: list[SpecGrid] = Field(default_factory=list)


def load_config(path: Path) -> CompareConfig:
    """Read and validate a config file, raising IrisfwError with a one-line message."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IrisfwError(
            f"config file '{path}' not found; pass an existing --config"
        ) from None
    except OSError as exc:
        raise IrisfwError(f"cannot read config file '{path}': {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise IrisfwError(f"config file '{path}' is not valid TOML: {exc}") from None
    try:
        return CompareConfig.model_validate(raw)
    except ValidationError as exc:
        raise IrisfwError(_config_error(path, exc)) from None


def _config_error(path: Path, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        key = _format_location(error["loc"])
        if error["type"] == "extra_forbidden":
            model = SpecGrid if "specs" in error["loc"] else CompareConfig
            allowed = ", ".join(model.model_fields)
            problems.append(f"{key}: unknown key; allowed keys: {allowed}")
        else:
            problems.append(f"{key}={error.get('input')!r}: {error['msg']}")
    return f"invalid config '{path}': " + "; ".join(problems)


def _format_location(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += (
            f"[{part}]"
            if isinstance(part, int)
            else (f".{part}" if text else str(part))
        )
    return text


# Marks a field the grid leaves out, so ModelSpec's default applies. TOML has
# no null, so None never comes from the file.
MISSING = object()


def _choices(name: str, value: Any) -> list[Any]:
    """Return the values a grid field expands into."""
    if value is None:
        return [MISSING]
    if name == "hidden_layers":
        if isinstance(value, int):
            return [(value,)]
        if (
            isinstance(value, list)
            and value
            and all(isinstance(v, list) for v in value)
        ):
            return [tuple(item) for item in value]
        return [tuple(value) if isinstance(value, list) else value]
    values = value if isinstance(value, list) else [value]
    if name == "batch_size":
        return [_batch_size(item) for item in values]
    return values


def _batch_size(value: Any) -> Any:
    """Map the spelling 'full' to None, which ModelSpec reads as full batch."""
    if isinstance(value, str) and value.lower() in {"full", "none"}:
        return None
    return value


def expand_grid(
    grid: SpecGrid, position: int, overrides: dict[str, Any]
) -> list[ModelSpec]:
    """Return every ModelSpec of one grid; ``overrides`` replace grid fields."""
    choices = [
        [overrides[name]] if name in overrides else _choices(name, getattr(grid, name))
        for name in SPEC_FIELDS
    ]
    specs = []
    for combination in itertools.product(*choices):
        values = {
            name: value
            for name, value in zip(SPEC_FIELDS, combination, strict=True)
            if value is not MISSING
        }
        try:
            specs.append(ModelSpec(**values))
        except ValidationError as exc:
            raise IrisfwError(
                format_validation_error(exc, f"spec in specs[{position}] of the config")
            ) from None
    return specs
