"""Repeated seeds, cross-validation, summaries and the paired test."""

from __future__ import annotations

import numpy as np
import pytest

from irisfw.results import Comparison
from irisfw.splits import SplitPlan, make_splits
from irisfw.stats import corrected_paired_t_test, estimate

FAULTY = {"IRISFW_PLUGINS": "sklearn,faulty"}


@pytest.fixture(scope="module")
def iris_table():
    from irisfw.loading import load_table
    from irisfw.plugins import Plugins

    return load_table("iris", Plugins(environ={"IRISFW_PLUGINS": ""}).datasets)


def test_estimate_hand_computed():
    result = estimate([1.0, 2.0, 3.0, 4.0])

    assert result.mean == pytest.approx(2.5)
    assert result.std == pytest.approx(1.2909944)
    # t(0.975, 3) = 3.182446; half width = 3.182446 * 1.2909944 / 2 = 2.0542603
    assert result.ci_low == pytest.approx(2.5 - 2.0542603)
    assert result.ci_high == pytest.approx(2.5 + 2.0542603)
    assert result.n == 4


def test_estimate_interval_clipped_to_range():
    result = estimate([0.9, 0.95, 1.0], 0.0, 1.0)

    assert result.mean == pytest.approx(0.95)
    assert result.ci_high == 1.0
    # t(0.975, 2) = 4.302653; half width = 4.302653 * 0.05 / sqrt(3) = 0.1242069
    assert result.ci_low == pytest.approx(0.95 - 0.1242069)


def test_estimate_single_run_has_no_spread():
    result = estimate([0.9])

    assert result.mean == 0.9
    assert result.std is None
    assert result.ci_low is None


def test_corrected_t_test_hand_computed():
    # mean 0.2, variance 0.01, corrected variance (1/3 + 0.5) * 0.01
    statistic, p_value = corrected_paired_t_test([0.1, 0.2, 0.3], 0.5)

    assert statistic == pytest.approx(2.1908902)
    assert p_value == pytest.approx(0.1598319, abs=1e-6)


def test_corrected_t_test_identical_differences():
    assert corrected_paired_t_test([0.0, 0.0, 0.0], 0.4) == (None, 1.0)
    assert corrected_paired_t_test([0.1, 0.1], 0.4) == (None, 0.0)
    assert corrected_paired_t_test([0.1], 0.4) == (None, None)


def test_repeat_splits_use_consecutive_seeds(iris_table):
    prepared, infos = make_splits(iris_table, plan=SplitPlan(seed=5, repeats=3))

    assert [info.seed for info in infos] == [5, 6, 7]
    assert len({data.fingerprint for data in prepared}) == 3
    assert [info.fingerprint for info in infos] == [d.fingerprint for d in prepared]


def test_cv_folds_partition_rows(iris_table):
    prepared, infos = make_splits(iris_table, plan=SplitPlan(seed=0, cv=5))

    test_rows = np.concatenate([data.test_index for data in prepared])
    assert sorted(test_rows.tolist()) == list(range(150))
    assert [info.fold for info in infos] == [0, 1, 2, 3, 4]
    for data in prepared:
        assert len(data.y_test) == 30
        assert np.bincount(data.y_test).tolist() == [10, 10, 10]


def test_cv_scaler_fit_on_training_folds(iris_frame, iris_table):
    prepared, _ = make_splits(iris_table, plan=SplitPlan(seed=0, cv=3))
    features = iris_frame.drop(columns=["species"]).to_numpy(dtype=np.float64)

    for data in prepared:
        train = features[data.train_index]
        np.testing.assert_allclose(data.scaler_mean, train.mean(axis=0))
        np.testing.assert_allclose(data.scaler_scale, train.std(axis=0))


def test_cv_too_many_folds_rejected(iris_table):
    from irisfw.errors import DataError

    with pytest.raises(DataError, match="smallest class has 50"):
        make_splits(iris_table, plan=SplitPlan(cv=51))


def test_same_splits_reach_every_backend(run_cli, test_plugins_path):
    result = run_cli(
        "compare",
        *("-b", "sklearn", "-b", "constant", "--repeats", "3", "--epochs", "10"),
        *("--format", "json"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )

    comparison = Comparison.model_validate_json(result.stdout)
    assert len(comparison.splits) == 3
    assert len(comparison.runs) == 6
    for split in comparison.splits:
        runs = [run for run in comparison.runs if run.split == split.index]
        assert {run.backend for run in runs} == {"sklearn", "constant"}
        assert {run.fingerprint for run in runs} == {split.fingerprint}
        assert {run.seed for run in runs} == {split.seed}


def test_paired_test_flags_constant_backend(run_cli, test_plugins_path):
    result = run_cli(
        "compare",
        *("-b", "sklearn", "-b", "constant", "--repeats", "5", "--epochs", "60"),
        *("--format", "json"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )

    comparison = Comparison.model_validate_json(result.stdout)
    [test] = comparison.pairwise
    assert test.first == "sklearn"
    assert test.second == "constant"
    assert test.pairs == 5
    assert test.mean_difference > 0.5
    assert test.p_value < 0.05
    assert test.significant
    constant = next(group for group in comparison.summary if group.label == "constant")
    assert constant.test_accuracy.mean == pytest.approx(1 / 3)
    assert constant.test_accuracy.std == 0.0


def test_table_shows_mean_and_spread(run_cli, test_plugins_path):
    result = run_cli(
        "compare",
        *("-b", "sklearn", "-b", "constant", "--cv", "3", "--epochs", "30"),
        env=FAULTY,
        plugins_path=test_plugins_path,
    )

    assert result.returncode == 0, result.stderr
    assert "stratified 3-fold cross-validation" in result.stdout
    [row] = [line for line in result.stdout.splitlines() if "│ constant" in line]
    assert "0.333 +/- " in row
    assert "3/3" in row
    assert "sklearn vs constant: accuracy difference" in result.stdout
    assert "p = " in result.stdout
