"""Classification metrics computed the same way for every backend."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)

from irisfw.results import ClassMetrics, Metrics

PROBABILITY_TOLERANCE = 1e-3


def check_probabilities(proba: object, rows: int, classes: int) -> np.ndarray:
    """Return ``proba`` as renormalised float64, or raise ValueError naming the fault."""
    array = np.asarray(proba, dtype=np.float64)
    if array.shape != (rows, classes):
        raise ValueError(
            f"predict_proba returned shape {array.shape}, expected ({rows}, {classes})"
        )
    if not np.isfinite(array).all():
        raise ValueError("predict_proba returned non-finite probabilities")
    sums = array.sum(axis=1)
    worst = float(np.abs(sums - 1).max())
    if worst > PROBABILITY_TOLERANCE:
        raise ValueError(
            f"predict_proba rows must sum to 1; the worst row sums to"
            f" {sums[np.abs(sums - 1).argmax()]:.6f}"
        )
    # float32 outputs drift from 1 by about 1e-7; log_loss warns unless renormalised.
    return array / sums[:, np.newaxis]


def compute_metrics(
    y_train: np.ndarray,
    train_proba: np.ndarray,
    y_test: np.ndarray,
    test_proba: np.ndarray,
    class_names: tuple[str, ...],
) -> Metrics:
    labels = np.arange(len(class_names))
    test_pred = test_proba.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_test, test_pred, labels=labels, zero_division=0
    )
    per_class = [
        ClassMetrics(
            name=name,
            precision=float(precision[i]),
            recall=float(recall[i]),
            f1=float(f1[i]),
            support=int(support[i]),
        )
        for i, name in enumerate(class_names)
    ]
    return Metrics(
        train_accuracy=float(accuracy_score(y_train, train_proba.argmax(axis=1))),
        test_accuracy=float(accuracy_score(y_test, test_pred)),
        test_log_loss=float(log_loss(y_test, test_proba, labels=labels)),
        macro_f1=float(
            f1_score(y_test, test_pred, labels=labels, average="macro", zero_division=0)
        ),
        per_class=per_class,
        confusion_matrix=confusion_matrix(y_test, test_pred, labels=labels).tolist(),
    )
