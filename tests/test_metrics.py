"""The NumPy metrics give scikit-learn's values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from irisfw.metrics import check_probabilities, compute_metrics


def random_case(seed: int, rows: int, classes: int):
    generator = np.random.default_rng(seed)
    y_train = generator.integers(0, classes, rows)
    y_test = generator.integers(0, classes, rows)
    train = generator.dirichlet(np.ones(classes), rows).astype(np.float32)
    test = generator.dirichlet(np.ones(classes) * 0.3, rows).astype(np.float32)
    train_proba = check_probabilities(train, rows, classes)
    test_proba = check_probabilities(test, rows, classes)
    return y_train, train_proba, y_test, test_proba


@pytest.mark.parametrize(
    ("seed", "rows", "classes"), [(0, 45, 3), (1, 200, 2), (2, 30, 10), (3, 7, 5)]
)
def test_metrics_match_sklearn(seed, rows, classes):
    y_train, train_proba, y_test, test_proba = random_case(seed, rows, classes)
    names = tuple(f"c{i}" for i in range(classes))
    labels = np.arange(classes)
    test_pred = test_proba.argmax(axis=1)

    result = compute_metrics(y_train, train_proba, y_test, test_proba, names)

    precision, recall, f1, support = sk.precision_recall_fscore_support(
        y_test, test_pred, labels=labels, zero_division=0
    )
    assert result.train_accuracy == sk.accuracy_score(
        y_train, train_proba.argmax(axis=1)
    )
    assert result.test_accuracy == sk.accuracy_score(y_test, test_pred)
    assert result.test_log_loss == sk.log_loss(y_test, test_proba, labels=labels)
    assert result.macro_f1 == sk.f1_score(
        y_test, test_pred, labels=labels, average="macro", zero_division=0
    )
    assert result.confusion_matrix == (
        sk.confusion_matrix(y_test, test_pred, labels=labels).tolist()
    )
    assert [c.precision for c in result.per_class] == precision.tolist()
    assert [c.recall for c in result.per_class] == recall.tolist()
    assert [c.f1 for c in result.per_class] == f1.tolist()
    assert [c.support for c in result.per_class] == support.tolist()


def test_class_missing_from_test_rows():
    y_test = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [1, 0, 0]])

    result = compute_metrics(y_test, proba, y_test, proba, ("a", "b", "c"))

    assert result.per_class[2].support == 0
    assert result.per_class[2].precision == 0.0
    assert result.per_class[2].f1 == 0.0
    assert result.test_log_loss == sk.log_loss(y_test, proba, labels=[0, 1, 2])
