"""Read plain, clean CSV files fast: numbers go straight into NumPy columns.

The careful reader in ``irisfw.csvio`` splits every record in Python and
keeps each row's file line number for error messages. That costs seconds per
100,000 rows and several times the table's size in memory. Most large files
need none of it: one delimiter, a header on line 1 or none, and a finite
number in every feature cell. ``read_clean_csv`` reads such a file with
pyarrow's streaming CSV reader (or pandas' C parser when pyarrow is not
installed), chunk by chunk, into preallocated float64 columns.

It returns None as soon as anything differs from that case. That is a quirk
found in the sample (byte-order mark, Excel ``sep=`` line, space delimiter,
scikit-learn's metadata line, trailing empty fields, a header below line 1,
a quoted line break). It is also a problem found while reading (a wrong
field count, a missing, infinite or non-numeric feature value, an empty, NA
or padded label, NUL bytes). The caller then reads the file again with the careful
reader, which finds the same problem and reports it with line numbers. A
file read here gives the same table as the careful reader gives.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from irisfw.columns import resolve_target
from irisfw.csvio import (
    BINARY_SIGNATURES,
    BOMS,
    MISSING_TOKENS,
    SAMPLE_LINES,
    Dialect,
    _detect_delimiter,
    _has_newline,
    _HeaderReader,
    _parse,
    _strip_excel_separator_line,
    check_encoding,
    line_ending_name,
)
from irisfw.errors import DataError

logger = logging.getLogger(__name__)

ENGINES = ("pyarrow", "pandas")
# Bytes read per step when scanning the whole file for line endings and NULs.
SCAN_BYTES = 16 << 20
# Lines decoded for delimiter and header detection. The careful reader looks
# at the first SAMPLE_LINES lines, so the sample contains at least that many.
SAMPLE_LINE_COUNT = 2 * SAMPLE_LINES
SAMPLE_STEP_BYTES = 1 << 20
# A sample that needs more bytes than this (very long lines) is not read fast.
MAX_SAMPLE_BYTES = 64 << 20
# pyarrow's block size: large enough to amortise the per-block work, small
# enough that the parse buffers stay far below the size of the table.
# pyarrow reads ahead: with 4 MiB blocks its memory
# pool peaked at 150 MiB on a 180 MB file, with 1 MiB blocks at 40 MiB, and
# reading was no slower (pyarrow 26, benchmarks/scale.py).
ARROW_BLOCK_BYTES = 1 << 20
# Rows per chunk for pandas' C parser. Each chunk is copied into the
# preallocated columns, so the parser never keeps the whole file's text.
PANDAS_CHUNK_ROWS = 131072
# Parts of pandas' spellings of booleans: True, TRUE, true, False, FALSE, false.
PANDAS_BOOLEAN_PARTS = (b"rue", b"RUE", b"alse", b"ALSE")


class _NotClean(Exception):
    """The file needs the careful reader, for the reason in the message."""


@dataclass
class CleanCsv:
    """A CSV file read by ``read_clean_csv``.

    ``frame`` has the file's columns in file order: float64 features, and the
    label column (when there is one) typed as the careful reader types
    labels: float64 when every label is a finite number, else text.
    """

    frame: pd.DataFrame
    dialect: Dialect
    engine: str
    label: str | None


@dataclass
class _ByteScan:
    line_ending: str
    size: int


def default_engine() -> str:
    """Return ``pyarrow`` when pyarrow is installed, else ``pandas``."""
    return "pyarrow" if importlib.util.find_spec("pyarrow") is not None else "pandas"


def read_clean_csv(
    path: Path,
    *,
    delimiter: str | None,
    encoding: str | None,
    header: bool | None,
    target: str | None,
    header_target: str | None,
    engine: str | None = None,
) -> CleanCsv | None:
    """Read ``path`` fast when it is a plain, clean CSV file, else return None.

    ``delimiter``, ``encoding`` and ``header`` are the ``--delimiter``,
    ``--encoding`` and ``--header`` values (None: detect). ``target`` names
    the label column as ``--target`` does. When it is None, the label is
    ``header_target`` in a file with a header and the last column in a file
    without one. With both None, every column must be numeric. ``engine`` is
    ``pyarrow`` or ``pandas``; None picks pyarrow when it is installed.
    """
    engine = engine or default_engine()
    if engine not in ENGINES:
        raise ValueError(f"unknown CSV engine {engine!r}; expected one of {ENGINES}")
    try:
        return _read(path, delimiter, encoding, header, target, header_target, engine)
    except _NotClean as reason:
        logger.debug("reading '%s' with the careful CSV reader: %s", path, reason)
        return None


def _read(
    path: Path,
    delimiter: str | None,
    encoding: str | None,
    header: bool | None,
    target: str | None,
    header_target: str | None,
    engine: str,
) -> CleanCsv:
    if encoding is not None and check_encoding(encoding) != "utf-8":
        raise _NotClean(f"encoding {encoding} is not UTF-8")
    scan = _scan_bytes(path)
    used_delimiter, columns, header_kind = _sample_layout(
        path, _read_sample(path), delimiter, header
    )
    has_header = header_kind == "line 1"
    requested = target
    if requested is None and header_target is not None:
        requested = header_target if has_header else "-1"
    label = None
    if requested is not None:
        try:
            label = resolve_target(pd.DataFrame(columns=columns), requested)
        except DataError as exc:
            raise _NotClean(str(exc)) from None

    # A data row has at least one character per field, and a delimiter or
    # line end after each, so the file contains at most size / (2 * columns)
    # rows. np.empty only reserves that address space, and pages take memory
    # when rows are written into them.
    capacity = scan.size // (2 * len(columns)) + 1
    read = _read_with_pyarrow if engine == "pyarrow" else _read_with_pandas
    try:
        features, codes, uniques = read(
            path, used_delimiter, columns, has_header, label, capacity
        )
    except MemoryError:
        # The operating system may refuse to reserve that much address space
        # for a large file of short rows; count the lines and reserve that.
        features, codes, uniques = read(
            path, used_delimiter, columns, has_header, label, _count_lines(path)
        )
    for name, values in features.items():
        if not np.isfinite(values).all():
            raise _NotClean(f"column {name!r} has a missing or infinite value")

    data: dict[str, object] = {}
    for name in columns:
        if name == label:
            # An explicit dtype keeps text labels as object, as the careful
            # reader has them, where pandas would infer its string dtype.
            values = _labels(codes, uniques)
            data[name] = pd.Series(values, dtype=values.dtype, copy=False)
        else:
            data[name] = features[name]
    dialect = Dialect(
        encoding="utf-8",
        bom=False,
        delimiter=used_delimiter,
        line_ending=scan.line_ending,
        header=header_kind,
        delimiter_detected=delimiter is None,
        header_detected=header is None,
    )
    return CleanCsv(
        frame=pd.DataFrame(data, copy=False),
        dialect=dialect,
        engine=engine,
        label=label,
    )


def _scan_bytes(path: Path) -> _ByteScan:
    """Find the kinds of line ending and check the file's first bytes, chunk by chunk."""
    crlf = cr = 0
    lone_lf = False
    tail = b""
    size = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(SCAN_BYTES):
                if size == 0:
                    _check_start(chunk)
                size += len(chunk)
                # A CRLF split between two chunks.
                split = tail.endswith(b"\r") and chunk.startswith(b"\n")
                crlf += split
                # Most files have no CR, and one scan for it then suffices.
                chunk_cr = chunk.count(b"\r")
                if chunk_cr:
                    cr += chunk_cr
                    chunk_crlf = chunk.count(b"\r\n")
                    crlf += chunk_crlf
                    lone_lf = lone_lf or chunk.count(b"\n") > chunk_crlf + split
                else:
                    lone_lf = lone_lf or b"\n" in chunk[split:]
                tail = chunk[-1:]
    except OSError as exc:
        raise _NotClean(f"cannot read the file: {exc.strerror}") from None
    if size == 0:
        raise _NotClean("empty file")
    return _ByteScan(
        line_ending=line_ending_name(crlf, cr - crlf, int(lone_lf)), size=size
    )


def _count_lines(path: Path) -> int:
    """Return an upper bound of the file's lines: its LFs or CRs, plus one."""
    lf = cr = 0
    with path.open("rb") as handle:
        while chunk := handle.read(SCAN_BYTES):
            lf += chunk.count(b"\n")
            cr += chunk.count(b"\r")
    return max(lf, cr) + 1


def _check_start(chunk: bytes) -> None:
    for mark, _ in BOMS:
        if chunk.startswith(mark):
            raise _NotClean("byte-order mark")
    for signature, description in BINARY_SIGNATURES:
        if chunk.startswith(signature):
            raise _NotClean(description)


def _read_sample(path: Path) -> str:
    """Decode the file's first SAMPLE_LINE_COUNT lines, or all lines of a shorter file."""
    data = b""
    with path.open("rb") as handle:
        while True:
            step = handle.read(SAMPLE_STEP_BYTES)
            data += step
            at_end = len(step) < SAMPLE_STEP_BYTES
            # A CRLF counts twice here, so this may read more lines than needed.
            if at_end or data.count(b"\n") + data.count(b"\r") > SAMPLE_LINE_COUNT * 2:
                break
            if len(data) > MAX_SAMPLE_BYTES:
                raise _NotClean("lines too long for the sample")
    if not at_end:
        data = data[: max(data.rfind(b"\n"), data.rfind(b"\r")) + 1]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _NotClean("not UTF-8") from None
    return "".join(itertools.islice(io.StringIO(text, newline=""), SAMPLE_LINE_COUNT))


def _sample_layout(
    path: Path, sample: str, delimiter: str | None, header: bool | None
) -> tuple[str, list[str], str]:
    """Detect the delimiter, column names and header kind as the careful reader does.

    Returns the delimiter, the column names and the header kind (``line 1``
    or ``none``).
    """
    text, excel_delimiter = _strip_excel_separator_line(sample)
    if excel_delimiter is not None:
        raise _NotClean("Excel sep= line")
    if not text.strip():
        raise _NotClean("no text")
    if "\x00" in text:
        raise _NotClean("NUL bytes")
    try:
        used = delimiter or _detect_delimiter(path, text)
        if used == " ":
            raise _NotClean("space delimiter, where runs of spaces count as one")
        records = _parse(path, text, used)
        if not records:
            raise _NotClean("no records")
        reader = _HeaderReader(path, records, header, delimiter=used)
        layout = reader.read()
    except DataError as exc:
        raise _NotClean(str(exc)) from None
    if reader.header_kind not in ("line 1", "none"):
        raise _NotClean(f"header: {reader.header_kind}")
    if layout.warnings or layout.bad_rows or layout.class_names is not None:
        raise _NotClean("the sample has warnings, short or long rows, or class names")
    if any(_has_newline(cell) for _, cells in records for cell in cells):
        raise _NotClean("a quoted field spans lines")
    return used, layout.columns, reader.header_kind


class _Columns:
    """Preallocated float64 feature columns and label codes, filled chunk by chunk."""

    def __init__(self, names: list[str], label: str | None, capacity: int) -> None:
        self.features = {
            name: np.empty(capacity, dtype=np.float64)
            for name in names
            if name != label
        }
        self.codes = np.empty(capacity if label is not None else 0, dtype=np.int64)
        self.index: dict[object, int] = {}
        self.rows = 0
        self.capacity = capacity

    def reserve(self, rows: int) -> slice:
        if self.rows + rows > self.capacity:
            raise _NotClean("more rows than lines")
        part = slice(self.rows, self.rows + rows)
        self.rows += rows
        return part

    def add_labels(self, part: slice, codes: np.ndarray, uniques: list) -> None:
        """Store a chunk's label codes, renumbered into one table of distinct labels."""
        if (codes < 0).any():
            raise _NotClean("a missing label")
        renumber = np.array(
            [self.index.setdefault(value, len(self.index)) for value in uniques],
            dtype=np.int64,
        )
        self.codes[part] = renumber[codes]

    def result(self) -> tuple[dict[str, np.ndarray], np.ndarray, list]:
        if self.rows == 0:
            raise _NotClean("no data rows")
        features = {name: values[: self.rows] for name, values in self.features.items()}
        return features, self.codes[: self.rows], list(self.index)


def _read_with_pyarrow(
    path: Path,
    delimiter: str,
    columns: list[str],
    has_header: bool,
    label: str | None,
    capacity: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, list]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {name: pa.float64() for name in columns if name != label}
    if label is not None:
        types[label] = pa.string()
    reader_options = pacsv.ReadOptions(
        block_size=ARROW_BLOCK_BYTES,
        column_names=None if has_header else columns,
    )
    parse_options = pacsv.ParseOptions(
        delimiter=delimiter,
        quote_char='"',
        double_quote=True,
        escape_char=False,
        newlines_in_values=False,
        ignore_empty_lines=True,
    )
    convert_options = pacsv.ConvertOptions(
        column_types=types, strings_can_be_null=False, check_utf8=True
    )
    output = _Columns(columns, label, capacity)
    try:
        reader = pacsv.open_csv(
            path,
            read_options=reader_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        if reader.schema.names != columns:
            raise _NotClean("pyarrow reads other column names")
        for batch in reader:
            part = output.reserve(batch.num_rows)
            for position, name in enumerate(columns):
                column = batch.column(position)
                if column.null_count:
                    raise _NotClean(f"column {name!r} has a missing value")
                if name == label:
                    encoded = column.dictionary_encode()
                    output.add_labels(
                        part, encoded.indices.to_numpy(), encoded.dictionary.to_pylist()
                    )
                else:
                    output.features[name][part] = column.to_numpy()
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise _NotClean(f"pyarrow: {exc}") from None
    finally:
        # pyarrow's allocator keeps freed blocks for reuse; hand them back.
        pa.default_memory_pool().release_unused()
    return output.result()


def _read_with_pandas(
    path: Path,
    delimiter: str,
    columns: list[str],
    has_header: bool,
    label: str | None,
    capacity: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, list]:
    """Read the file in chunks with pandas' C parser, features as float64.

    The label is read as a category, so pandas keeps one object per distinct
    label instead of one string per row.
    """
    types: dict[str, object] = {name: np.float64 for name in columns if name != label}
    if label is not None:
        types[label] = "category"
    output = _Columns(columns, label, capacity)
    zeros_and_ones = False
    try:
        chunks = pd.read_csv(
            path,
            sep=delimiter,
            header=0 if has_header else None,
            names=None if has_header else columns,
            index_col=False,
            dtype=types,
            na_filter=False,
            quotechar='"',
            doublequote=True,
            skip_blank_lines=True,
            encoding="utf-8",
            engine="c",
            chunksize=PANDAS_CHUNK_ROWS,
        )
        with chunks:
            for chunk in chunks:
                if list(chunk.columns) != columns:
                    raise _NotClean("pandas reads other column names")
                part = output.reserve(len(chunk))
                for name in columns:
                    if name == label:
                        categorical = chunk[name]
                        output.add_labels(
                            part,
                            categorical.cat.codes.to_numpy(),
                            list(categorical.cat.categories),
                        )
                        continue
                    values = chunk[name].to_numpy()
                    output.features[name][part] = values
                    zeros_and_ones = zeros_and_ones or _only_zeros_and_ones(values)
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        raise _NotClean(f"pandas: {exc}") from None
    # pandas converts a chunk of a float64 column whose cells are all True,
    # TRUE, true, False, FALSE or false to 1.0 and 0.0, where the careful
    # reader sees text. Only then does a chunk column hold nothing but 0 and 1,
    # and only then is the file searched for those words.
    if zeros_and_ones and _has_boolean_words(path):
        raise _NotClean("a cell may be TRUE or FALSE, which pandas reads as 1 and 0")
    return output.result()


def _only_zeros_and_ones(values: np.ndarray) -> bool:
    return bool(np.all((values == 0) | (values == 1)))


def _has_boolean_words(path: Path) -> bool:
    """Return whether the file contains true or false in any of pandas' spellings."""
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(SCAN_BYTES):
            # The joined tail finds a word split between two chunks.
            joined = tail + chunk[:8]
            if any(part in chunk or part in joined for part in PANDAS_BOOLEAN_PARTS):
                return True
            tail = chunk[-8:]
    return False


def _labels(codes: np.ndarray, uniques: list) -> np.ndarray:
    """Return the labels as the careful reader types them.

    The careful reader reads labels that are all numbers with
    ``pandas.to_numeric``: int64 when all are integers, float64 otherwise.
    ``uniques`` holds the distinct labels as text (pyarrow) or, when pandas
    found them all numeric, as numbers. Text labels must read the same way
    in the careful reader: no whitespace around them, no quote character, no
    NUL, not a missing-value token.
    """
    if uniques and all(isinstance(value, str) for value in uniques):
        for value in uniques:
            if (
                value != value.strip()
                or '"' in value
                or "\x00" in value
                or value.lower() in MISSING_TOKENS
            ):
                raise _NotClean(f"label {value!r} needs the careful reader")
        numbers = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce")
    elif all(isinstance(value, int | float | np.number) for value in uniques):
        numbers = pd.Series(uniques)
    else:
        raise _NotClean("labels of mixed types")
    if pd.api.types.is_integer_dtype(numbers):
        return numbers.to_numpy(dtype=np.int64)[codes]
    values = numbers.to_numpy(dtype=np.float64)
    if np.isfinite(values).all():
        return values[codes]
    if not isinstance(uniques[0], str):
        # pandas read these labels as numbers, and NaN or inf among them has
        # no text form to keep.
        raise _NotClean("a label that is not a finite number")
    return np.array(uniques, dtype=object)[codes]
