"""Read a CSV file into string records: encoding, dialect, header, line numbers.

The reader keeps the file's own line numbers (header counted as line 1), so
every later message can point at a line a user can open. It imports only the
standard library; ``irisfw.loading`` turns the records into a typed table.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from irisfw.errors import DataError

# Delimiters tried when --delimiter is not given, in tie-break order. With a
# space, runs of spaces count as one delimiter.
DELIMITERS = (",", ";", "\t", "|", " ")
# The first line Excel writes to name the delimiter, e.g. ``sep=;``.
EXCEL_SEPARATOR_LINE = re.compile(r'"?sep=(.)"?')
DELIMITER_NAMES = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "\\t": "\t",
    "pipe": "|",
    "space": " ",
}
# Cells that mean "no value": pandas' default NA strings plus "?", which UCI
# files use. Compared case-insensitively after stripping whitespace.
MISSING_TOKENS = frozenset(
    {
        "",
        "na",
        "n/a",
        "#n/a",
        "#n/a n/a",
        "#na",
        "<na>",
        "nan",
        "-nan",
        "null",
        "?",
        "-1.#ind",
        "1.#ind",
        "-1.#qnan",
        "1.#qnan",
    }
)
# Lines read to detect the delimiter and the header.
SAMPLE_LINES = 500
# Share of a column's values below line 1 that must be numbers before a text
# cell on line 1 counts as a column name.
NUMERIC_SHARE = 0.8
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
BINARY_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive such as an Excel .xlsx workbook"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook"),
    (b"\x1f\x8b", "a gzip archive"),
)


@dataclass(frozen=True)
class Dialect:
    """The dialect a file was read with, and which parts were detected, not given.

    ``header`` is ``line N`` (the header's line: 1 unless blank lines come
    first), ``none``, or ``scikit-learn metadata``.
    """

    encoding: str
    bom: bool
    delimiter: str
    line_ending: str
    header: str
    delimiter_detected: bool
    header_detected: bool

    def describe(self) -> str:
        delimiter = {"\t": "tab", " ": "space"}.get(self.delimiter, self.delimiter)
        origin = "detected" if self.delimiter_detected else "given"
        header_origin = "detected" if self.header_detected else "given"
        bom = " with byte-order mark" if self.bom else ""
        return (
            f"encoding {self.encoding}{bom}, delimiter {delimiter!r} ({origin}),"
            f" line endings {self.line_ending}, header: {self.header} ({header_origin})"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "bom": self.bom,
            "delimiter": self.delimiter,
            "delimiter_detected": self.delimiter_detected,
            "line_ending": self.line_ending,
            "header": self.header,
            "header_detected": self.header_detected,
        }


@dataclass
class Layout:
    """The rows of a CSV file as stripped strings, with their file line numbers.

    ``rows`` all have ``len(columns)`` fields. Records with another field
    count are in ``bad_rows`` as (line, field count) and are not in ``rows``.
    ``class_names`` is set for scikit-learn's bundled files, whose last
    column contains indexes into it.
    """

    columns: list[str]
    rows: list[list[str]]
    lines: list[int]
    bad_rows: list[tuple[int, int]]
    class_names: list[str] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class CsvRecords:
    """A file's layout and the dialect it was read with."""

    layout: Layout
    dialect: Dialect


def parse_delimiter(text: str) -> str:
    """Return the one-character delimiter that ``--delimiter`` names."""
    delimiter = DELIMITER_NAMES.get(text.lower(), text)
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise DataError(
            f"invalid --delimiter {text!r}; pass one character such as ';' or a name:"
            f" {', '.join(DELIMITER_NAMES)}"
        )
    return delimiter


def check_encoding(name: str) -> str:
    """Return the codec name for ``--encoding``, or raise naming the fix."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise DataError(
            f"unknown --encoding {name!r}; pass a Python codec name such as utf-8,"
            " cp1252 or latin-1"
        ) from None


def is_missing(text: str) -> bool:
    return text.lower() in MISSING_TOKENS


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return "_" not in text


def read_records(
    path: Path,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    header: bool | None = None,
) -> CsvRecords:
    """Read ``path`` into records, detecting what ``None`` arguments leave open."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read data file '{path}': {exc.strerror}") from None
    text, used_encoding, bom = _decode(raw, path, encoding)
    if not text.strip():
        raise DataError(
            f"data file '{path}' is empty; pass a CSV file with a header row and data rows"
        )
    if "\x00" in text:
        raise DataError(
            f"data file '{path}' contains NUL bytes, so it is not {used_encoding} text;"
            " export it as CSV or pass the right --encoding (UTF-16 files need"
            " --encoding utf-16)"
        )

    given_delimiter = delimiter is not None
    text, excel_delimiter = _strip_excel_separator_line(text)
    if delimiter is None:
        delimiter = excel_delimiter or _detect_delimiter(path, text)
    records = _parse(path, text, delimiter)
    if not records:
        raise DataError(
            f"data file '{path}' has no rows; pass a CSV file with a header row and data rows"
        )

    reader = _HeaderReader(path, records, header, delimiter=delimiter)
    layout = reader.read()
    dialect = Dialect(
        encoding=used_encoding,
        bom=bom,
        delimiter=delimiter,
        line_ending=_line_ending(text),
        header=reader.header_kind,
        delimiter_detected=not given_delimiter,
        header_detected=header is None,
    )
    return CsvRecords(layout=layout, dialect=dialect)


def _decode(raw: bytes, path: Path, encoding: str | None) -> tuple[str, str, bool]:
    for signature, description in BINARY_SIGNATURES:
        if raw.startswith(signature):
            raise DataError(
                f"data file '{path}' is {description}, not CSV text;"
                " export it as CSV (comma-separated values) first"
            )
    bom_encoding = next((name for bom, name in BOMS if raw.startswith(bom)), None)
    if encoding is not None:
        name = check_encoding(encoding)
        # A UTF-8 BOM is dropped even when --encoding utf-8 is given.
        if name == "utf-8" and bom_encoding == "utf-8-sig":
            name = "utf-8-sig"
    else:
        name = bom_encoding or "utf-8"
    try:
        text = raw.decode(name)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        if encoding is None:
            fix = (
                "pass --encoding with the file's encoding, e.g. --encoding cp1252"
                " for a Windows or Excel export, or save it as UTF-8"
            )
        else:
            fix = "pass the file's real --encoding"
        raise DataError(
            f"data file '{path}' is not valid {name} text (byte 0x{raw[exc.start]:02x}"
            f" at line {line}); {fix}"
        ) from None
    display = "utf-8" if name == "utf-8-sig" else name
    return text.lstrip("\ufeff"), display, bom_encoding is not None


def _strip_excel_separator_line(text: str) -> tuple[str, str | None]:
    """Blank out a leading ``sep=X`` line and return X; line numbers stay put."""
    offset = 0
    for line in io.StringIO(text, newline=""):
        content = line.strip()
        if content:
            match = EXCEL_SEPARATOR_LINE.fullmatch(content)
            if match is None:
                return text, None
            ending = line[len(line.rstrip("\r\n")) :]
            return text[:offset] + ending + text[offset + len(line) :], match.group(1)
        offset += len(line)
    return text, None


def _line_ending(text: str) -> str:
    crlf = text.count("\r\n")
    return line_ending_name(crlf, text.count("\r") - crlf, text.count("\n") - crlf)


def line_ending_name(crlf: int, cr: int, lf: int) -> str:
    """Name the line endings from the counts of CRLF, lone CR and lone LF."""
    kinds = [name for name, count in (("CRLF", crlf), ("CR", cr), ("LF", lf)) if count]
    if not kinds:
        return "none (one line)"
    return kinds[0] if len(kinds) == 1 else "mixed " + "/".join(kinds)


def _sample(text: str) -> str:
    lines = itertools.islice(io.StringIO(text, newline=""), SAMPLE_LINES)
    return "".join(line for line in lines if line.strip())


def _detect_delimiter(path: Path, text: str) -> str:
    """Pick the candidate delimiter that splits the sample most consistently.

    A candidate scores by the share of sample lines that have its most common
    field count (at least 2, empty fields at the end of a line not counted),
    then by the share of fields that read as numbers. ``csv.Sniffer`` breaks
    ties, since it also weighs quoting.
    """
    sample = _sample(text)
    scores: dict[str, tuple[float, float]] = {}
    for candidate in DELIMITERS:
        records = [
            _trim_trailing_empty([cell.strip() for cell in record], 0)
            for record in csv.reader(
                io.StringIO(sample, newline=""),
                delimiter=candidate,
                skipinitialspace=True,
                strict=False,
            )
            if record
        ]
        widths = Counter(len(record) for record in records)
        width, count = widths.most_common(1)[0] if widths else (0, 0)
        if width < 2:
            continue
        cells = [cell for record in records for cell in record]
        numeric = sum(is_number(cell.replace(",", ".", 1)) for cell in cells)
        scores[candidate] = (count / len(records), numeric / max(len(cells), 1))
    if not scores:
        raise DataError(
            f"cannot detect the delimiter of '{path}': no comma, semicolon, tab, '|'"
            " or space splits its lines into 2 or more fields; pass --delimiter"
        )
    best = max(scores.values())
    tied = [candidate for candidate, score in scores.items() if score == best]
    if len(tied) > 1:
        try:
            sniffed = csv.Sniffer().sniff(sample[:65536], delimiters="".join(tied))
        except csv.Error:
            sniffed = None
        if sniffed is not None and sniffed.delimiter in tied:
            return sniffed.delimiter
    return tied[0]


Record = tuple[int, list[str]]


def _parse(path: Path, text: str, delimiter: str) -> list[Record]:
    """Split ``text`` into (first line, stripped fields), skipping blank lines."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        skipinitialspace=True,
        strict=False,
    )
    records: list[Record] = []
    previous_end = 0
    try:
        for fields in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            cells = [cell.strip() for cell in fields]
            if any(cells):
                records.append((start, cells))
            elif len(cells) > 1:
                # Only delimiters on the line, as spreadsheets write below the data.
                records.append((start, cells))
    except csv.Error as exc:
        raise DataError(
            f"data file '{path}' is not valid CSV at line {reader.line_num}: {exc};"
            " fix that line or pass the right --delimiter"
        ) from None
    return records


def plural(number: int, noun: str) -> str:
    """Return ``number`` with ``noun``, adding an s unless the number is 1."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def line_list(numbers: list[int], noun: str = "line", limit: int = 5) -> str:
    """Format the first few numbers with their noun, e.g. ``lines 3, 9, ...``."""
    text = ", ".join(str(number) for number in numbers[:limit])
    more = ", ..." if len(numbers) > limit else ""
    return f"{noun} {text}" if len(numbers) == 1 else f"{noun}s {text}{more}"


def _consecutive_from(values: list[str], start: int) -> bool:
    return all(value == str(start + i) for i, value in enumerate(values))


class _HeaderReader:
    """Decide what line 1 is and split the records into a header and rows."""

    def __init__(
        self,
        path: Path,
        records: list[Record],
        header: bool | None,
        *,
        delimiter: str,
    ):
        self.path = path
        self.records = records
        self.header = header
        self.delimiter = delimiter
        self.header_kind = "none"
        self.warnings: list[str] = []

    def read(self) -> Layout:
        self._check_runaway_quotes(self.records)
        records = self._drop_empty_records(self.records)
        if not records:
            raise DataError(
                f"data file '{self.path}' has only empty fields; pass a CSV file with"
                " a header row and data rows"
            )
        if self.header is not False:
            sklearn = self._sklearn_metadata(records)
            if sklearn is not None:
                return sklearn
        has_header = self.header
        if has_header is None:
            has_header = _looks_like_header(
                records, decimal_comma=self.delimiter != ","
            )
        if has_header:
            return self._with_header(records)
        return self._without_header(records)

    def _drop_empty_records(self, records: list[Record]) -> list[Record]:
        non_empty = [record for record in records if any(record[1])]
        empty = [line for line, cells in records if not any(cells)]
        if empty:
            self._warn(
                f"skipped {plural(len(empty), 'line')} that contain only delimiters"
                f" ({line_list(empty)})"
            )
        return non_empty

    def _warn(self, message: str) -> None:
        self.warnings.append(message)

    def _result(
        self,
        columns: list[str],
        data: list[Record],
        width: int,
        class_names: list[str] | None = None,
    ) -> Layout:
        if width < 2:
            raise DataError(
                f"data file '{self.path}' has only one column; a table needs features"
                " and a label, so pass the right --delimiter"
            )
        rows, lines, bad_rows, trimmed = [], [], [], []
        for line, cells in data:
            fitted = _trim_trailing_empty(cells, width)
            if len(fitted) == width:
                rows.append(fitted)
                lines.append(line)
                if len(fitted) < len(cells):
                    trimmed.append(line)
            else:
                bad_rows.append((line, len(cells)))
        # Spaces at the end of a line are padding when a space is the delimiter.
        if trimmed and self.delimiter != " ":
            self._warn(
                f"ignored empty fields after column {width} on"
                f" {plural(len(trimmed), 'line')} ({line_list(trimmed)})"
            )
        return Layout(
            columns=columns,
            rows=rows,
            lines=lines,
            bad_rows=bad_rows,
            class_names=class_names,
            warnings=self.warnings,
        )

    def _check_runaway_quotes(self, records: list[Record]) -> None:
        """Reject a quote left open, which swallows every line up to the next quote.

        A record that spans several lines is suspect when its field count
        differs from the most common count of the one-line records.
        """
        one_line = Counter(
            len(cells) for _, cells in records if not any(map(_has_newline, cells))
        )
        if not one_line:
            return
        width = one_line.most_common(1)[0][0]
        for index, (line, cells) in enumerate(records):
            if len(cells) == width or not any(map(_has_newline, cells)):
                continue
            end = (
                f"line {records[index + 1][0] - 1}"
                if index + 1 < len(records)
                else "the end of the file"
            )
            raise DataError(
                f"data file '{self.path}': a quoted field opened on line {line} runs"
                f" to {end}, which suggests an unmatched '\"'; fix the quote on"
                " that line"
            )

    def _sklearn_metadata(self, records: list[Record]) -> Layout | None:
        """Read scikit-learn's layout: ``n_samples,n_features,class names...`` first."""
        first_line, first = records[0]
        data = records[1:]
        if len(first) < 4 or not data:
            return None
        if not (first[0].isdigit() and first[1].isdigit()):
            return None
        names = first[2:]
        if not all(name and not is_number(name) for name in names):
            return None
        n_samples, n_features = int(first[0]), int(first[1])
        widths = Counter(len(cells) for _, cells in data)
        if widths.most_common(1)[0][0] != n_features + 1:
            return None
        self.header_kind = "scikit-learn metadata"
        if n_samples != len(data):
            self._warn(
                f"line {first_line} declares {n_samples} rows but the file has"
                f" {len(data)}"
            )
        columns = [f"x{i}" for i in range(n_features + 1)]
        return self._result(columns, data, n_features + 1, class_names=names)

    def _with_header(self, records: list[Record]) -> Layout:
        header_line, header = records[0]
        data = records[1:]
        self.header_kind = f"line {header_line}"

        if not data:
            raise DataError(
                f"data file '{self.path}' has a header on line {header_line} but no"
                " rows below it; add the data rows"
            )

        names = _trim_trailing_empty(header, 0)
        if _fits(data, len(names)):
            if len(names) < len(header):
                self._warn(
                    f"ignored {plural(len(header) - len(names), 'empty name')} at the"
                    f" end of the header on line {header_line}"
                )
            return self._result(self._names(names, header_line), data, len(names))
        if len(names) < len(header) and _fits(data, len(header)):
            return self._result(self._names(header, header_line), data, len(header))

        if _fits(data, len(names) + 1) and _unique_first_column(data):
            # R's write.csv writes row names under no header name.
            name = "rownames" if "rownames" not in names else "Unnamed: 0"
            self._warn(
                f"the header on line {header_line} has one name fewer than the rows"
                f" have fields; read the first column as row names {name!r}"
            )
            return self._result(
                self._names([name, *names], header_line), data, len(names) + 1
            )

        widths = Counter(len(_trim_trailing_empty(cells, 0)) for _, cells in data)
        width = widths.most_common(1)[0][0]
        if width == len(names):
            # No majority, but the header's field count is still the most common.
            return self._result(self._names(names, header_line), data, len(names))

        first_row = next(
            line for line, cells in data if len(_trim_trailing_empty(cells, 0)) == width
        )
        listed = ", ".join(name or "''" for name in names)
        raise DataError(
            f"data file '{self.path}': the header on line {header_line} has"
            f" {len(names)} names ({listed}) but the rows have {width} fields"
            f" (from line {first_row}), so names cannot be matched to columns;"
            f" fix the header or pass --no-header to name the columns x0..x{width - 1}"
        )

    def _names(self, header: list[str], header_line: int) -> list[str]:
        # pandas names a column without a header name "Unnamed: <position>".
        names = [name or f"Unnamed: {i}" for i, name in enumerate(header)]
        seen: dict[str, int] = {}
        for position, name in enumerate(names, start=1):
            if name in seen:
                raise DataError(
                    f"data file '{self.path}': the header on line {header_line} names"
                    f" two columns {name!r} (fields {seen[name]} and {position});"
                    " rename one so every column has its own name"
                )
            seen[name] = position
        return names

    def _without_header(self, records: list[Record]) -> Layout:
        self.header_kind = "none"
        width = _row_width(records)
        columns = [f"x{i}" for i in range(width)]
        return self._result(columns, records, width)


def _has_newline(cell: str) -> bool:
    return "\n" in cell or "\r" in cell


def _trim_trailing_empty(cells: list[str], width: int) -> list[str]:
    """Drop empty fields past position ``width`` from the end of ``cells``."""
    end = len(cells)
    while end > width and not cells[end - 1]:
        end -= 1
    return cells[:end]


def _fits(data: list[Record], width: int) -> bool:
    """Return whether most rows have ``width`` fields once empty extras are dropped."""
    matching = sum(
        len(_trim_trailing_empty(cells, width)) == width for _, cells in data
    )
    return width >= 1 and matching * 2 > len(data)


def _row_width(data: list[Record]) -> int:
    """Return the smallest field count that most rows have once empty extras go."""
    widest = max(len(cells) for _, cells in data)
    for width in range(1, widest + 1):
        if _fits(data, width):
            return width
    return Counter(len(cells) for _, cells in data).most_common(1)[0][0]


def _unique_first_column(data: list[Record]) -> bool:
    values = [cells[0] for _, cells in data if cells]
    return all(values) and len(set(values)) == len(values)


def _looks_like_header(records: list[Record], *, decimal_comma: bool) -> bool:
    """Guess whether line 1 names the columns.

    Line 1 is a header when, in the columns whose other values are mostly
    numbers, it contains more text than numbers. With no such column it is a
    header when none of its values recurs below it. A line of consecutive
    integers from 0 or 1 is the header pandas writes for unnamed columns.
    With ``decimal_comma``, ``5,1`` counts as a number.

    NOTE: a header of other numeric names above numeric columns, such as
    years, is read as data. ``--header`` overrides the guess.
    """

    def is_number_here(text: str) -> bool:
        return is_number(text.replace(",", ".", 1) if decimal_comma else text)

    _, first = records[0]
    rest = [cells for _, cells in records[1:SAMPLE_LINES]]
    if not rest:
        return not any(is_number_here(cell) for cell in first)
    named = [cell for cell in first if cell]
    if len(named) >= 3 and (_consecutive_from(named, 0) or _consecutive_from(named, 1)):
        return True
    text_votes = number_votes = 0
    for position, cell in enumerate(first):
        below = [cells[position] for cells in rest if position < len(cells)]
        present = [value for value in below if not is_missing(value)]
        if not present:
            continue
        numbers = sum(is_number_here(value) for value in present)
        if numbers < NUMERIC_SHARE * len(present):
            continue
        if is_number_here(cell):
            number_votes += 1
        elif not is_missing(cell):
            text_votes += 1
    if text_votes or number_votes:
        return text_votes > number_votes
    for position, cell in enumerate(first):
        below = {cells[position] for cells in rest if position < len(cells)}
        if not cell or cell in below:
            return False
    return True


def looks_numeric_with_comma(values: list[str]) -> bool:
    """Return whether ``values`` are numbers written with a decimal comma."""
    pattern = re.compile(r"[+-]?\d*,\d+|[+-]?\d+")
    return any("," in value for value in values) and all(
        pattern.fullmatch(value) for value in values
    )
