"""Options that control how a data source is read, shared by compare and inspect.

This module imports no pandas, so the CLI can build and check the options
before any heavy import.
"""

from __future__ import annotations

from dataclasses import dataclass

from irisfw.csvio import check_encoding, parse_delimiter
from irisfw.errors import DataError

MISSING_POLICIES = ("error", "drop")
CATEGORICAL_POLICIES = ("error", "encode")


@dataclass(frozen=True)
class DataOptions:
    """How to read a CSV file and which rows and columns to use.

    ``None`` for ``delimiter``, ``encoding`` and ``header`` means detect it.
    ``missing`` is ``error`` or ``drop`` (drop rows with missing or invalid
    values); ``categorical`` is ``error`` or ``encode`` (one-hot encode
    non-numeric feature columns).
    """

    delimiter: str | None = None
    encoding: str | None = None
    header: bool | None = None
    drop_columns: tuple[str, ...] = ()
    keep_columns: tuple[str, ...] = ()
    missing: str = "error"
    categorical: str = "error"

    def __post_init__(self) -> None:
        if self.delimiter is not None:
            object.__setattr__(self, "delimiter", parse_delimiter(self.delimiter))
        if self.encoding is not None:
            check_encoding(self.encoding)
        if self.missing not in MISSING_POLICIES:
            raise DataError(
                f"invalid --missing {self.missing!r}; choose one of:"
                f" {', '.join(MISSING_POLICIES)}"
            )
        if self.categorical not in CATEGORICAL_POLICIES:
            raise DataError(
                f"invalid --categorical {self.categorical!r}; choose one of:"
                f" {', '.join(CATEGORICAL_POLICIES)}"
            )
        both = {name.lower() for name in self.drop_columns} & {
            name.lower() for name in self.keep_columns
        }
        if both:
            raise DataError(
                f"column {sorted(both)[0]!r} is given to both --drop-column and"
                " --keep-column; pass it to one of them"
            )

    @property
    def csv_options_given(self) -> bool:
        return (self.delimiter, self.encoding, self.header) != (None, None, None)
