"""Saved models: round trip in a fresh process, column matching, tampering."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from irisfw.models import MANIFEST, read_manifest, save_model
from irisfw.plugins import Plugins
from irisfw.results import Comparison, PluginInfo, ToolkitInfo
from irisfw.spec import ModelSpec

BACKENDS = ["sklearn", "torch", "tensorflow", "keras"]
SPEC = ModelSpec(epochs=20)


@pytest.fixture(scope="module")
def plugins():
    return Plugins()


def raw_test_rows(iris_frame, iris_data):
    """Return the unscaled test rows, label removed, in a shuffled column order."""
    rows = iris_frame.iloc[iris_data.test_index].drop(columns=["species"])
    return rows[["petal_width", "sepal_length", "petal_length", "sepal_width"]]


def saved_model(tmp_path, plugins, backend_name, data):
    entry = plugins.backend(backend_name)
    backend = entry.backend_class()
    backend.load_toolkit()
    model = backend.fit(data, SPEC)
    folder = tmp_path / backend_name
    save_model(
        model,
        folder,
        backend=backend_name,
        label=backend.label,
        plugin=PluginInfo(
            distribution=entry.plugin.distribution, version=entry.plugin.version
        ),
        toolkit=ToolkitInfo(
            name=entry.backend_class.toolkit,
            version=entry.backend_class.toolkit_version(),
        ),
        spec=SPEC,
        options={},
        data=data,
        metrics=None,
    )
    return model, folder


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_predict_in_fresh_process_matches(
    backend_name, plugins, iris_frame, iris_data, tmp_path, run_cli
):
    model, folder = saved_model(tmp_path, plugins, backend_name, iris_data)
    expected = np.asarray(model.predict_proba(iris_data.x_test), dtype=np.float64)
    csv_path = tmp_path / "rows.csv"
    raw_test_rows(iris_frame, iris_data).to_csv(csv_path, index=False)

    result = run_cli("predict", str(folder), str(csv_path), "--format", "json")

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    names = list(iris_data.class_names)
    got = np.array([[row["probabilities"][name] for name in names] for row in rows])
    assert [row["predicted"] for row in rows] == [
        names[index] for index in expected.argmax(axis=1)
    ]
    np.testing.assert_allclose(
        got, expected / expected.sum(axis=1, keepdims=True), atol=1e-6
    )


def test_compare_saves_every_run(run_cli, tmp_path):
    folder = tmp_path / "models"

    result = run_cli(
        "compare",
        *("-b", "sklearn", "-b", "torch", "--epochs", "10", "--repeats", "2"),
        *("--save-models", str(folder), "--format", "json"),
    )

    assert result.returncode == 0, result.stderr
    comparison = Comparison.model_validate_json(result.stdout)
    names = sorted(path.name for path in folder.iterdir())
    assert names == [
        f"{backend}-16-relu-adam-lr0.01-e10-b16-cross_entropy-{seed}"
        for backend in ("sklearn", "torch")
        for seed in (0, 1)
    ]
    for run in comparison.runs:
        manifest = read_manifest(tmp_path / "models" / run.model_path.split("/")[-1])
        assert manifest.backend == run.backend
        assert manifest.fingerprint == run.fingerprint
        assert manifest.metrics == run.metrics
        assert manifest.feature_names == comparison.data.feature_names
        assert manifest.toolkit.version == run.toolkit.version


@pytest.fixture(scope="module")
def sklearn_folder(tmp_path_factory, iris_data):
    tmp_path = tmp_path_factory.mktemp("saved")
    _, folder = saved_model(tmp_path, Plugins(), "sklearn", iris_data)
    return folder


def copy_of(folder, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def feature_file(tmp_path, iris_frame, columns):
    path = tmp_path / "rows.csv"
    iris_frame.head(5)[columns].to_csv(path, index=False)
    return path


def test_predict_csv_format(run_cli, sklearn_folder, tmp_path, iris_frame):
    path = feature_file(
        tmp_path,
        iris_frame,
        ["sepal_length", "sepal_width", "petal_length", "petal_width"],
    )
    output = tmp_path / "predictions.csv"

    result = run_cli("predict", str(sklearn_folder), str(path), "--output", str(output))

    assert result.returncode == 0, result.stderr
    table = pd.read_csv(output)
    assert list(table.columns) == [
        "row",
        "predicted",
        "proba[setosa]",
        "proba[versicolor]",
        "proba[virginica]",
    ]
    assert table["predicted"].tolist() == ["setosa"] * 5


def test_predict_missing_feature_exit_two(
    run_cli, sklearn_folder, tmp_path, iris_frame
):
    path = feature_file(
        tmp_path, iris_frame, ["sepal_length", "petal_length", "petal_width"]
    )

    result = run_cli("predict", str(sklearn_folder), str(path))

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "feature columns missing: sepal_width" in result.stderr


def test_predict_label_column_exit_two(run_cli, sklearn_folder, tmp_path, iris_frame):
    path = tmp_path / "with_label.csv"
    iris_frame.head(5).to_csv(path, index=False)

    result = run_cli("predict", str(sklearn_folder), str(path))
    ignored = run_cli("predict", str(sklearn_folder), str(path), "--ignore-extra")

    assert result.returncode == 2
    assert "column 'species' is the label" in result.stderr
    assert ignored.returncode == 0, ignored.stderr


@pytest.mark.parametrize("how", ["append", "truncate"])
def test_modified_model_file_exit_two(
    run_cli, sklearn_folder, tmp_path, iris_frame, how
):
    folder = copy_of(sklearn_folder, tmp_path)
    model_file = folder / "model" / "model.skops"
    content = model_file.read_bytes()
    model_file.write_bytes(content + b"x" if how == "append" else content[:100])
    path = feature_file(
        tmp_path,
        iris_frame,
        ["sepal_length", "sepal_width", "petal_length", "petal_width"],
    )

    result = run_cli("predict", str(folder), str(path))

    assert result.returncode == 2
    assert "was modified or truncated" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda text: text[: len(text) // 2], "is not valid JSON"),
        (lambda text: text.replace('"irisfw-model"', '"other"'), "not an irisfw model"),
        (
            lambda text: text.replace('"setosa"', "12"),
            "is invalid at class_names",
        ),
    ],
)
def test_tampered_manifest_exit_two(
    run_cli, sklearn_folder, tmp_path, iris_frame, change, expected
):
    folder = copy_of(sklearn_folder, tmp_path)
    manifest = folder / MANIFEST
    manifest.write_text(change(manifest.read_text()))
    path = feature_file(
        tmp_path,
        iris_frame,
        ["sepal_length", "sepal_width", "petal_length", "petal_width"],
    )

    result = run_cli("predict", str(folder), str(path))

    assert result.returncode == 2
    assert expected in result.stderr


def test_untrusted_skops_type_rejected(sklearn_folder, tmp_path, plugins):
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    from irisfw.models import ModelError, _hash_file, load_model

    folder = copy_of(sklearn_folder, tmp_path)
    model_file = folder / "model" / "model.skops"
    skops.io.dump(FunctionTransformer(func=json.dumps), model_file)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"]["model.skops"] = _hash_file(model_file)
    (folder / MANIFEST).write_text(json.dumps(manifest))

    with pytest.raises(ModelError, match="not trusted"):
        load_model(folder, plugins)


def test_missing_model_folder_exit_two(run_cli, tmp_path):
    result = run_cli("predict", str(tmp_path / "none"), str(tmp_path / "x.csv"))

    assert result.returncode == 2
    assert "not found" in result.stderr
