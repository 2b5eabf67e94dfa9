"""The scikit-learn backend trained for real on Iris."""

from __future__ import annotations

import pytest

from irisfw.errors import SpecError
from irisfw.plugins import Plugins
from irisfw.runner import RunRequest, execute_run
from irisfw.spec import ModelSpec
from irisfw_sklearn.backend import SklearnBackend


@pytest.fixture(scope="module")
def entry():
    return Plugins(environ={"IRISFW_PLUGINS": "sklearn"}).backend("sklearn")


def run(entry, data, **spec_values):
    return execute_run(RunRequest("sklearn", ModelSpec(**spec_values)), entry, data)


def test_default_spec_accuracy(entry, iris_data):
    result = run(entry, iris_data)

    assert result.status == "ok", result.error
    assert result.metrics.test_accuracy >= 0.9
    assert len(result.history) == 100
    assert result.history[-1].loss < result.history[0].loss


def test_same_seed_identical(entry, iris_data):
    first = run(entry, iris_data, seed=4)
    second = run(entry, iris_data, seed=4)

    assert first.metrics == second.metrics
    assert first.history == second.history


def test_seed_changes_weights(iris_data):
    first = SklearnBackend().fit(iris_data, ModelSpec(seed=1, epochs=3))
    second = SklearnBackend().fit(iris_data, ModelSpec(seed=2, epochs=3))

    assert (first.estimator.coefs_[0] != second.estimator.coefs_[0]).any()


def test_spec_fields_reach_estimator(iris_data):
    spec = ModelSpec(
        hidden_layers=(7, 5),
        activation="tanh",
        optimizer="sgd",
        learning_rate=0.05,
        epochs=12,
        batch_size=32,
        seed=9,
    )

    model = SklearnBackend().fit(iris_data, spec)

    estimator = model.estimator
    assert [coef.shape for coef in estimator.coefs_] == [(4, 7), (7, 5), (5, 3)]
    assert estimator.activation == "tanh"
    assert estimator.solver == "sgd"
    assert estimator.momentum == 0.0
    assert estimator.learning_rate_init == 0.05
    assert estimator.n_iter_ == 12
    assert len(model.history) == 12
    assert estimator.batch_size == 32
    assert estimator.random_state == 9
    assert estimator.alpha == 0.0


def test_full_batch_uses_all_rows(iris_data):
    model = SklearnBackend().fit(iris_data, ModelSpec(batch_size=None, epochs=3))

    assert model.estimator.batch_size == 105
    assert model.details["batch_size"] == 105


def test_batch_size_changes_training(iris_data):
    small = SklearnBackend().fit(iris_data, ModelSpec(batch_size=8, epochs=5))
    large = SklearnBackend().fit(iris_data, ModelSpec(batch_size=64, epochs=5))

    assert small.history[-1].loss != large.history[-1].loss


def test_mse_rejected_with_reason():
    with pytest.raises(SpecError, match="MLPClassifier only minimises cross-entropy"):
        SklearnBackend().check_spec(ModelSpec(loss="mse"))


def test_convergence_warning_recorded(entry, iris_data):
    result = run(entry, iris_data, epochs=2)

    assert any(w.startswith("ConvergenceWarning") for w in result.warnings)
