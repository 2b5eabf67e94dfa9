"""Result records: one RunResult per run, one Comparison per invocation.

These pydantic models are the JSON format that ``--format json`` writes.
``SCHEMA_VERSION`` changes whenever a field is renamed, removed or changes
meaning; adding an optional field keeps it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from irisfw.spec import ModelSpec

SCHEMA_VERSION = 1

RunStatus = Literal["ok", "failed"]


class EpochRecord(BaseModel):
    """Training loss and accuracy after one epoch."""

    epoch: int = Field(description="1-based epoch number.")
    loss: float = Field(description="Mean training loss over the epoch.")
    accuracy: float | None = Field(
        default=None, description="Training accuracy, when the backend measures it."
    )


class ClassMetrics(BaseModel):
    """Test-set precision and recall of one class."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int = Field(description="Test rows whose true label is this class.")


class Metrics(BaseModel):
    """Quality of a fitted model on the prepared split."""

    train_accuracy: float
    test_accuracy: float
    test_log_loss: float = Field(description="Cross-entropy in nats per test row.")
    macro_f1: float
    per_class: list[ClassMetrics]
    confusion_matrix: list[list[int]] = Field(
        description="Rows are true classes, columns predicted, in class_names order."
    )


class Timings(BaseModel):
    """Wall-clock seconds, each phase measured on its own."""

    fit_seconds: float | None = Field(
        default=None, description="Backend.fit, toolkit imports included."
    )
    predict_seconds: float | None = Field(
        default=None,
        description="predict_proba on the test rows, after one untimed warm-up call.",
    )


class ToolkitInfo(BaseModel):
    name: str = Field(description="Distribution name of the toolkit, e.g. torch.")
    version: str | None = Field(description="Installed version, None if missing.")


class PluginInfo(BaseModel):
    distribution: str
    version: str | None


class RunResult(BaseModel):
    """The outcome of training and evaluating one backend on one spec."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field(description="Backend name as passed to --backend.")
    label: str = Field(description="Backend name with its key options, for tables.")
    status: RunStatus
    error: str | None = None
    spec: ModelSpec
    seed: int
    options: dict[str, Any] = Field(default_factory=dict)
    metrics: Metrics | None = None
    timings: Timings = Field(default_factory=Timings)
    history: list[EpochRecord] = Field(default_factory=list)
    toolkit: ToolkitInfo
    plugin: PluginInfo
    fingerprint: str = Field(description="PreparedData fingerprint the run used.")
    warnings: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="Backend facts such as device, thread count or engine.",
    )


class ExcludedColumn(BaseModel):
    """A source column that was not used as a feature, and why."""

    name: str
    reason: str


class DataSummary(BaseModel):
    """What the prepared data contained, so a reader can check every run."""

    source: str = Field(description="Dataset name or CSV path.")
    target: str
    rows: int
    features: int
    feature_names: list[str]
    class_names: list[str]
    class_counts: list[int] = Field(description="Rows per class, in class order.")
    train_rows: int
    test_rows: int
    test_size: float
    split_seed: int
    fingerprint: str
    excluded_columns: list[ExcludedColumn] = Field(
        default_factory=list,
        description="Source columns left out of the features, with the reason.",
    )
    dropped_rows: int = Field(
        default=0, description="Rows removed by --missing drop, not counted in rows."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="Warnings from loading: excluded columns, dropped rows, guesses.",
    )


class Comparison(BaseModel):
    """Every run of one ``irisfw compare`` invocation."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    irisfw_version: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    data: DataSummary
    runs: list[RunResult] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(run.status == "ok" for run in self.runs)
