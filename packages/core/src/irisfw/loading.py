"""Read a data source (a CSV path or a dataset name) into a pandas table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from irisfw.errors import DataError

if TYPE_CHECKING:
    from irisfw.datasets import Dataset

DEFAULT_TARGET = "species"


@dataclass(frozen=True)
class Table:
    """A loaded table and the label column that the source suggests."""

    frame: pd.DataFrame
    source: str
    default_target: str


def load_table(source: str, datasets: dict[str, Dataset]) -> Table:
    """Load ``source``: an existing file path first, else a registered dataset."""
    path = Path(source).expanduser()
    if path.is_dir():
        raise DataError(f"data path {source!r} is a directory; pass a CSV file")
    if path.is_file():
        return Table(read_csv(path), str(source), DEFAULT_TARGET)
    dataset = datasets.get(source)
    if dataset is not None:
        return Table(dataset.load(), dataset.name, dataset.target)
    names = ", ".join(sorted(datasets)) or "none"
    raise DataError(
        f"data {source!r} not found: no such file and no dataset of that name;"
        f" pass a CSV path or one of: {names}"
    )


def read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV file, turning pandas' parse errors into one-line DataErrors."""
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"data file '{path}' is empty; pass a CSV with a header row"
        ) from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise DataError(f"data file '{path}' is not valid CSV: {detail}") from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file '{path}' is not UTF-8 text ({exc.reason} at byte {exc.start});"
            " save it as UTF-8 CSV"
        ) from None
    except OSError as exc:
        raise DataError(f"cannot read data file '{path}': {exc.strerror}") from None
    if frame.empty:
        raise DataError(f"data file '{path}' has a header but no rows")
    return frame


def resolve_target(frame: pd.DataFrame, target: str) -> str:
    """Return the column named ``target``, matched case-insensitively."""
    if target in frame.columns:
        return target
    matches = [
        column for column in frame.columns if str(column).lower() == target.lower()
    ]
    if len(matches) == 1:
        return str(matches[0])
    columns = ", ".join(str(column) for column in frame.columns)
    if len(matches) > 1:
        raise DataError(
            f"target {target!r} matches several columns ({', '.join(matches)});"
            " pass --target with the exact name"
        )
    raise DataError(
        f"target column {target!r} not found; columns are: {columns}; pass --target NAME"
    )
