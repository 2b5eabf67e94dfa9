"""The data-preparation contract: one immutable PreparedData for every backend.

Steps, in order: validate the table, one-hot encode the labels, and split
with a seeded stratified split. Then one-hot encode text feature columns
when asked, fit a StandardScaler, and fingerprint the result. The encoder
and the scaler are fit on the training part only and applied to both parts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from irisfw.errors import DataError
from irisfw.results import DataSummary, ExcludedColumn

if TYPE_CHECKING:
    import pandas as pd

    from irisfw.loading import Table

# pandas and scikit-learn are imported inside the functions that prepare
# data, because a run's worker only loads PreparedData (load_prepared), and
# the two imports cost it about 2 s on the benchmark machine of
# docs/benchmarks.md.

DEFAULT_TEST_SIZE = 0.3

# Takes the integer labels, returns the training and test row positions.
Splitter = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True, eq=False)
class PreparedData:
    """Scaled float32 features and encoded labels, split once for all backends.

    Arrays are read-only. ``y_*`` hold integer class indices into
    ``class_names``; ``y_*_onehot`` hold the matching float32 one-hot rows.
    ``train_index`` and ``test_index`` are the 0-based positions of each
    part's rows in the loaded table. ``feature_names`` names the columns of
    ``x_*``: a one-hot encoded text column ``island`` becomes one column per
    training value, e.g. ``island_Biscoe``.
    """

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    y_train_onehot: np.ndarray
    y_test_onehot: np.ndarray
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    scaler_mean: np.ndarray
    scaler_scale: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray
    source: str
    target: str
    test_size: float
    split_seed: int
    fingerprint: str
    excluded_columns: tuple[ExcludedColumn, ...] = ()
    dropped_rows: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def summary(self) -> DataSummary:
        counts = np.bincount(
            np.concatenate([self.y_train, self.y_test]), minlength=self.n_classes
        )
        return DataSummary(
            source=self.source,
            target=self.target,
            rows=len(self.y_train) + len(self.y_test),
            features=self.n_features,
            feature_names=list(self.feature_names),
            class_names=list(self.class_names),
            class_counts=[int(count) for count in counts],
            train_rows=len(self.y_train),
            test_rows=len(self.y_test),
            test_size=self.test_size,
            split_seed=self.split_seed,
            fingerprint=self.fingerprint,
            excluded_columns=list(self.excluded_columns),
            dropped_rows=self.dropped_rows,
            warnings=list(self.warnings),
        )


def prepare_table(
    table: Table,
    *,
    test_size: float = DEFAULT_TEST_SIZE,
    seed: int = 0,
    categorical: str = "error",
    splitter: Splitter | None = None,
) -> PreparedData:
    """Prepare a loaded Table, carrying its exclusions and warnings along."""
    return prepare(
        table.frame,
        table.target,
        source=table.source,
        test_size=test_size,
        seed=seed,
        categorical=categorical,
        excluded_columns=table.excluded_columns,
        dropped_rows=table.dropped_rows,
        warnings=table.warnings,
        splitter=splitter,
    )


def prepare(
    frame: pd.DataFrame,
    target: str,
    *,
    source: str,
    test_size: float = DEFAULT_TEST_SIZE,
    seed: int = 0,
    categorical: str = "error",
    excluded_columns: Sequence[ExcludedColumn] = (),
    dropped_rows: int = 0,
    warnings: Sequence[str] = (),
    splitter: Splitter | None = None,
) -> PreparedData:
    """Validate, encode, split and scale ``frame`` into a PreparedData.

    ``categorical="encode"`` one-hot encodes text feature columns, with the
    encoder fit on the training rows; with ``"error"`` they are rejected.
    ``excluded_columns``, ``dropped_rows`` and ``warnings`` are recorded for
    the data summary. ``splitter`` receives the encoded integer labels and
    returns the training and test row positions; by default a stratified
    split of ``test_size`` seeded with ``seed``. ``seed`` is recorded as the
    split seed either way.
    """
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import OneHotEncoder

    from irisfw.columns import resolve_target, strip_labels

    if not 0 < test_size < 1:
        raise DataError(
            f"test size {test_size} is out of range; pass --test-size between 0 and 1"
        )
    target = resolve_target(frame, target)
    # Column selection shares the columns with ``frame`` (pandas copies on
    # write), where drop() could copy a large table's single block.
    features = frame[[column for column in frame.columns if column != target]]
    labels = strip_labels(frame[target])
    _validate(features, labels, target, encode=categorical == "encode")

    encoder = OneHotEncoder(sparse_output=False, dtype=np.float32)
    onehot = encoder.fit_transform(labels.to_numpy().reshape(-1, 1))
    categories = encoder.categories_[0]
    class_names = tuple(str(category) for category in categories)
    y = onehot.argmax(axis=1).astype(np.int64)
    _check_split_possible(y, class_names, test_size, target, features)

    if splitter is None:
        train_index, test_index = train_test_split(
            np.arange(len(y)), test_size=test_size, random_state=seed, stratify=y
        )
    else:
        train_index, test_index = splitter(y)
    x_train, x_test, mean, scale, feature_names = _scaled_features(
        features, train_index, test_index
    )

    arrays = {
        "x_train": x_train,
        "x_test": x_test,
        "y_train": y[train_index],
        "y_test": y[test_index],
        "y_train_onehot": onehot[train_index],
        "y_test_onehot": onehot[test_index],
        "scaler_mean": mean,
        "scaler_scale": scale,
        "train_index": train_index,
        "test_index": test_index,
    }
    for array in arrays.values():
        array.setflags(write=False)
    return PreparedData(
        **arrays,
        class_names=class_names,
        feature_names=feature_names,
        source=source,
        target=target,
        test_size=test_size,
        split_seed=seed,
        fingerprint=fingerprint(arrays, class_names, feature_names),
        excluded_columns=tuple(excluded_columns),
        dropped_rows=dropped_rows,
        warnings=tuple(warnings),
    )


def _is_text(column: pd.Series) -> bool:
    import pandas as pd

    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(
        column
    )


def _feature_columns(
    features: pd.DataFrame, train_index: np.ndarray
) -> list[tuple[str, np.ndarray]]:
    """Return each float64 feature column with its name, in order.

    Each text column becomes one-hot columns, in place, for the values seen
    in the training rows. A value seen only in test rows encodes as all zeros.
    Numeric columns are returned without a copy where pandas allows it.
    """
    from sklearn.preprocessing import OneHotEncoder

    columns: list[tuple[str, np.ndarray]] = []
    for column in features.columns:
        values = features[column]
        if not _is_text(values):
            columns.append((str(column), values.to_numpy(dtype=np.float64)))
            continue
        text = values.astype(str).to_numpy().reshape(-1, 1)
        encoder = OneHotEncoder(
            sparse_output=False, dtype=np.float64, handle_unknown="ignore"
        ).fit(text[train_index])
        encoded = encoder.transform(text)
        names = encoder.get_feature_names_out([str(column)])
        columns.extend(
            (str(name), encoded[:, position]) for position, name in enumerate(names)
        )
    return columns


def _scaled_features(
    features: pd.DataFrame, train_index: np.ndarray, test_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Scale each feature column by its training rows into float32 matrices.

    Returns the training and test matrices, the scaler's means and scales
    (float64) and the feature names. A StandardScaler is fit to one column
    at a time, and the column is scaled in float64 as its ``transform``
    does, then rounded to float32, so no float64 copy of the whole feature
    matrix is made. The scaled columns fill one row each of a transposed
    float32 buffer, which is faster than writing strided matrix columns,
    and one transpose gives the row-major matrices.
    """
    from sklearn.preprocessing import StandardScaler

    columns = _feature_columns(features, train_index)
    train_columns = np.empty((len(columns), len(train_index)), dtype=np.float32)
    test_columns = np.empty((len(columns), len(test_index)), dtype=np.float32)
    mean = np.empty(len(columns), dtype=np.float64)
    scale = np.empty(len(columns), dtype=np.float64)
    for position, (_, values) in enumerate(columns):
        train_values = values[train_index]
        scaler = StandardScaler().fit(train_values.reshape(-1, 1))
        mean[position] = scaler.mean_[0]
        scale[position] = scaler.scale_[0]
        for part, output in (
            (train_values, train_columns),
            (values[test_index], test_columns),
        ):
            part -= mean[position]
            part /= scale[position]
            output[position] = part
    x_train = np.ascontiguousarray(train_columns.T)
    del train_columns
    x_test = np.ascontiguousarray(test_columns.T)
    names = tuple(name for name, _ in columns)
    return x_train, x_test, mean, scale, names


def fingerprint(
    arrays: dict[str, np.ndarray],
    class_names: tuple[str, ...],
    feature_names: tuple[str, ...],
) -> str:
    """Hash the prepared arrays and names; equal fingerprints mean equal bytes."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        # Hashing the buffer itself avoids a copy of a large feature matrix.
        digest.update(memoryview(array).cast("B"))
    digest.update("\x1f".join(class_names).encode())
    digest.update(b"\x1e")
    digest.update("\x1f".join(feature_names).encode())
    return digest.hexdigest()[:16]


def _validate(
    features: pd.DataFrame, labels: pd.Series, target: str, *, encode: bool
) -> None:
    if features.shape[1] == 0:
        raise DataError(f"no feature columns besides target {target!r}")
    missing_labels = labels.isna()
    if missing_labels.any():
        rows = _first_rows(missing_labels)
        raise DataError(
            f"target {target!r} is empty in {int(missing_labels.sum())} rows"
            f" (first data rows: {rows}); fill or remove those rows"
        )
    text = [str(column) for column in features.columns if _is_text(features[column])]
    if text and not encode:
        drops = " ".join(f"--drop-column {column}" for column in text)
        raise DataError(
            f"feature columns are not numeric: {', '.join(text)}; pass --categorical"
            f" encode to one-hot encode them, or {drops} to leave them out"
        )
    # Checked column by column, so a large table is never copied as a whole.
    bad_rows = np.zeros(len(features), dtype=bool)
    columns = []
    for column in features.columns:
        values = features[column]
        if str(column) in text:
            invalid = values.isna().to_numpy()
        else:
            invalid = ~np.isfinite(values.to_numpy(dtype=np.float64))
        if invalid.any():
            bad_rows |= invalid
            columns.append(str(column))
    if columns:
        rows = _first_rows(bad_rows)
        raise DataError(
            f"{int(bad_rows.sum())} rows have missing or non-finite values in"
            f" {', '.join(columns)} (first data rows: {rows}); fill or remove them"
        )


def _first_rows(mask: pd.Series | np.ndarray, limit: int = 5) -> str:
    """Format the first data-row numbers (1-based, header excluded) where mask is true."""
    positions = np.flatnonzero(np.asarray(mask))[:limit] + 1
    return ", ".join(str(position) for position in positions)


def _check_split_possible(
    y: np.ndarray,
    class_names: tuple[str, ...],
    test_size: float,
    target: str,
    features: pd.DataFrame,
) -> None:
    counts = np.bincount(y, minlength=len(class_names))
    if len(class_names) < 2:
        raise DataError(
            f"target {target!r} has {len(class_names)} class"
            f" ({', '.join(class_names)}); classification needs at least 2, so pass"
            " another --target or data with more classes"
        )
    small = [
        (name, int(count))
        for name, count in zip(class_names, counts, strict=True)
        if count < 2
    ]
    if small:
        name, count = small[0]
        if len(small) > 1:
            from irisfw.columns import label_candidates

            candidates = label_candidates(features)
            fix = (
                f"pass --target {candidates[0]} if that column is the label"
                if candidates
                else "pass --target with the label column"
            )
            hint = (
                f"; {len(small) - 1} more classes have 1 row, so {target!r} may not be"
                f" a label column: {fix}"
            )
        else:
            hint = ", so add rows of that class or remove its row"
        raise DataError(
            f"class {name!r} has {count} row; a stratified split needs at least"
            f" 2 rows per class{hint}"
        )
    n_test = int(np.ceil(test_size * len(y)))
    n_train = len(y) - n_test
    if n_test < len(class_names) or n_train < len(class_names):
        raise DataError(
            f"a test size of {test_size} gives {n_test} test and {n_train} training"
            f" rows for {len(class_names)} classes; each part needs one row per"
            " class, so change --test-size"
        )


def save_prepared(data: PreparedData, directory: Path) -> None:
    """Write ``data`` as one ``.npy`` file per array plus ``meta.json``.

    Workers read it back with ``load_prepared``, memory-mapped, so the
    feature matrix is written once and never pickled per run.
    """
    directory.mkdir(parents=True, exist_ok=True)
    meta = {}
    for item in dataclasses.fields(data):
        value = getattr(data, item.name)
        if isinstance(value, np.ndarray):
            np.save(directory / f"{item.name}.npy", value, allow_pickle=False)
        elif item.name == "excluded_columns":
            meta[item.name] = [column.model_dump() for column in value]
        else:
            meta[item.name] = value
    (directory / "meta.json").write_text(json.dumps(meta))


def load_prepared(directory: Path) -> PreparedData:
    """Read a PreparedData written by ``save_prepared``."""
    meta = json.loads((directory / "meta.json").read_text())
    values = {}
    for item in dataclasses.fields(PreparedData):
        if item.name == "excluded_columns":
            values[item.name] = tuple(
                ExcludedColumn(**column) for column in meta.get(item.name, [])
            )
        elif item.name in meta:
            value = meta[item.name]
            values[item.name] = tuple(value) if isinstance(value, list) else value
        else:
            values[item.name] = np.load(
                directory / f"{item.name}.npy", mmap_mode="r", allow_pickle=False
            )
    return PreparedData(**values)
