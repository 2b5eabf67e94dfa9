"""Classification metrics computed the same way for every backend.

The formulas are scikit-learn's ``accuracy_score``, ``log_loss``,
``precision_recall_fscore_support`` and ``f1_score`` with
``zero_division=0``, and ``confusion_matrix``. They are written with NumPy
in the same order of operations, so the values are the same, and
tests/test_metrics.py compares them with scikit-learn 1.9. Every run's
worker computes them, and importing ``sklearn.metrics`` there would cost it
about 1.5 s on the benchmark machine of docs/benchmarks.md.
"""

from __future__ import annotations

import numpy as np

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
    classes = len(class_names)
    test_pred = test_proba.argmax(axis=1)
    matrix = confusion_matrix(y_test, test_pred, classes)
    true_positives = np.diagonal(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _divide(true_positives, predicted)
    recall = _divide(true_positives, support)
    # F1 = 2 tp / (2 tp + fp + fn), which is 0 when a class is neither in
    # the test rows nor predicted.
    f1 = _divide(2.0 * true_positives, support + predicted)
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
        train_accuracy=float(np.mean(y_train == train_proba.argmax(axis=1))),
        test_accuracy=float(np.mean(y_test == test_pred)),
        test_log_loss=log_loss(y_test, test_proba),
        macro_f1=float(np.mean(f1)),
        per_class=per_class,
        confusion_matrix=matrix.tolist(),
    )


def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, classes: int
) -> np.ndarray:
    """Count the rows of each (true class, predicted class) pair."""
    pairs = np.asarray(y_true, dtype=np.int64) * classes + y_pred
    return np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def log_loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Return the mean negative log-probability of the true classes.

    Probabilities are clipped to [eps, 1 - eps] with eps of their dtype, as
    scikit-learn's ``log_loss`` does.
    """
    eps = np.finfo(proba.dtype).eps
    true_proba = np.clip(proba[np.arange(len(y_true)), y_true], eps, 1 - eps)
    return float(np.mean(-np.log(true_proba)))


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Divide element-wise as float64, with 0 where the denominator is 0."""
    safe = np.where(denominator == 0, 1, denominator).astype(np.float64)
    result = np.asarray(numerator, dtype=np.float64) / safe
    result[denominator == 0] = 0.0
    return result
