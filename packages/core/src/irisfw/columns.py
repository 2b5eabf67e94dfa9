"""Pick the target column and the columns that must not become features.

A column is excluded when ``--drop-column`` names it or when it is empty in
every row. It is also excluded when it is a row identifier (a pandas or R
index, or integers that increase row by row) or maps one-to-one onto the
label, because both leak the label: Kaggle's Iris ``Id`` runs 1..150 in
class order, so a model can read the class off it. ``--keep-column``
overrides the automatic exclusions.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from irisfw.errors import DataError
from irisfw.results import ExcludedColumn

# Column names that usually hold the label, compared in lower case.
LABEL_NAMES = ("species", "class", "label", "target", "variety")
# A text or integer column with at most this many distinct values may be a label.
MAX_LABEL_VALUES = 20
# Names pandas and R give a written row index; compared in lower case.
INDEX_NAME = re.compile(r"unnamed: \d+|rownames|row\.names|index|id")
# Below this many rows, integers in increasing order are too likely by chance.
MIN_ROWS_FOR_ORDER = 10
# Rows whose distinct values are counted first when checking whether a column
# maps one-to-one onto the label. More distinct values there than labels in
# the whole column rule the mapping out without hashing every row.
ONE_TO_ONE_PREFIX_ROWS = 1000

DROPPED = "dropped by --drop-column"
EMPTY = "empty in every row"
ROW_INDEX = "row identifier with distinct values under an index name"
ROW_ORDER = "row identifier whose distinct integers increase row by row"


def resolve_target(frame: pd.DataFrame, target: str) -> str:
    """Return the column that ``target`` names: a name in any case, or an index.

    An integer that names no column is a 0-based position, negative from the
    end, so headerless files can pass ``--target 4`` or ``--target -1``.
    """
    columns = [str(column) for column in frame.columns]
    if target in columns:
        return target
    matches = [column for column in columns if column.lower() == target.lower()]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise DataError(
            f"target {target!r} matches several columns ({', '.join(matches)});"
            " pass --target with the exact name"
        )
    position = _integer(target)
    if position is not None:
        if -len(columns) <= position < len(columns):
            return columns[position]
        raise DataError(
            f"target index {position} is out of range for {len(columns)} columns;"
            f" pass --target with an index from 0 to {len(columns) - 1} or a name"
        )
    listed = ", ".join(columns)
    candidates = label_candidates(frame)
    if len(candidates) == 1:
        hint = (
            f"column {candidates[0]!r} looks like the label, so pass"
            f" --target {candidates[0]}"
        )
    elif candidates:
        hint = (
            f"columns {', '.join(map(repr, candidates))} look like labels;"
            " pass --target NAME"
        )
    else:
        hint = "pass --target NAME or a 0-based column index"
    raise DataError(
        f"target column {target!r} not found; columns are: {listed}; {hint}"
    )


def strip_labels(labels: pd.Series) -> pd.Series:
    """Strip whitespace around text labels; a label left empty becomes missing."""
    if pd.api.types.is_numeric_dtype(labels):
        return labels
    stripped = labels.map(
        lambda value: value.strip() if isinstance(value, str) else value
    )
    return stripped.mask(stripped == "")


def _integer(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def label_candidates(frame: pd.DataFrame) -> list[str]:
    """Return the columns that look like class labels, the likeliest first.

    A column named like a label comes first, then text columns with few
    distinct values, then integer columns with few distinct values.
    """
    named, text, integer = [], [], []
    for column in frame.columns:
        name = str(column)
        values = frame[column].dropna()
        if name.lower() in LABEL_NAMES:
            named.append(name)
            continue
        distinct = values.nunique()
        if not 2 <= distinct <= min(MAX_LABEL_VALUES, len(values) // 2):
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            text.append(name)
        elif (numbers == np.round(numbers)).all():
            integer.append(name)
    return named + text + integer


def resolve_columns(
    frame: pd.DataFrame, names: tuple[str, ...], option: str
) -> list[str]:
    """Match ``names`` to columns case-insensitively, or raise naming the option."""
    by_lower = {str(column).lower(): str(column) for column in frame.columns}
    resolved = []
    for name in names:
        column = name if name in frame.columns else by_lower.get(name.lower())
        if column is None:
            raise DataError(
                f"{option} {name!r} matches no column; columns are:"
                f" {', '.join(map(str, frame.columns))}"
            )
        resolved.append(column)
    return resolved


def find_excluded(
    frame: pd.DataFrame,
    target: str,
    labels: pd.Series,
    *,
    drop: tuple[str, ...],
    keep: tuple[str, ...],
) -> tuple[list[ExcludedColumn], list[str]]:
    """Return the excluded columns with reasons, and one warning per automatic one."""
    dropped = resolve_columns(frame, drop, "--drop-column")
    keep_names = set(resolve_columns(frame, keep, "--keep-column"))
    if target in dropped:
        raise DataError(
            f"--drop-column {target!r} names the target column; pass another"
            " --target or leave it out of --drop-column"
        )
    excluded = [ExcludedColumn(name=name, reason=DROPPED) for name in dropped]
    warnings = []
    label_count = labels.nunique()
    for column in frame.columns:
        if column == target or column in dropped or column in keep_names:
            continue
        reason = leak_reason(
            frame[column], str(column), labels, target, label_count=label_count
        )
        if reason is None:
            continue
        excluded.append(ExcludedColumn(name=str(column), reason=reason))
        warnings.append(
            f"excluded column {column!r} from the features: {reason}; pass"
            f" --keep-column {column} to keep it"
        )
    return excluded, warnings


def leak_reason(
    values: pd.Series,
    name: str,
    labels: pd.Series,
    target: str,
    *,
    label_count: int | None = None,
) -> str | None:
    """Return why the column should not be a feature, or None if it may be one.

    ``label_count`` is the number of distinct labels, when the caller has
    counted them already.

    NOTE: a shuffled identifier under a name other than the index names is
    not detected, because its values look like any integer feature.
    """
    present = values.dropna()
    if present.empty:
        return EMPTY
    # Strictly increasing values are distinct, so no count of distinct values
    # is needed for this check.
    if len(present) >= MIN_ROWS_FOR_ORDER and _increasing_integers(present):
        return ROW_ORDER
    if INDEX_NAME.fullmatch(name.strip().lower()) and present.nunique() == len(present):
        return ROW_INDEX
    if label_count is None:
        label_count = labels.nunique()
    if _one_to_one(values, labels, label_count):
        return f"maps one-to-one onto the label {target!r}"
    return None


def _increasing_integers(values: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    array = values.to_numpy(dtype=np.float64)
    return bool(
        np.all(np.isfinite(array))
        and np.all(array == np.round(array))
        and np.all(np.diff(array) > 0)
    )


def _one_to_one(values: pd.Series, labels: pd.Series, label_count: int) -> bool:
    """Return whether each value names one label and each label one value.

    ``label_count`` is the number of distinct labels in the whole column.
    """
    head = pd.DataFrame(
        {
            "value": values.iloc[:ONE_TO_ONE_PREFIX_ROWS],
            "label": labels.iloc[:ONE_TO_ONE_PREFIX_ROWS],
        }
    ).dropna()
    if head["value"].nunique() > label_count:
        # More distinct values than labels rule out a one-to-one mapping.
        return False
    both = pd.DataFrame({"value": values, "label": labels}).dropna()
    classes = both["label"].nunique()
    if classes < 2 or len(both) <= classes:
        return False
    pairs = len(both.drop_duplicates())
    return pairs == classes == both["value"].nunique()
