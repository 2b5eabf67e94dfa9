"""Saved models: a toolkit's own model files plus a manifest the core owns.

A saved run is a folder::

    <backend>-<spec>-<seed>/
        manifest.json     # written last; everything needed to predict
        model/            # written by the backend, in its toolkit's safe format

The manifest records the backend, the plugin and toolkit versions, the spec,
the feature names in training order, the class names, the scaler statistics,
the data fingerprint, the metrics, and the SHA-256 of every file under
``model/``. Loading checks every hash before the backend reads a byte, so a
modified or truncated file is rejected. The core itself never unpickles
anything from the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from irisfw.errors import IrisfwError
from irisfw.results import Metrics, PluginInfo, ToolkitInfo
from irisfw.spec import ModelSpec

if TYPE_CHECKING:
    import numpy as np

    from irisfw.backends import Backend, FittedModel
    from irisfw.plugins import Plugins
    from irisfw.prepare import PreparedData

MANIFEST = "manifest.json"
MODEL_FOLDER = "model"
MANIFEST_FORMAT = "irisfw-model"
MANIFEST_VERSION = 1


class ModelError(IrisfwError):
    """A saved model is missing, modified, or cannot be loaded here."""


class ModelManifest(BaseModel):
    """Everything needed to apply a saved model to new rows."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["irisfw-model"] = MANIFEST_FORMAT
    format_version: int = MANIFEST_VERSION
    irisfw_version: str
    backend: str
    label: str
    plugin: PluginInfo
    toolkit: ToolkitInfo
    spec: ModelSpec
    options: dict[str, Any] = Field(default_factory=dict)
    target: str
    feature_names: list[str] = Field(description="Feature columns in training order.")
    class_names: list[str]
    scaler_mean: list[float]
    scaler_scale: list[float]
    fingerprint: str
    metrics: Metrics | None = None
    files: dict[str, str] = Field(
        description="SHA-256 of every file under model/, by path relative to it."
    )


def run_folder_name(backend: str, spec: ModelSpec, fold: int | None) -> str:
    """Return ``<backend>-<spec>-<seed>``, plus ``-fold<k>`` for cross-validation."""
    name = f"{backend}-{spec.label}-{spec.seed}"
    return name if fold is None else f"{name}-fold{fold}"


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _hash_tree(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): _hash_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def save_model(
    model: FittedModel,
    folder: Path,
    *,
    backend: str,
    label: str,
    plugin: PluginInfo,
    toolkit: ToolkitInfo,
    spec: ModelSpec,
    options: dict[str, Any],
    data: PreparedData,
    metrics: Metrics | None,
) -> None:
    """Save ``model`` with its manifest into ``folder``, replacing an old save."""
    from irisfw import __version__

    model_folder = folder / MODEL_FOLDER
    model_folder.mkdir(parents=True, exist_ok=True)
    for stale in [folder / MANIFEST, *sorted(model_folder.rglob("*"), reverse=True)]:
        if stale.is_file():
            stale.unlink()
        elif stale.is_dir():
            stale.rmdir()
    model.save(model_folder)
    manifest = ModelManifest(
        irisfw_version=__version__,
        backend=backend,
        label=label,
        plugin=plugin,
        toolkit=toolkit,
        spec=spec,
        options=options,
        target=data.target,
        feature_names=list(data.feature_names),
        class_names=list(data.class_names),
        scaler_mean=[float(value) for value in data.scaler_mean],
        scaler_scale=[float(value) for value in data.scaler_scale],
        fingerprint=data.fingerprint,
        metrics=metrics,
        files=_hash_tree(model_folder),
    )
    temporary = folder / f".{MANIFEST}.tmp"
    temporary.write_text(manifest.model_dump_json(indent=2))
    os.replace(temporary, folder / MANIFEST)


def read_manifest(folder: Path) -> ModelManifest:
    """Read and validate a saved model's manifest and file hashes."""
    if not folder.is_dir():
        raise ModelError(
            f"model folder '{folder}' not found; pass a folder that --save-models wrote"
        )
    path = folder / MANIFEST
    if not path.is_file():
        raise ModelError(
            f"'{folder}' has no {MANIFEST}; pass a folder that --save-models wrote"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"manifest '{path}' is not valid JSON ({exc}); save the model again"
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
        raise ModelError(
            f"'{path}' is not an irisfw model manifest; save the model again"
        )
    if raw.get("format_version") != MANIFEST_VERSION:
        raise ModelError(
            f"manifest '{path}' has format version {raw.get('format_version')!r}; this"
            f" irisfw reads version {MANIFEST_VERSION}"
        )
    try:
        manifest = ModelManifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ModelError(
            f"manifest '{path}' is invalid at {where}: {first['msg']}; save the model again"
        ) from None
    _check_files(folder / MODEL_FOLDER, manifest)
    return manifest


def _check_files(model_folder: Path, manifest: ModelManifest) -> None:
    found = _hash_tree(model_folder) if model_folder.is_dir() else {}
    missing = sorted(set(manifest.files) - set(found))
    if missing:
        raise ModelError(
            f"model file '{model_folder / missing[0]}' is missing; save the model again"
        )
    extra = sorted(set(found) - set(manifest.files))
    if extra:
        raise ModelError(
            f"unexpected file '{model_folder / extra[0]}' in the model folder; remove"
            " it or save the model again"
        )
    for name, expected in manifest.files.items():
        if found[name] != expected:
            raise ModelError(
                f"model file '{model_folder / name}' was modified or truncated"
                " (SHA-256 does not match the manifest); save the model again"
            )


def load_model(folder: Path, plugins: Plugins) -> tuple[ModelManifest, FittedModel]:
    """Check and load a saved model with its backend."""
    manifest = read_manifest(folder)
    try:
        entry = plugins.backend(manifest.backend)
    except IrisfwError as exc:
        raise ModelError(
            f"the model needs backend {manifest.backend!r} ({manifest.plugin.distribution}"
            f" {manifest.plugin.version}): {exc}"
        ) from None
    backend_class = entry.backend_class
    installed = backend_class.toolkit_version()
    if installed is None:
        raise ModelError(
            f"the model was saved with {manifest.toolkit.name} {manifest.toolkit.version},"
            f" which is not installed; pip install {manifest.toolkit.name}=={manifest.toolkit.version}"
        )
    backend: Backend = backend_class(backend_class.parse_options(manifest.options))
    try:
        model = backend.load(
            folder / MODEL_FOLDER,
            manifest.spec,
            n_features=len(manifest.feature_names),
            n_classes=len(manifest.class_names),
        )
    except NotImplementedError:
        raise ModelError(
            f"backend {manifest.backend!r} cannot load saved models"
        ) from None
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        toolkit = manifest.toolkit
        if installed == toolkit.version:
            raise ModelError(
                f"{toolkit.name} {installed} cannot load the model: {reason};"
                " save the model again"
            ) from None
        raise ModelError(
            f"{toolkit.name} {installed} cannot load the model saved with"
            f" {toolkit.name} {toolkit.version}: {reason};"
            f" install {toolkit.name}=={toolkit.version}"
        ) from None
    return manifest, model


def scale_features(manifest: ModelManifest, values: np.ndarray) -> np.ndarray:
    """Apply the saved StandardScaler statistics and return float32 rows."""
    import numpy as np

    mean = np.asarray(manifest.scaler_mean)
    scale = np.asarray(manifest.scaler_scale)
    return ((values - mean) / scale).astype(np.float32)
