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

RunStatus = Literal["ok", "failed", "timeout", "cancelled"]


class _Record(BaseModel):
    """Base of the result models.

    pydantic builds a model's validators on first use instead of at import,
    so commands that never create a result, such as ``irisfw backends``, do
    not pay for building them.
    """

    model_config = ConfigDict(defer_build=True)


class EpochRecord(_Record):
    """Training loss and accuracy after one epoch."""

    epoch: int = Field(description="1-based epoch number.")
    loss: float = Field(description="Mean training loss over the epoch.")
    accuracy: float | None = Field(
        default=None, description="Training accuracy, when the backend measures it."
    )


class ClassMetrics(_Record):
    """Test-set precision and recall of one class."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int = Field(description="Test rows whose true label is this class.")


class Metrics(_Record):
    """Quality of a fitted model on the prepared split."""

    train_accuracy: float
    test_accuracy: float
    test_log_loss: float = Field(description="Cross-entropy in nats per test row.")
    macro_f1: float
    per_class: list[ClassMetrics]
    confusion_matrix: list[list[int]] = Field(
        description="Rows are true classes, columns predicted, in class_names order."
    )


class Timings(_Record):
    """Wall-clock seconds, each phase measured on its own."""

    import_seconds: float | None = Field(
        default=None,
        description="Backend.load_toolkit: importing the toolkit in the worker.",
    )
    fit_seconds: float | None = Field(
        default=None, description="Backend.fit, after the toolkit was imported."
    )
    predict_seconds: float | None = Field(
        default=None,
        description="predict_proba on the test rows, after one untimed warm-up call.",
    )


class ToolkitInfo(_Record):
    name: str = Field(description="Distribution name of the toolkit, e.g. torch.")
    version: str | None = Field(description="Installed version, None if missing.")


class PluginInfo(_Record):
    distribution: str
    version: str | None


class RunResult(_Record):
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
    split: int = Field(
        default=0, description="Index into Comparison.splits of the run's split."
    )
    model_path: str | None = Field(
        default=None, description="Folder of the saved model, with --save-models."
    )
    warnings: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="Backend facts such as device, thread count or engine.",
    )
    threads: int | None = Field(
        default=None,
        description="CPU threads the run was allowed; None when not limited.",
    )
    worker_pid: int | None = Field(
        default=None, description="Process id of the process that ran it."
    )
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ExcludedColumn(_Record):
    """A source column that was not used as a feature, and why."""

    name: str
    reason: str


class DataSummary(_Record):
    """Summary of the prepared data, so a reader can check every run against it."""

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


class SplitInfo(_Record):
    """One train/test split that every backend trained on."""

    index: int
    seed: int = Field(description="Seed of the split, also the runs' model seed.")
    fold: int | None = Field(
        default=None, description="0-based fold with --cv, None for a holdout split."
    )
    folds: int | None = None
    train_rows: int
    test_rows: int
    fingerprint: str


class Estimate(_Record):
    """Mean of one metric over runs, with its spread."""

    mean: float
    std: float | None = Field(
        default=None, description="Sample standard deviation (n-1); None for 1 run."
    )
    ci_low: float | None = Field(
        default=None, description="Lower end of the 95% t confidence interval."
    )
    ci_high: float | None = None
    n: int


class GroupSummary(_Record):
    """Aggregate of all runs of one backend label and one spec."""

    label: str
    backend: str
    spec: str = Field(description="ModelSpec.label of the runs.")
    runs: int
    ok_runs: int
    test_accuracy: Estimate | None = None
    macro_f1: Estimate | None = None
    test_log_loss: Estimate | None = None
    median_fit_seconds: float | None = None


class PairwiseTest(_Record):
    """Paired comparison of test accuracy between two groups on shared splits."""

    first: str = Field(description="Label of the first group, with its spec.")
    second: str
    spec: str
    pairs: int = Field(description="Splits on which both groups have an ok run.")
    mean_difference: float = Field(description="Mean of first minus second.")
    statistic: float | None = None
    p_value: float | None = None
    significant: bool = Field(description="p_value < 0.05.")
    test: str = Field(description="Name of the statistical test used.")


class Environment(_Record):
    """The interpreter, machine and packages of the process that ran a comparison."""

    python_version: str = Field(description="Interpreter version, e.g. 3.11.7.")
    python_implementation: str = Field(description="Interpreter, e.g. CPython.")
    platform: str = Field(
        description="Operating system and machine, from platform.platform()."
    )
    cpu_count: int | None = Field(description="Logical CPUs, from os.cpu_count().")
    packages: dict[str, str | None] = Field(
        description="Installed version of each distribution, None if it is missing."
    )
    command_line: list[str] = Field(
        description="sys.argv, with the program reduced to its file name."
    )


class Comparison(_Record):
    """Every run of one ``irisfw compare`` invocation."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    irisfw_version: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    data: DataSummary
    splits: list[SplitInfo] = Field(default_factory=list)
    runs: list[RunResult] = Field(default_factory=list)
    summary: list[GroupSummary] = Field(default_factory=list)
    pairwise: list[PairwiseTest] = Field(default_factory=list)
    environment: Environment | None = Field(
        default=None,
        description="Where the comparison ran; None in files written before it was recorded.",
    )

    @property
    def ok(self) -> bool:
        return all(run.status == "ok" for run in self.runs)
