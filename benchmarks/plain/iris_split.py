"""The Iris split that irisfw prepares, built with pandas and scikit-learn only.

The labels are numbered in sorted order, the split is scikit-learn's
stratified ``train_test_split`` of the row positions with 30 % test rows and
``random_state=0``, and a StandardScaler fit on the training rows scales both
parts to float32. irisfw's ``prepare`` makes the same calls, so the arrays
are the same bytes; ``features_sha256`` lets a caller check that.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

IRIS_CSV = (
    Path(__file__).resolve().parents[2]
    / "packages"
    / "core"
    / "src"
    / "irisfw"
    / "resources"
    / "iris.csv"
)
TEST_SIZE = 0.3
SEED = 0


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return x_train, x_test (float32) and y_train, y_test (int64 class indices)."""
    frame = pd.read_csv(IRIS_CSV)
    features = frame.drop(columns="species").to_numpy(dtype=np.float64)
    _, labels = np.unique(frame["species"].to_numpy(dtype=str), return_inverse=True)
    train, test = train_test_split(
        np.arange(len(labels)), test_size=TEST_SIZE, random_state=SEED, stratify=labels
    )
    scaler = StandardScaler().fit(features[train])
    x_train = scaler.transform(features[train]).astype(np.float32)
    x_test = scaler.transform(features[test]).astype(np.float32)
    return (
        x_train,
        x_test,
        labels[train].astype(np.int64),
        labels[test].astype(np.int64),
    )


def features_sha256(x_train: np.ndarray, x_test: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x_train).tobytes())
    digest.update(np.ascontiguousarray(x_test).tobytes())
    return digest.hexdigest()


def report(
    toolkit: str,
    started: float,
    imported: float,
    fit_seconds: float,
    predict_seconds: float,
    test_accuracy: float,
    x_train: np.ndarray,
    x_test: np.ndarray,
) -> None:
    """Print the script's figures as one JSON line on stdout."""
    print(
        json.dumps(
            {
                "toolkit": toolkit,
                "import_seconds": imported - started,
                "fit_seconds": fit_seconds,
                "predict_seconds": predict_seconds,
                "test_accuracy": test_accuracy,
                "features_sha256": features_sha256(x_train, x_test),
                "script_seconds": time.perf_counter() - started,
            }
        )
    )
