"""The fast CSV path: same table as the careful reader, or the careful reader itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DATA_DIR
from irisfw import fastcsv
from irisfw.dataoptions import DataOptions
from irisfw.errors import DataError
from irisfw.loading import Table, load_table

ENGINES = ["pyarrow", "pandas"]

# Test data files with the options they load with.
LOADABLE = {
    "seaborn_iris.csv": {},
    "kaggle_Iris.csv": {},
    "iris_semicolon_crlf.csv": {},
    "rdatasets_iris.csv": {},
    "sklearn_iris.csv": {},
    "uci_iris.data": {},
    "iris_trailing_comma_no_eol.data": {},
    "kaggle_Iris_excel_100rows_2class.csv": {},
    "uci_iris_missing_values.data": {"missing": "drop"},
    "seaborn_penguins.csv": {"missing": "drop", "categorical": "encode"},
    "wine_header_label_first.csv": {"target": "source"},
}
FAILING = ["uci_iris_missing_values.data", "seaborn_penguins.csv"]
# Files the fast path reads; the others have a quirk it leaves to the careful reader.
READ_FAST = {
    "seaborn_iris.csv",
    "kaggle_Iris.csv",
    "iris_semicolon_crlf.csv",
    "rdatasets_iris.csv",
    "uci_iris.data",
    "wine_header_label_first.csv",
}


@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch) -> str:
    monkeypatch.setattr(fastcsv, "default_engine", lambda: request.param)
    return request.param


def load(path: Path, *, fast: bool, target: str | None = None, **options) -> Table:
    return load_table(str(path), {}, target, DataOptions(**options), fast=fast)


def assert_same_table(fast: Table, careful: Table) -> None:
    pd.testing.assert_frame_equal(fast.frame, careful.frame, check_exact=True)
    assert fast.target == careful.target
    assert fast.excluded_columns == careful.excluded_columns
    assert fast.warnings == careful.warnings
    assert fast.dialect == careful.dialect
    assert fast.rows_read == careful.rows_read
    assert fast.dropped_rows == careful.dropped_rows


def write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def numeric_rows(rows: int, seed: int = 0) -> list[str]:
    """Return CSV lines of three full-precision numbers and a label a, b or c."""
    generator = np.random.default_rng(seed)
    values = generator.standard_normal((rows, 3)) * 10.0 ** generator.integers(
        -5, 5, (rows, 3)
    )
    return [
        ",".join([*(repr(float(value)) for value in row), "abc"[index % 3]])
        for index, row in enumerate(values)
    ]


@pytest.mark.parametrize("name", sorted(LOADABLE))
def test_data_file_same_table(name, engine):
    options = dict(LOADABLE[name])
    target = options.pop("target", None)

    fast = load(DATA_DIR / name, fast=True, target=target, **options)
    careful = load(DATA_DIR / name, fast=False, target=target, **options)

    assert_same_table(fast, careful)
    assert careful.csv_reader == "python"
    expected = engine if name in READ_FAST else "python"
    assert fast.csv_reader == expected


@pytest.mark.parametrize("name", FAILING)
def test_data_file_same_error(name, engine):
    with pytest.raises(DataError) as fast:
        load(DATA_DIR / name, fast=True)
    with pytest.raises(DataError) as careful:
        load(DATA_DIR / name, fast=False)

    assert str(fast.value) == str(careful.value)


def test_full_precision_numbers_same_table(tmp_path, engine):
    path = write(tmp_path, "x,y,z,species\n" + "\n".join(numeric_rows(3000)) + "\n")

    fast = load(path, fast=True)
    careful = load(path, fast=False)

    assert fast.csv_reader == engine
    assert_same_table(fast, careful)


def test_numeric_labels_become_integers(tmp_path, engine):
    rows = [f"{index / 10},{index % 3}" for index in range(30)]
    path = write(tmp_path, "x,label\n" + "\n".join(rows) + "\n")

    fast = load(path, fast=True, target="label")
    careful = load(path, fast=False, target="label")

    assert fast.csv_reader == engine
    assert fast.frame["label"].dtype == np.int64
    assert_same_table(fast, careful)


def test_quoted_labels_same_table(tmp_path, engine):
    rows = [f'{index / 10},"Iris, {"ab"[index % 2]}"' for index in range(20)]
    path = write(tmp_path, '"x","species"\n' + "\n".join(rows) + "\n")

    fast = load(path, fast=True)
    careful = load(path, fast=False)

    assert fast.csv_reader == engine
    assert_same_table(fast, careful)


def test_mixed_line_endings_named(tmp_path, engine):
    rows = numeric_rows(10)
    text = "x,y,z,species\r\n" + "\r\n".join(rows[:5]) + "\n" + "\n".join(rows[5:])
    path = write(tmp_path, text)

    fast = load(path, fast=True)

    assert fast.csv_reader == engine
    assert fast.dialect.line_ending == "mixed CRLF/LF"
    assert_same_table(fast, load(path, fast=False))


QUIRKS = {
    "byte-order mark": b"\xef\xbb\xbfx,y,z,species\n",
    "Excel sep line": b"sep=,\nx,y,z,species\n",
    "blank line before the header": b"\nx,y,z,species\n",
}


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_quirk_takes_careful_path(tmp_path, engine, quirk):
    body = "\n".join(numeric_rows(30)) + "\n"
    path = write(tmp_path, QUIRKS[quirk] + body.encode())

    table = load(path, fast=True)

    assert table.csv_reader == "python"
    assert_same_table(table, load(path, fast=False))


def test_space_delimiter_takes_careful_path(tmp_path, engine):
    rows = [row.replace(",", "  ") for row in numeric_rows(30)]
    path = write(tmp_path, "x y z species\n" + "\n".join(rows) + "\n")

    assert load(path, fast=True).csv_reader == "python"


def test_trailing_delimiters_take_careful_path(tmp_path, engine):
    rows = [row + "," for row in numeric_rows(30)]
    path = write(tmp_path, "x,y,z,species\n" + "\n".join(rows) + "\n")

    table = load(path, fast=True)

    assert table.csv_reader == "python"
    assert any("ignored empty fields" in warning for warning in table.warnings)


def test_padded_label_takes_careful_path(tmp_path, engine):
    rows = numeric_rows(30)
    rows[3] = rows[3][:-1] + " a"
    path = write(tmp_path, "x,y,z,species\n" + "\n".join(rows) + "\n")

    table = load(path, fast=True)

    assert table.csv_reader == "python"
    assert_same_table(table, load(path, fast=False))


# Problems past the sample of 1,000 lines that the fast path checks first.
LATE_PROBLEMS = {
    "empty cell": ("1.5,,2.5,a", "missing values: y 1"),
    "NA cell": ("1.5,NA,2.5,a", "missing values: y 1"),
    "text cell": ("1.5,oops,2.5,a", "non-numeric values: y 1"),
    "infinite value": ("1.5,inf,2.5,a", "infinite values: y 1"),
    "extra field": ("1.5,2.0,2.5,a,9", "rows with a number of fields other than 4: 1"),
    "missing field": ("1.5,2.0,a", "rows with a number of fields other than 4: 1"),
    "empty label": ("1.5,2.0,2.5,", "empty labels: species 1"),
    "NA label": ("1.5,2.0,2.5,NA", "empty labels: species 1"),
    "boolean": ("1.5,TRUE,2.5,a", "non-numeric values: y 1"),
}


@pytest.mark.parametrize("problem", sorted(LATE_PROBLEMS))
def test_late_problem_reported_with_line(tmp_path, engine, problem):
    row, part = LATE_PROBLEMS[problem]
    rows = numeric_rows(3000)
    rows[2500] = row
    path = write(tmp_path, "x,y,z,species\n" + "\n".join(rows) + "\n")

    with pytest.raises(DataError) as error:
        load(path, fast=True)

    message = str(error.value)
    assert "at line 2502 " in message
    assert part in message


def test_late_problem_dropped_like_careful(tmp_path, engine):
    rows = numeric_rows(3000)
    rows[2500] = "1.5,,2.5,a"
    path = write(tmp_path, "x,y,z,species\n" + "\n".join(rows) + "\n")

    fast = load(path, fast=True, missing="drop")

    assert fast.dropped_rows == 1
    assert_same_table(fast, load(path, fast=False, missing="drop"))


def test_text_feature_takes_careful_path(tmp_path, engine):
    rows = [f"{index / 10},{'xyz'[index % 3]},{'ab'[index % 2]}" for index in range(20)]
    path = write(tmp_path, "x,colour,species\n" + "\n".join(rows) + "\n")

    table = load(path, fast=True, categorical="encode")

    assert table.csv_reader == "python"
    assert table.frame["colour"].tolist()[:3] == ["x", "y", "z"]


def test_missing_target_error_unchanged(tmp_path, engine):
    path = write(tmp_path, "x,y,z,label\n" + "\n".join(numeric_rows(30)) + "\n")

    with pytest.raises(DataError) as fast:
        load(path, fast=True)
    with pytest.raises(DataError) as careful:
        load(path, fast=False)

    assert str(fast.value) == str(careful.value)


def test_read_clean_csv_rejects_latin1(tmp_path, engine):
    rows = numeric_rows(10)
    rows[4] = rows[4][:-1] + "\xe9"
    path = write(tmp_path, ("x,y,z,species\n" + "\n".join(rows)).encode("latin-1"))

    result = fastcsv.read_clean_csv(
        path,
        delimiter=None,
        encoding=None,
        header=None,
        target=None,
        header_target="species",
    )

    assert result is None


def test_read_clean_csv_without_label(tmp_path, engine):
    path = write(tmp_path, "x,y\n1.5,2\n3,4.25\n")

    result = fastcsv.read_clean_csv(
        path,
        delimiter=None,
        encoding=None,
        header=None,
        target=None,
        header_target=None,
    )

    assert result is not None
    assert result.label is None
    assert result.frame["y"].tolist() == [2.0, 4.25]
    assert result.frame["y"].dtype == np.float64


def test_boolean_column_takes_careful_path(tmp_path, engine):
    flags = ["TRUE" if index % 2 else "false" for index in range(40)]
    rows = [f"{index / 10},{flags[index]},{'abc'[index % 3]}" for index in range(40)]
    path = write(tmp_path, "x,flag,species\n" + "\n".join(rows) + "\n")

    fast = load(path, fast=True)

    assert fast.csv_reader == "python"
    assert fast.frame["flag"].tolist()[:2] == ["false", "TRUE"]
    assert_same_table(fast, load(path, fast=False))


def test_zero_one_column_read_fast(tmp_path, engine):
    rows = [f"{index / 10},{index % 2},{'abc'[index % 3]}" for index in range(40)]
    path = write(tmp_path, "x,flag,species\n" + "\n".join(rows) + "\n")

    fast = load(path, fast=True)

    assert fast.csv_reader == engine
    assert_same_table(fast, load(path, fast=False))


def test_refused_reservation_counts_lines(tmp_path, engine, monkeypatch):
    path = write(tmp_path, "x,y,z,species\n" + "\n".join(numeric_rows(30)) + "\n")
    capacities = []
    allocate = fastcsv._Columns.__init__

    def raise_memory_error_once(self, names, label, capacity):
        capacities.append(capacity)
        if len(capacities) == 1:
            raise MemoryError
        allocate(self, names, label, capacity)

    monkeypatch.setattr(fastcsv._Columns, "__init__", raise_memory_error_once)

    table = load(path, fast=True)

    assert table.csv_reader == engine
    assert len(capacities) == 2
    assert capacities[1] == 32
    assert len(table.frame) == 30
