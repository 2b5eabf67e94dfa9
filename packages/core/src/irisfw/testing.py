"""Conformance checks that every irisfw backend should pass.

In the spirit of scikit-learn's ``check_estimator``, a backend author runs
these checks against their backend class before publishing it::

    from irisfw.testing import backend_checks, check_backend

    check_backend(MyBackend)  # raises AssertionError listing every failure


    @pytest.mark.parametrize("check", backend_checks(MyBackend))
    def test_conformance(check):
        check()

Each check trains on Iris for a few epochs, so the whole suite takes seconds
for a small model. A check that fails raises ``ConformanceError``, an
``AssertionError`` whose message states what was expected, what the
backend did, and how to fix it.

The backend must be installed, because two checks look at its entry point:
loading the plugin in a fresh Python process must not import a numerical
toolkit, and the plugin must register the backend with its name, toolkit and
toolkit version.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Mapping
from functools import cached_property
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from irisfw.backends import Backend, FittedModel
from irisfw.errors import SpecError
from irisfw.results import EpochRecord
from irisfw.spec import ModelSpec

if TYPE_CHECKING:
    from irisfw.plugins import BackendEntry, Plugins
    from irisfw.prepare import PreparedData

__all__ = [
    "BASE_SPEC",
    "HEAVY_MODULES",
    "SPEC_VARIANTS",
    "Check",
    "ConformanceError",
    "backend_checks",
    "check_backend",
]

# Modules that loading a plugin must not import: the numerical toolkits, and
# pandas, which `irisfw backends` and `irisfw --help` also do without. The
# check adds the backend's own toolkit modules to these.
HEAVY_MODULES = ("jax", "keras", "pandas", "sklearn", "tensorflow", "torch")

# The spec every check trains unless it varies one field: small and short, so
# a fit takes well under a second for most toolkits.
BASE_SPEC = ModelSpec(
    hidden_layers=(8,),
    activation="relu",
    optimizer="adam",
    learning_rate=0.01,
    epochs=4,
    batch_size=16,
    loss="cross_entropy",
    seed=0,
)

# For each ModelSpec field, values that differ from BASE_SPEC. A backend that
# honours the field predicts different probabilities after training with
# each of them. Every value of a Literal field is listed.
SPEC_VARIANTS: dict[str, tuple[Any, ...]] = {
    "hidden_layers": ((8, 8), (12,)),
    "activation": ("tanh", "logistic"),
    "optimizer": ("sgd",),
    "learning_rate": (0.05,),
    "epochs": (7,),
    "batch_size": (None, 32),
    "loss": ("mse",),
    "seed": (1,),
}

# Largest absolute difference between two probability arrays that still
# counts as "the same predictions" when a spec field is varied.
SAME_PREDICTIONS_TOLERANCE = 1e-6
# float32 softmax rows sum to 1 within about 1e-7; the core renormalises rows
# off by up to 1e-3, but a conforming backend stays far closer.
ROW_SUM_TOLERANCE = 1e-4
TRACEBACK_LINES = 4


class ConformanceError(AssertionError):
    """A backend failed a conformance check; the message states how."""


class Check:
    """One named conformance check, called without arguments.

    ``__name__`` is the check's name, which pytest uses as the test id when
    a list of checks is passed to ``pytest.mark.parametrize``.
    """

    def __init__(self, name: str, function: Callable[[], None]) -> None:
        self.name = name
        self.__name__ = name
        self._function = function

    def __call__(self) -> None:
        self._function()

    def __repr__(self) -> str:
        return f"<Check {self.name}>"


def backend_checks(
    backend_class: type[Backend],
    *,
    options: Mapping[str, Any] | None = None,
    data: PreparedData | None = None,
    repeatable: bool = True,
) -> list[Check]:
    """Return the conformance checks for ``backend_class``, one callable each.

    ``options`` are raw backend option values, as ``-o NAME.KEY=VALUE``
    passes them. ``data`` replaces the prepared Iris data. Pass
    ``repeatable=False`` only for a backend whose toolkit cannot train
    deterministically on some engine. The check that one seed gives identical
    results is then left out, and the spec-field checks can no longer tell an
    ignored field from run-to-run noise.

    The checks share one fit of ``BASE_SPEC``, made by the first check that
    needs it.
    """
    subject = _Subject(backend_class, dict(options or {}), data)
    checks = [
        Check("plugin_import_is_light", subject.check_plugin_import_is_light),
        Check("registered_with_entry_point", subject.check_registered),
        Check("predict_proba_valid", subject.check_predict_proba),
        Check("history_one_record_per_epoch", subject.check_history),
    ]
    if repeatable:
        checks.append(Check("repeatable_with_seed", subject.check_repeatable))
    checks.append(Check("seed_changes_results", subject.check_seed_changes_results))
    for field in ModelSpec.model_fields:
        checks.append(
            Check(
                f"spec_{field}_honoured",
                lambda field=field: subject.check_spec_field(field),
            )
        )
    checks.append(Check("save_load_round_trip", subject.check_save_load))
    return checks


def check_backend(
    backend_class: type[Backend],
    *,
    options: Mapping[str, Any] | None = None,
    data: PreparedData | None = None,
    repeatable: bool = True,
) -> None:
    """Run every conformance check and raise AssertionError listing each failure.

    The arguments are those of ``backend_checks``.
    """
    failures = []
    checks = backend_checks(
        backend_class, options=options, data=data, repeatable=repeatable
    )
    for check in checks:
        try:
            check()
        except AssertionError as exc:
            failures.append(f"{check.name}: {exc}")
        except Exception as exc:
            failures.append(f"{check.name}: the check itself raised {_describe(exc)}")
    if failures:
        name = getattr(backend_class, "name", backend_class.__name__)
        listing = "\n".join(f"- {failure}" for failure in failures)
        raise ConformanceError(
            f"backend {name!r} failed {len(failures)} of {len(checks)} conformance"
            f" checks:\n{listing}"
        )


def _describe(exc: BaseException) -> str:
    """Return the exception's type and message and the last traceback lines."""
    lines = traceback.format_exception(exc)
    tail = "".join(lines[-TRACEBACK_LINES:]).rstrip()
    return f"{type(exc).__name__}: {exc}\n{tail}"


def _spec_text(spec: ModelSpec) -> str:
    changed = {
        name: value
        for name, value in spec.model_dump().items()
        if value != getattr(BASE_SPEC, name)
    }
    if not changed:
        return "the base spec"
    return "the base spec with " + ", ".join(
        f"{name}={value!r}" for name, value in changed.items()
    )


def _max_difference(first: np.ndarray, second: np.ndarray) -> float:
    if first.shape != second.shape:
        return math.inf
    return float(np.max(np.abs(first - second), initial=0.0))


def _difference_text(first: np.ndarray, second: np.ndarray) -> str:
    if first.shape != second.shape:
        return f"they have shapes {first.shape} and {second.shape}"
    return f"they differ by up to {_max_difference(first, second):.3g}"


def _probabilities(model: FittedModel, features: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict_proba(features), dtype=np.float64)


class _Subject:
    """The backend under test, with the fits that several checks share."""

    def __init__(
        self,
        backend_class: type[Backend],
        options: dict[str, Any],
        data: PreparedData | None,
    ) -> None:
        self.backend_class = backend_class
        self.options = options
        self._data = data

    @property
    def name(self) -> str:
        return getattr(self.backend_class, "name", self.backend_class.__name__)

    @cached_property
    def data(self) -> PreparedData:
        if self._data is not None:
            return self._data
        from irisfw.builtin import load_iris
        from irisfw.prepare import prepare

        return prepare(load_iris(), "species", source="iris", seed=0)

    def new_backend(self) -> Backend:
        """Create the backend as the runner does, from raw option values."""
        return self.backend_class(self.backend_class.parse_options(self.options))

    def fit(self, spec: ModelSpec) -> FittedModel:
        """Check the spec, load the toolkit and fit, in the runner's order.

        Raises SpecError when the backend rejects the spec, and ConformanceError
        when the backend raises anything else.
        """
        backend = self.new_backend()
        backend.check_spec(spec)
        try:
            backend.load_toolkit()
        except Exception as exc:
            raise ConformanceError(
                f"load_toolkit() raised {_describe(exc)}\nIt should import the"
                " toolkit and nothing more."
            ) from exc
        try:
            return backend.fit(self.data, spec)
        except SpecError:
            raise
        except Exception as exc:
            raise ConformanceError(
                f"fit() on {_spec_text(spec)} raised {_describe(exc)}"
            ) from exc

    @cached_property
    def base_model(self) -> FittedModel:
        try:
            return self.fit(BASE_SPEC)
        except SpecError as exc:
            raise ConformanceError(
                f"the backend rejected the base spec {BASE_SPEC!r} with SpecError:"
                f" {exc}. Every backend must train this spec (relu, adam,"
                " cross_entropy, mini-batches)."
            ) from exc

    @cached_property
    def base_probabilities(self) -> np.ndarray:
        return _probabilities(self.base_model, self.data.x_test)

    @cached_property
    def plugins(self) -> Plugins:
        """Load every installed plugin, whatever IRISFW_PLUGINS selects."""
        from irisfw.plugins import PLUGINS_ENV, STRICT_ENV, Plugins

        environ = {
            key: value
            for key, value in os.environ.items()
            if key not in (PLUGINS_ENV, STRICT_ENV)
        }
        return Plugins(environ=environ)

    def registered_entry(self) -> BackendEntry | None:
        for entry in self.plugins.backends.values():
            if entry.backend_class is self.backend_class:
                return entry
        return None

    def watched_modules(self) -> list[str]:
        modules = set(HEAVY_MODULES)
        toolkit_module = getattr(self.backend_class, "toolkit_module", None)
        if toolkit_module:
            modules.add(toolkit_module.partition(".")[0])
        toolkit = getattr(self.backend_class, "toolkit", None)
        if toolkit:
            distribution = _normalise(toolkit)
            for module, owners in packages_distributions().items():
                if any(_normalise(owner) == distribution for owner in owners):
                    modules.add(module)
        # The core imports these itself, so they do not count against the plugin.
        return sorted(modules - {"irisfw", "pydantic", "pluggy"})

    def check_plugin_import_is_light(self) -> None:
        entry = self.registered_entry()
        if entry is not None:
            target, how = entry.plugin.name, "plugin"
            description = (
                f"loading plugin {entry.plugin.name!r} (module {entry.plugin.module})"
            )
        else:
            target, how = self.backend_class.__module__, "module"
            description = (
                f"importing module {target} (no installed plugin registers this"
                " backend class)"
            )
        loaded = _probe_imports(how, target, self.watched_modules())
        if loaded:
            culprits = "; ".join(
                f"{module} (first imported at {origin})"
                for module, origin in sorted(loaded.items())
            )
            raise ConformanceError(
                f"expected {description} in a fresh Python process to import no"
                f" numerical toolkit, but it imported {culprits}. Import the"
                " toolkit inside Backend.fit, Backend.load and load_toolkit, not at"
                " the top of a module that the plugin imports; type hints can use"
                " an 'if TYPE_CHECKING:' import."
            )

    def check_registered(self) -> None:
        entry = self.registered_entry()
        if entry is None:
            raise ConformanceError(
                f"expected an installed plugin in the 'irisfw' entry-point group to"
                f" register {self.backend_class.__qualname__} with register(), but"
                f" {self._describe_missing_registration()}. Declare the plugin module"
                " under [project.entry-points.irisfw] in pyproject.toml, install the"
                " package, and call register() in its irisfw_register_backends hook."
            )
        problems = self._registration_problems(entry)
        if problems:
            raise ConformanceError(
                f"backend {self.name!r} is registered, but: " + "; ".join(problems)
            )

    def _describe_missing_registration(self) -> str:
        plugins = self.plugins
        same_name = plugins.backends.get(self.name)
        if same_name is None:
            found = f"no installed plugin registers {self.name!r}"
        else:
            owner = same_name.backend_class
            found = (
                f"the name {self.name!r} belongs to {owner.__module__}."
                f"{owner.__qualname__} from plugin {same_name.plugin.name!r}"
            )
        failed = [
            f"{plugin.name} ({plugin.distribution}): {plugin.error}"
            for plugin in plugins.plugins.values()
            if plugin.error
        ]
        if failed:
            found += f"; plugins that failed to load: {'; '.join(failed)}"
        return found

    def _registration_problems(self, entry: BackendEntry) -> list[str]:
        problems = []
        if entry.plugin.error:
            problems.append(
                f"plugin {entry.plugin.name!r} failed: {entry.plugin.error}"
            )
        if entry.error:
            problems.append(entry.error)

        name = getattr(self.backend_class, "name", None)
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
            problems.append(
                f"name is {name!r}; expected lower-case letters, digits, '-' or '_'"
                " starting with a letter, because users type it after --backend"
                " and in -o NAME.KEY=VALUE"
            )

        toolkit = getattr(self.backend_class, "toolkit", None)
        if not isinstance(toolkit, str) or not toolkit:
            problems.append(
                f"toolkit is {toolkit!r}; set it to the toolkit's distribution name,"
                " e.g. 'scikit-learn'"
            )
        elif self.backend_class.toolkit_version() is None:
            problems.append(
                f"toolkit {toolkit!r} has no installed distribution of that name, so"
                " irisfw cannot report its version; set toolkit to the name that"
                " 'pip show' knows, e.g. 'scikit-learn' rather than 'sklearn'"
            )

        if entry.plugin.version is None:
            problems.append(
                f"plugin {entry.plugin.name!r} has no distribution version; install"
                " the package rather than putting its folder on sys.path"
            )
        return problems

    def check_predict_proba(self) -> None:
        data = self.data
        cases = {
            "the test rows": data.x_test,
            "the training rows": data.x_train,
            "one row": data.x_test[:1],
        }
        for label, features in cases.items():
            _check_probability_array(
                self.base_model.predict_proba(features),
                rows=len(features),
                classes=data.n_classes,
                what=f"predict_proba on {label} ({features.shape[0]} rows)",
            )
        again = _probabilities(self.base_model, data.x_test)
        if _max_difference(self.base_probabilities, again) != 0:
            raise ConformanceError(
                "expected two predict_proba calls on the same rows to return equal"
                f" probabilities, but {_difference_text(self.base_probabilities, again)}."
                " Predict in inference mode: no dropout, no state updates."
            )

    def check_history(self) -> None:
        history = self.base_model.history
        epochs = BASE_SPEC.epochs
        if not isinstance(history, list) or not all(
            isinstance(record, EpochRecord) for record in history
        ):
            raise ConformanceError(
                "expected FittedModel.history to be a list of"
                f" irisfw.backends.EpochRecord, got {history!r:.200}"
            )
        if len(history) != epochs:
            raise ConformanceError(
                f"expected one history record per epoch, {epochs} for epochs={epochs},"
                f" but history has {len(history)}. Append one EpochRecord after every"
                " epoch."
            )
        numbers = [record.epoch for record in history]
        if numbers != list(range(1, epochs + 1)):
            raise ConformanceError(
                f"expected history epochs numbered 1 to {epochs}, got {numbers}"
            )
        for record in history:
            if not math.isfinite(record.loss):
                raise ConformanceError(
                    f"expected a finite training loss in every epoch, but epoch"
                    f" {record.epoch} has loss {record.loss}"
                )
            if record.accuracy is not None and not 0 <= record.accuracy <= 1:
                raise ConformanceError(
                    f"expected training accuracy between 0 and 1, but epoch"
                    f" {record.epoch} has accuracy {record.accuracy}"
                )

    def check_repeatable(self) -> None:
        second = self.fit(BASE_SPEC)
        probabilities = _probabilities(second, self.data.x_test)
        if _max_difference(self.base_probabilities, probabilities) != 0:
            difference = _difference_text(self.base_probabilities, probabilities)
            raise ConformanceError(
                f"expected two fits with seed {BASE_SPEC.seed} to predict identical"
                f" probabilities, but {difference}. Draw"
                " the initial weights and the shuffling from spec.seed alone, leave"
                " no random state from an earlier fit behind, and turn on the"
                " toolkit's deterministic mode; a toolkit that cannot be"
                " deterministic is checked with repeatable=False."
            )
        first_losses = [record.loss for record in self.base_model.history]
        second_losses = [record.loss for record in second.history]
        if first_losses != second_losses:
            raise ConformanceError(
                f"expected two fits with seed {BASE_SPEC.seed} to record identical"
                f" training losses, got {first_losses} and {second_losses}"
            )

    def check_seed_changes_results(self) -> None:
        spec = BASE_SPEC.model_copy(update={"seed": BASE_SPEC.seed + 1})
        other = _probabilities(self.fit(spec), self.data.x_test)
        difference = _max_difference(self.base_probabilities, other)
        if difference <= SAME_PREDICTIONS_TOLERANCE:
            raise ConformanceError(
                f"expected seeds {BASE_SPEC.seed} and {spec.seed} to give different"
                f" probabilities, but they differ by at most {difference:.3g}."
                " Seed the initial weights and the shuffling with spec.seed instead"
                " of a fixed number."
            )

    def check_spec_field(self, field: str) -> None:
        variants = SPEC_VARIANTS.get(field)
        if not variants:
            raise ConformanceError(
                f"irisfw.testing has no variant values for ModelSpec field {field!r};"
                " add them to SPEC_VARIANTS in irisfw/testing.py"
            )
        for value in variants:
            self._check_variant(field, value)

    def _check_variant(self, field: str, value: Any) -> None:
        spec = BASE_SPEC.model_copy(update={field: value})
        base_value = getattr(BASE_SPEC, field)
        try:
            model = self.fit(spec)
        except SpecError as exc:
            message = str(exc)
            if field in message or str(value) in message:
                return  # rejected with a message that names it
            raise ConformanceError(
                f"the backend rejected {field}={value!r} with SpecError({message!r}),"
                f" which names neither the field {field!r} nor the value {value!r}."
                " Say which value is not supported and what to use instead."
            ) from exc
        probabilities = _probabilities(model, self.data.x_test)
        difference = _max_difference(self.base_probabilities, probabilities)
        if difference <= SAME_PREDICTIONS_TOLERANCE:
            raise ConformanceError(
                f"expected {field}={value!r} to change the predictions of"
                f" {field}={base_value!r}, but the probabilities differ by at most"
                f" {difference:.3g}: the backend seems to ignore {field!r}. Honour"
                f" it, or raise SpecError naming {field!r} from check_spec."
            )

    def check_save_load(self) -> None:
        data = self.data
        with tempfile.TemporaryDirectory(prefix="irisfw-conformance-") as temporary:
            root = Path(temporary)
            folder = root / "model"
            folder.mkdir()
            try:
                self.base_model.save(folder)
            except NotImplementedError as exc:
                raise ConformanceError(
                    f"FittedModel.save is not implemented ({exc}), so 'irisfw compare"
                    " --save-models' cannot save this backend's models. Write the"
                    " model in the toolkit's own safe format in save(), and read it"
                    " back in Backend.load()."
                ) from exc
            except Exception as exc:
                raise ConformanceError(f"save() raised {_describe(exc)}") from exc
            written = sorted(path.name for path in folder.rglob("*") if path.is_file())
            outside = sorted(path.name for path in root.iterdir() if path != folder)
            if not written:
                raise ConformanceError(
                    f"expected save() to write the model into {folder}, but the folder"
                    " is empty"
                )
            if outside:
                raise ConformanceError(
                    f"expected save() to write only inside the folder it is given,"
                    f" but it also wrote {outside} beside it"
                )
            backend = self.new_backend()
            try:
                loaded = backend.load(
                    folder,
                    BASE_SPEC,
                    n_features=data.n_features,
                    n_classes=data.n_classes,
                )
            except NotImplementedError as exc:
                raise ConformanceError(
                    f"Backend.load is not implemented ({exc}), so 'irisfw predict'"
                    f" cannot read the files that save() wrote ({', '.join(written)})."
                    " Implement Backend.load."
                ) from exc
            except Exception as exc:
                raise ConformanceError(
                    f"load() of the files that save() wrote ({', '.join(written)})"
                    f" raised {_describe(exc)}"
                ) from exc
            if not isinstance(loaded, FittedModel):
                raise ConformanceError(
                    f"expected Backend.load to return a FittedModel, got {loaded!r:.200}"
                )
            probabilities = _probabilities(loaded, data.x_test)
        if _max_difference(self.base_probabilities, probabilities) != 0:
            difference = _difference_text(self.base_probabilities, probabilities)
            raise ConformanceError(
                "expected the loaded model to predict the same probabilities as the"
                f" saved one, but {difference}. Save every"
                " weight at full precision and rebuild the same architecture in load()."
            )


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _check_probability_array(
    result: object, *, rows: int, classes: int, what: str
) -> None:
    if not isinstance(result, np.ndarray):
        raise ConformanceError(
            f"expected {what} to return a numpy.ndarray, got {type(result).__name__};"
            " convert the toolkit's tensor with .numpy() or numpy.asarray"
        )
    if result.shape != (rows, classes):
        raise ConformanceError(
            f"expected {what} to return shape ({rows}, {classes}), one row per input"
            f" row and one column per class, got shape {result.shape}"
        )
    if not np.issubdtype(result.dtype, np.floating):
        raise ConformanceError(
            f"expected {what} to return floating-point probabilities, got dtype"
            f" {result.dtype}"
        )
    if not np.isfinite(result).all():
        bad = int((~np.isfinite(result)).any(axis=1).sum())
        raise ConformanceError(
            f"expected {what} to return finite probabilities, but {bad} rows contain"
            " NaN or infinity"
        )
    if result.min() < 0 or result.max() > 1 + ROW_SUM_TOLERANCE:
        raise ConformanceError(
            f"expected {what} to return probabilities between 0 and 1, got values"
            f" from {result.min():.6g} to {result.max():.6g}; apply the softmax to"
            " the logits"
        )
    sums = result.astype(np.float64).sum(axis=1)
    worst = int(np.abs(sums - 1).argmax())
    if abs(sums[worst] - 1) > ROW_SUM_TOLERANCE:
        raise ConformanceError(
            f"expected every row of {what} to sum to 1 within {ROW_SUM_TOLERANCE:g},"
            f" but row {worst} sums to {sums[worst]:.6g}; apply the softmax over the"
            " classes, axis 1"
        )


# Run in a fresh interpreter: load one plugin (or import one module) and print
# the watched modules it imported, each with the file and line that first
# imported it.
_IMPORT_PROBE = r"""
import importlib, importlib.abc, json, sys, traceback
watched = set(sys.argv[3].split(","))
origins = {}

class Watcher(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        root = name.partition(".")[0]
        if root in watched and root not in origins:
            frames = [
                frame for frame in traceback.extract_stack()[:-1]
                if not frame.filename.startswith("<")
            ]
            origins[root] = (
                f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "unknown"
            )
        return None

sys.meta_path.insert(0, Watcher())
how, target = sys.argv[1], sys.argv[2]
if how == "plugin":
    from irisfw.plugins import Plugins
    Plugins(environ={"IRISFW_PLUGINS": target, "IRISFW_STRICT_PLUGINS": "1"})
else:
    importlib.import_module(target)
loaded = {name: origins.get(name, "unknown") for name in watched if name in sys.modules}
print(json.dumps(loaded))
"""


def _probe_imports(how: str, target: str, watched: list[str]) -> dict[str, str]:
    """Load a plugin or module in a new interpreter and return the watched imports."""
    environ = dict(os.environ)
    # The child sees the same packages as this process, including folders
    # that tests add to sys.path at run time.
    environ["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    completed = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, how, target, ",".join(watched)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-TRACEBACK_LINES:])
        raise ConformanceError(
            f"loading {how} {target!r} in a fresh Python process failed with exit"
            f" code {completed.returncode}:\n{tail}"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])
