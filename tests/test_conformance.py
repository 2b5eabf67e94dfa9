"""The conformance suite: the built-in backends pass it, faulty backends fail it."""

from __future__ import annotations

import re
import typing

import pytest

from irisfw.backends import Backend
from irisfw.spec import ModelSpec
from irisfw.testing import (
    BASE_SPEC,
    SPEC_VARIANTS,
    Check,
    ConformanceError,
    backend_checks,
    check_backend,
)
from irisfw_keras.backend import KerasBackend
from irisfw_sklearn.backend import SklearnBackend
from irisfw_tensorflow.backend import TensorFlowBackend
from irisfw_torch.backend import TorchBackend


def builtin_backends() -> list[type[Backend]]:
    return [SklearnBackend, TorchBackend, TensorFlowBackend, KerasBackend]


def builtin_cases() -> list:
    return [
        pytest.param(check, id=f"{backend_class.name}-{check.name}")
        for backend_class in builtin_backends()
        for check in backend_checks(backend_class)
    ]


@pytest.mark.parametrize("check", builtin_cases())
def test_builtin_backend_conforms(check):
    check()


def test_spec_variants_cover_every_field():
    assert set(SPEC_VARIANTS) == set(ModelSpec.model_fields)
    for field, values in SPEC_VARIANTS.items():
        assert values, field
        for value in values:
            assert value != getattr(BASE_SPEC, field), field
            ModelSpec(**{**BASE_SPEC.model_dump(), field: value})


def test_spec_variants_cover_every_literal_value():
    for field, info in ModelSpec.model_fields.items():
        if typing.get_origin(info.annotation) is typing.Literal:
            allowed = set(typing.get_args(info.annotation))
            covered = {getattr(BASE_SPEC, field), *SPEC_VARIANTS[field]}
            assert covered == allowed, field


def test_check_names_are_pytest_ids():
    checks = backend_checks(SklearnBackend)
    names = [check.name for check in checks]

    assert all(isinstance(check, Check) for check in checks)
    assert [check.__name__ for check in checks] == names
    assert len(set(names)) == len(names)
    assert {f"spec_{field}_honoured" for field in ModelSpec.model_fields} <= set(names)
    assert "repeatable_with_seed" in names


def test_repeatable_false_leaves_out_repeat_check():
    names = [check.name for check in backend_checks(SklearnBackend, repeatable=False)]

    assert "repeatable_with_seed" not in names
    assert "seed_changes_results" in names


@pytest.fixture
def faulty(conformance_plugins_path, monkeypatch):
    """Put the faulty backends on sys.path and return their module."""
    monkeypatch.syspath_prepend(str(conformance_plugins_path))
    from irisfw_test_conformance import faults

    return faults


def failed_checks(error: AssertionError) -> dict[str, str]:
    """Map each failed check's name to its message in a check_backend error."""
    found = re.findall(r"^- ([a-z_]+): (.*)$", str(error), flags=re.MULTILINE)
    return dict(found)


def test_example_backend_passes(faulty):
    from irisfw_numpy_example.backend import NumpyBackend

    check_backend(NumpyBackend)


# Backend class name in irisfw_test_conformance.faults, the checks that its
# fault breaks, and a pattern the first check's message must contain.
FAULTS = [
    (
        "WrongShapeBackend",
        ("predict_proba_valid",),
        r"return shape \(45, 3\), one row per input row and one column per class,"
        r" got shape \(45, 2\)",
    ),
    (
        "UnseededBackend",
        ("repeatable_with_seed",),
        r"expected two fits with seed 0 to predict identical probabilities",
    ),
    (
        "IgnoresActivationBackend",
        ("spec_activation_honoured",),
        r"expected activation='tanh' to change the predictions of"
        r" activation='relu'.*ignore 'activation'",
    ),
    (
        "VagueRejectionBackend",
        ("spec_loss_honoured",),
        r"rejected loss='mse' with SpecError\('this is not supported'\), which names"
        r" neither the field 'loss' nor the value 'mse'",
    ),
    (
        "ShortHistoryBackend",
        ("history_one_record_per_epoch",),
        r"expected one history record per epoch, 4 for epochs=4, but history has 3",
    ),
    (
        "NoSaveBackend",
        ("save_load_round_trip",),
        r"FittedModel.save is not implemented",
    ),
    (
        "MisnamedToolkitBackend",
        ("registered_with_entry_point",),
        r"toolkit 'numpy-toolkit' has no installed distribution of that name",
    ),
    (
        "LogitsBackend",
        ("predict_proba_valid",),
        r"expected predict_proba on the test rows \(45 rows\) to return"
        r" probabilities between 0 and 1, got values from -",
    ),
]


@pytest.mark.parametrize(
    ("class_name", "check_names", "pattern"),
    FAULTS,
    ids=[fault[0] for fault in FAULTS],
)
def test_fault_fails_its_check(faulty, class_name, check_names, pattern):
    backend_class = getattr(faulty, class_name)

    with pytest.raises(ConformanceError) as error:
        check_backend(backend_class)

    failures = failed_checks(error.value)
    assert tuple(failures) == check_names, str(error.value)
    assert re.search(pattern, failures[check_names[0]]), failures[check_names[0]]
    assert str(error.value).startswith(
        f"backend {backend_class.name!r} failed {len(check_names)} of 15"
        " conformance checks:\n"
    )


def test_top_level_toolkit_import_named(faulty):
    from irisfw_test_conformance.heavy import HeavyImportBackend

    [check] = [
        check
        for check in backend_checks(HeavyImportBackend)
        if check.name == "plugin_import_is_light"
    ]

    with pytest.raises(ConformanceError) as error:
        check()

    message = str(error.value)
    assert "loading plugin 'conformance-heavy'" in message
    assert re.search(r"imported numpy \(first imported at \S+heavy\.py:5\)", message)


def test_unregistered_backend_named(faulty):
    from irisfw_numpy_example.backend import NumpyBackend

    class UnregisteredBackend(NumpyBackend):
        name = "unregistered"

    [check] = [
        check
        for check in backend_checks(UnregisteredBackend)
        if check.name == "registered_with_entry_point"
    ]

    with pytest.raises(ConformanceError, match="no installed plugin registers"):
        check()


def test_same_name_other_class_named(faulty):
    from irisfw_numpy_example.backend import NumpyBackend

    class CopiedBackend(NumpyBackend):
        pass

    [check] = [
        check
        for check in backend_checks(CopiedBackend)
        if check.name == "registered_with_entry_point"
    ]

    with pytest.raises(ConformanceError) as error:
        check()

    assert (
        "the name 'numpy' belongs to irisfw_numpy_example.backend.NumpyBackend"
        " from plugin 'numpy'" in str(error.value)
    )
