"""``irisfw predict``: apply a saved model to the rows of a CSV file."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from irisfw.errors import DataError, IrisfwError
from irisfw.loading import read_feature_rows
from irisfw.models import ModelManifest, load_model, scale_features
from irisfw.plugins import Plugins

PREDICT_FORMATS = ("csv", "json")


def select_features(
    frame: pd.DataFrame, manifest: ModelManifest, *, ignore_extra: bool
) -> np.ndarray:
    """Return the model's feature columns, matched by name, in training order."""
    by_lower = {str(column).lower(): column for column in frame.columns}
    missing = [name for name in manifest.feature_names if name.lower() not in by_lower]
    if missing:
        raise DataError(
            f"feature columns missing: {', '.join(missing)}; the model needs"
            f" {', '.join(manifest.feature_names)}"
        )
    wanted = {name.lower() for name in manifest.feature_names}
    extra = [
        str(column) for column in frame.columns if str(column).lower() not in wanted
    ]
    if extra and not ignore_extra:
        label = [
            column for column in extra if column.lower() == manifest.target.lower()
        ]
        what = (
            f"column {label[0]!r} is the label the model predicts"
            if label
            else f"columns the model was not trained on: {', '.join(extra)}"
        )
        raise DataError(f"{what}; remove it or pass --ignore-extra")
    columns = [by_lower[name.lower()] for name in manifest.feature_names]
    features = frame[columns]
    non_numeric = [
        str(column)
        for column in columns
        if not pd.api.types.is_numeric_dtype(features[column])
    ]
    if non_numeric:
        raise DataError(f"feature columns are not numeric: {', '.join(non_numeric)}")
    values = features.to_numpy(dtype=np.float64)
    bad_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad_rows.size:
        first = ", ".join(str(row + 1) for row in bad_rows[:5])
        raise DataError(
            f"{bad_rows.size} rows have missing or non-finite feature values (first"
            f" data rows: {first}); fill or remove them"
        )
    return values


def render_predictions(
    manifest: ModelManifest, proba: np.ndarray, output_format: str
) -> str:
    predicted = [manifest.class_names[index] for index in proba.argmax(axis=1)]
    if output_format == "json":
        rows = [
            {
                "row": row + 1,
                "predicted": predicted[row],
                "probabilities": dict(
                    zip(manifest.class_names, map(float, proba[row]), strict=True)
                ),
            }
            for row in range(len(predicted))
        ]
        return json.dumps(rows, indent=2) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["row", "predicted", *(f"proba[{name}]" for name in manifest.class_names)]
    )
    for row in range(len(predicted)):
        writer.writerow([row + 1, predicted[row], *(f"{p:.6g}" for p in proba[row])])
    return buffer.getvalue()


def run_predict(
    model_dir: Path,
    data: Path,
    output: Path | None,
    output_format: str,
    *,
    ignore_extra: bool,
) -> None:
    from irisfw.commands import write_atomic
    from irisfw.metrics import check_probabilities

    if output_format not in PREDICT_FORMATS:
        raise IrisfwError(
            f"invalid --format {output_format!r}; choose one of: {', '.join(PREDICT_FORMATS)}"
        )
    if not data.is_file():
        raise DataError(f"data file '{data}' not found; pass a CSV file")
    manifest, model = load_model(model_dir, Plugins())
    values = select_features(
        read_feature_rows(data), manifest, ignore_extra=ignore_extra
    )
    proba = model.predict_proba(scale_features(manifest, values))
    try:
        proba = check_probabilities(proba, len(values), len(manifest.class_names))
    except ValueError as exc:
        raise IrisfwError(
            f"the saved model returned invalid probabilities: {exc}"
        ) from None
    text = render_predictions(manifest, proba, output_format)
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomic(output, text)
