"""Read a data source (a CSV path or a dataset name) into a checked pandas table.

Steps: read the records (``irisfw.csvio``) or load the dataset, give each
column a type, resolve the target, exclude dropped and leaking columns
(``irisfw.columns``), then report or drop the rows with missing or invalid
values. Each warning is logged and also kept on the returned ``Table``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from irisfw.columns import find_excluded, resolve_target, strip_labels
from irisfw.csvio import (
    MISSING_TOKENS,
    Dialect,
    line_list,
    looks_numeric_with_comma,
    plural,
    read_records,
)
from irisfw.dataoptions import DataOptions
from irisfw.errors import DataError
from irisfw.fastcsv import read_clean_csv
from irisfw.results import ExcludedColumn

if TYPE_CHECKING:
    from irisfw.datasets import Dataset

DEFAULT_TARGET = "species"
# A column is numeric when more than this share of its values are numbers.
# Its text cells are then invalid values rather than categories.
NUMERIC_MAJORITY = 0.5

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Table:
    """A checked table: the feature columns and the target, one row per usable row.

    ``frame`` keeps the source's column order. Numeric features are float64,
    other features are text. ``rows_read`` counts the data rows in the
    source and ``dropped_rows`` those that ``--missing drop`` removed.
    ``csv_reader`` names the reader of a CSV file: ``pyarrow`` or ``pandas``
    (the fast path in ``irisfw.fastcsv``) or ``python`` (the careful reader
    in ``irisfw.csvio``). It is None for a dataset.
    """

    frame: pd.DataFrame
    source: str
    target: str
    excluded_columns: tuple[ExcludedColumn, ...] = ()
    warnings: tuple[str, ...] = ()
    dialect: Dialect | None = None
    rows_read: int = 0
    dropped_rows: int = 0
    csv_reader: str | None = None

    @property
    def feature_names(self) -> list[str]:
        return [str(column) for column in self.frame.columns if column != self.target]


@dataclass
class _Source:
    """A source's typed columns, before the target and the options are applied.

    ``text`` contains a CSV file's cells as strings (NaN where missing), from
    which the label column is typed. ``invalid`` marks text cells in a
    numeric column. ``lines`` contains each row's line in the file, or is
    None for a dataset, whose rows are numbered from 1. ``clean`` is true
    when the fast reader has checked that every feature cell is a finite
    number and every label is present, so no row needs checking again.
    """

    where: str
    frame: pd.DataFrame
    default_target: str
    text: pd.DataFrame | None = None
    invalid: dict[str, pd.Series] = field(default_factory=dict)
    lines: np.ndarray | None = None
    bad_rows: list[tuple[int, int]] = field(default_factory=list)
    class_names: list[str] | None = None
    dialect: Dialect | None = None
    warnings: list[str] = field(default_factory=list)
    clean: bool = False
    csv_reader: str | None = None

    def numbers(self, positions: np.ndarray) -> list[int]:
        """Return the line (CSV) or 1-based row (dataset) of each row position."""
        if self.lines is None:
            return [int(position) + 1 for position in positions]
        return [int(self.lines[position]) for position in positions]

    @property
    def row_noun(self) -> str:
        return "data row" if self.lines is None else "line"


def load_table(
    source: str,
    datasets: dict[str, Dataset],
    target: str | None = None,
    options: DataOptions | None = None,
    *,
    fast: bool = True,
) -> Table:
    """Load ``source``: an existing file path first, else a registered dataset.

    ``fast=False`` reads a CSV file with the careful reader only, skipping
    the fast path (``irisfw.fastcsv``) that is tried first otherwise.
    """
    options = options or DataOptions()
    path = Path(source).expanduser()
    if path.is_dir():
        raise DataError(f"data path {source!r} is a directory; pass a CSV file")
    if path.is_file():
        loaded = _read_csv_source(path, options, target=target, fast=fast)
    else:
        dataset = datasets.get(source)
        if dataset is None:
            names = ", ".join(sorted(datasets)) or "none"
            raise DataError(
                f"data {source!r} not found: no such file and no dataset of that name;"
                f" pass a CSV path or one of: {names}"
            )
        loaded = _dataset_source(dataset, options)
        source = dataset.name
    return _check(loaded, source, target, options)


def read_feature_rows(path: Path, options: DataOptions | None = None) -> pd.DataFrame:
    """Read a CSV file of rows to predict, with the same dialect detection.

    No label column is expected, so no target checks apply; invalid cells are
    left as NaN for the caller to report.
    """
    return _read_csv_source(path, options or DataOptions(), labelled=False).frame


def _read_csv_source(
    path: Path,
    options: DataOptions,
    *,
    target: str | None = None,
    labelled: bool = True,
    fast: bool = True,
) -> _Source:
    if fast:
        clean = read_clean_csv(
            path,
            delimiter=options.delimiter,
            encoding=options.encoding,
            header=options.header,
            target=target if labelled else None,
            header_target=DEFAULT_TARGET if labelled else None,
        )
        if clean is not None:
            has_header = clean.dialect.header.startswith("line")
            return _Source(
                where=f"data file '{path}'",
                frame=clean.frame,
                default_target=DEFAULT_TARGET if has_header else "-1",
                dialect=clean.dialect,
                clean=True,
                csv_reader=clean.engine,
            )
    records = read_records(
        path,
        delimiter=options.delimiter,
        encoding=options.encoding,
        header=options.header,
    )
    layout, dialect = records.layout, records.dialect
    text = pd.DataFrame(layout.rows, columns=layout.columns, dtype=object)
    text = text.mask(text.apply(lambda column: column.str.lower().isin(MISSING_TOKENS)))

    typed: dict[str, pd.Series] = {}
    invalid: dict[str, pd.Series] = {}
    comma_columns = []
    for column in layout.columns:
        typed[column], invalid_cells, comma = _type_column(
            text[column], dialect.delimiter
        )
        if invalid_cells is not None:
            invalid[column] = invalid_cells
        if comma:
            comma_columns.append(column)

    warnings = list(layout.warnings)
    if comma_columns:
        warnings.append(
            f"read ',' as the decimal mark in columns {', '.join(comma_columns)}"
        )
    has_header = dialect.header.startswith("line")
    return _Source(
        where=f"data file '{path}'",
        frame=pd.DataFrame(typed, index=text.index),
        default_target=DEFAULT_TARGET if has_header else "-1",
        text=text,
        invalid=invalid,
        lines=np.asarray(layout.lines, dtype=np.int64),
        bad_rows=layout.bad_rows,
        class_names=layout.class_names,
        dialect=dialect,
        warnings=warnings,
        csv_reader="python",
    )


def _type_column(
    text: pd.Series, delimiter: str
) -> tuple[pd.Series, pd.Series | None, bool]:
    """Type one CSV column: numbers when most cells are, else text.

    Returns the values, the mask of text cells in a numeric column (or None)
    and whether ',' was read as the decimal mark.
    """
    present = text.notna()
    numbers = pd.to_numeric(text, errors="coerce")
    if not present.any():
        return numbers.astype(np.float64), None, False
    share = numbers[present].notna().mean()
    if share <= NUMERIC_MAJORITY and delimiter != ",":
        values = [value for value in text[present] if isinstance(value, str)]
        if looks_numeric_with_comma(values):
            converted = pd.to_numeric(text.str.replace(",", ".", regex=False))
            return converted.astype(np.float64), None, True
    if share > NUMERIC_MAJORITY:
        invalid = present & numbers.isna()
        return numbers.astype(np.float64), invalid if invalid.any() else None, False
    return text, None, False


def _dataset_source(dataset: Dataset, options: DataOptions) -> _Source:
    frame = dataset.load().reset_index(drop=True)
    frame.columns = [str(column) for column in frame.columns]
    source = _Source(
        where=f"dataset {dataset.name!r}", frame=frame, default_target=dataset.target
    )
    if options.csv_options_given:
        source.warnings.append(
            f"--delimiter, --encoding and --header apply to CSV files; ignored them"
            f" for dataset {dataset.name!r}"
        )
    return source


def _check(
    loaded: _Source, source: str, target: str | None, options: DataOptions
) -> Table:
    frame = loaded.frame
    target_name = resolve_target(frame, target or loaded.default_target)
    labels, invalid_labels = _labels(loaded, target_name)
    excluded, warnings = find_excluded(
        frame,
        target_name,
        labels,
        drop=options.drop_columns,
        keep=options.keep_columns,
    )
    loaded.warnings.extend(warnings)
    excluded_names = {column.name for column in excluded}
    features = [
        str(column)
        for column in frame.columns
        if column != target_name and column not in excluded_names
    ]
    if not features:
        raise DataError(
            f"{loaded.where} has no feature columns besides target {target_name!r}"
            f" once {', '.join(sorted(excluded_names)) or 'nothing'} is excluded;"
            " pass --keep-column or another --target"
        )

    keep: np.ndarray | None = None
    dropped = 0
    problems = None
    if not loaded.clean:
        problems = _Problems(
            loaded, frame[features], labels, invalid_labels, target_name
        )
    if problems is not None and (problems.rows.any() or loaded.bad_rows):
        if options.missing != "drop":
            fix = "fix them or pass --missing drop to drop those rows"
            header_line = problems.header_read_as_data()
            if header_line is not None:
                fix = f"line {header_line} looks like a header, so pass --header"
            raise DataError(f"{loaded.where}: {problems.describe('have')}; {fix}")
        keep = ~problems.rows
        dropped = int(problems.rows.sum()) + len(loaded.bad_rows)
        loaded.warnings.append(f"dropped {problems.describe('with')}")
        if not keep.any():
            raise DataError(
                f"{loaded.where}: every row has missing or invalid values, so none"
                " is left after --missing drop; fix the file"
            )

    result = _result_frame(frame, features, target_name, labels, keep)
    for warning in loaded.warnings:
        logger.warning("%s", warning)
    return Table(
        frame=result,
        source=source,
        target=target_name,
        excluded_columns=tuple(excluded),
        warnings=tuple(loaded.warnings),
        dialect=loaded.dialect,
        rows_read=len(frame) + len(loaded.bad_rows),
        dropped_rows=dropped,
        csv_reader=loaded.csv_reader,
    )


def _result_frame(
    frame: pd.DataFrame,
    features: list[str],
    target: str,
    labels: pd.Series,
    keep: np.ndarray | None,
) -> pd.DataFrame:
    """Return the kept rows of the features and the final labels, in source order.

    With every row kept, the feature columns are shared with ``frame``
    (pandas copies on write), so a large table is not copied here.
    """
    columns: dict[str, pd.Series] = {}
    for column in frame.columns:
        if column == target:
            values = labels if keep is None else labels[keep]
            columns[column] = _final_labels(values)
        elif column in features:
            columns[column] = frame[column] if keep is None else frame[column][keep]
    return pd.DataFrame(columns, copy=False).reset_index(drop=True)


def _labels(loaded: _Source, target: str) -> tuple[pd.Series, pd.Series]:
    """Return the label of each row (NaN where empty) and the invalid-label mask."""
    no_invalid = pd.Series(False, index=loaded.frame.index)
    if loaded.clean:
        return loaded.frame[target], no_invalid
    if loaded.text is None:
        return strip_labels(loaded.frame[target]), no_invalid

    text = loaded.text[target]
    names = loaded.class_names
    if names is not None and target != loaded.text.columns[-1]:
        loaded.warnings.append(
            f"the class names on line 1 ({', '.join(names)}) name the values of the"
            f" last column, not of target {target!r}; they were not used"
        )
        names = None
    numbers = pd.to_numeric(text, errors="coerce")
    present = text.notna()
    if names is not None:
        valid = numbers.isin(range(len(names)))
        mapped = numbers.where(valid).map(
            lambda index: names[int(index)] if pd.notna(index) else np.nan
        )
        return mapped.astype(object), present & ~valid
    present_numbers = numbers[present]
    if present.any() and np.isfinite(present_numbers.to_numpy(dtype=np.float64)).all():
        return numbers, no_invalid
    return text, no_invalid


def _final_labels(labels: pd.Series) -> pd.Series:
    """Return integer labels as int64, so classes sort as numbers; others as given."""
    if not pd.api.types.is_float_dtype(labels):
        return labels
    values = labels.to_numpy()
    if np.isfinite(values).all() and (values == np.round(values)).all():
        return labels.astype(np.int64)
    return labels


class _Problems:
    """The rows with missing or invalid values in the features or the label."""

    def __init__(
        self,
        loaded: _Source,
        features: pd.DataFrame,
        labels: pd.Series,
        invalid_labels: pd.Series,
        target: str,
    ):
        self.loaded = loaded
        self.parts: list[str] = []
        invalid = pd.DataFrame(
            {
                column: loaded.invalid.get(
                    column, pd.Series(False, index=features.index)
                )
                for column in features.columns
            }
        )
        missing = features.isna() & ~invalid
        numeric = features.select_dtypes(include="number")
        infinite = pd.DataFrame(False, index=features.index, columns=features.columns)
        infinite[numeric.columns] = np.isinf(numeric.to_numpy(dtype=np.float64))
        empty_labels = labels.isna() & ~invalid_labels

        self._add_cells(missing, "missing values")
        self._add_cells(invalid, "non-numeric values", example=True)
        self.text_cells = invalid
        self._add_cells(infinite, "infinite values")
        if empty_labels.any():
            self.parts.append(f"empty labels: {target} {int(empty_labels.sum())}")
        if invalid_labels.any():
            last = len(loaded.class_names or []) - 1
            self.parts.append(
                f"labels that are not a class index 0..{last}: {target}"
                f" {int(invalid_labels.sum())}"
            )
        if loaded.bad_rows:
            self.parts.append(
                f"rows with a number of fields other than {loaded.frame.shape[1]}:"
                f" {len(loaded.bad_rows)}"
            )
        self.rows = (missing | invalid | infinite).any(axis=1).to_numpy() | (
            empty_labels | invalid_labels
        ).to_numpy()

    def _add_cells(self, mask: pd.DataFrame, kind: str, example: bool = False) -> None:
        counts = mask.sum()
        counts = counts[counts > 0]
        if counts.empty:
            return
        part = f"{kind}: " + ", ".join(
            f"{column} {count}" for column, count in counts.items()
        )
        if example:
            column = counts.index[0]
            position = int(np.flatnonzero(mask[column].to_numpy())[0])
            value = self.loaded.text[column].iloc[position]  # type: ignore[index]
            [number] = self.loaded.numbers(np.array([position]))
            part += f", e.g. {value!r} on {self.loaded.row_noun} {number}"
        self.parts.append(part)

    def header_read_as_data(self) -> int | None:
        """Return the first row's line when it looks like a header read as data.

        That is the case in a file read without a header whose first row has
        text in numeric columns. Returns None otherwise.
        """
        dialect = self.loaded.dialect
        if dialect is None or dialect.header != "none" or not self.rows[:1].any():
            return None
        if not self.text_cells.iloc[0].any():
            return None
        return self.loaded.numbers(np.array([0]))[0]

    def describe(self, relation: str) -> str:
        """Describe the rows, e.g. ``3 rows with missing ... at lines 7, 9 (...)``.

        ``relation`` joins the count to the problem: "have" or "with".
        """
        positions = np.flatnonzero(self.rows)
        numbers = sorted(
            self.loaded.numbers(positions) + [line for line, _ in self.loaded.bad_rows]
        )
        count = len(numbers)
        if relation == "have" and count == 1:
            relation = "has"
        return (
            f"{plural(count, 'row')} {relation} missing or invalid values at"
            f" {line_list(numbers, self.loaded.row_noun)} ({'; '.join(self.parts)})"
        )
