"""The CSV loader on real files and on written files, one test per kind of fault."""

from __future__ import annotations

import csv
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import DATA_DIR
from irisfw.dataoptions import DataOptions
from irisfw.errors import DataError
from irisfw.loading import Table, load_table
from irisfw.metrics import compute_metrics
from irisfw.prepare import prepare, prepare_table
from irisfw.results import Comparison, DataSummary

IRIS_FEATURES = 4
SETOSA = ("setosa", "versicolor", "virginica")
UCI = ("Iris-setosa", "Iris-versicolor", "Iris-virginica")


def load(path: Path | str, target: str | None = None, **options) -> Table:
    return load_table(str(path), {}, target, DataOptions(**options))


def write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def classes(table: Table) -> dict[str, int]:
    counts = table.frame[table.target].value_counts()
    return {str(name): int(count) for name, count in sorted(counts.items())}


def iris_rows(delimiter: str = ",", rows: int = 4) -> list[str]:
    """Return ``rows`` Iris-like data lines with labels a and b alternating."""
    return [
        delimiter.join([f"{5 + i / 10:.1f}", f"{3 + i / 10:.1f}", "ab"[i % 2]])
        for i in range(rows)
    ]


# Every file in tests/data, with what it must load as or the error it must raise.
DATA_FILES = {
    "seaborn_iris.csv": ("species", 150, SETOSA, {}),
    "kaggle_Iris.csv": ("Species", 150, UCI, {}),
    "iris_semicolon_crlf.csv": ("Species", 150, SETOSA, {}),
    "rdatasets_iris.csv": ("Species", 150, SETOSA, {}),
    "sklearn_iris.csv": ("x4", 150, SETOSA, {}),
    "uci_iris.data": ("x4", 150, UCI, {}),
    "iris_trailing_comma_no_eol.data": ("x4", 150, UCI, {}),
    "kaggle_Iris_excel_100rows_2class.csv": ("Species", 100, UCI[:2], {}),
    "uci_iris_missing_values.data": ("x4", 147, UCI, {"missing": "drop"}),
}
DATA_FILE_ERRORS = {
    "uci_iris_missing_values.data": "lines 7, 93, 119",
    "seaborn_penguins.csv": "--missing drop",
    "wine_header_label_first.csv": "--target source",
}


def test_every_data_file_is_covered():
    names = {path.name for path in DATA_DIR.iterdir() if path.suffix != ".md"}
    names.discard(".gitattributes")

    assert names == set(DATA_FILES) | set(DATA_FILE_ERRORS)


@pytest.mark.parametrize("name", sorted(DATA_FILES))
def test_data_file_loads(name):
    target, rows, class_names, options = DATA_FILES[name]

    table = load(DATA_DIR / name, **options)
    data = prepare_table(table)

    assert table.target == target
    assert len(table.frame) == rows
    assert data.class_names == class_names
    assert data.n_features == IRIS_FEATURES
    assert len(data.y_train) + len(data.y_test) == rows


@pytest.mark.parametrize("name", sorted(DATA_FILE_ERRORS))
def test_data_file_error_names_fix(name):
    with pytest.raises(DataError) as error:
        load(DATA_DIR / name)

    message = str(error.value)
    assert DATA_FILE_ERRORS[name] in message
    assert "\n" not in message


# Dialects


def test_semicolon_crlf_file():
    table = load(DATA_DIR / "iris_semicolon_crlf.csv")

    assert table.dialect.delimiter == ";"
    assert table.dialect.line_ending == "CRLF"
    assert table.feature_names == [
        "SepalLength",
        "SepalWidth",
        "PetalLength",
        "PetalWidth",
    ]
    assert classes(table) == dict.fromkeys(SETOSA, 50)


def test_tab_delimiter(tmp_path):
    path = write(tmp_path, "a\tb\tspecies\n" + "\n".join(iris_rows("\t")) + "\n")

    table = load(path)

    assert table.dialect.delimiter == "\t"
    assert table.feature_names == ["a", "b"]
    assert len(table.frame) == 4


def test_bare_cr_line_endings(tmp_path):
    path = write(tmp_path, "a,b,species\r" + "\r".join(iris_rows()) + "\r")

    table = load(path)

    assert table.dialect.line_ending == "CR"
    assert len(table.frame) == 4
    assert table.frame["a"].tolist() == [5.0, 5.1, 5.2, 5.3]


def test_utf8_byte_order_mark(tmp_path):
    path = write(
        tmp_path, b"\xef\xbb\xbfa,b,species\n" + "\n".join(iris_rows()).encode()
    )

    table = load(path)

    assert table.dialect.bom
    assert table.feature_names == ["a", "b"]
    assert table.target == "species"


def test_quoted_fields_keep_delimiters(tmp_path):
    text = (
        'a,b,species\n5.0,3.0,"Iris, setosa"\n5.1,3.1,"say ""hi"""\n'
        '5.2,3.2,"Iris, setosa"\n5.3,3.3,"say ""hi"""\n'
    )

    table = load(write(tmp_path, text))

    assert classes(table) == {"Iris, setosa": 2, 'say "hi"': 2}
    assert table.feature_names == ["a", "b"]


def test_blank_lines_at_start_and_end(tmp_path):
    text = "\n\n  \na,b,species\n" + "\n".join(iris_rows()) + "\n\n\n"

    table = load(write(tmp_path, text))

    assert table.feature_names == ["a", "b"]
    assert len(table.frame) == 4


def test_blank_lines_keep_file_line_numbers(tmp_path):
    rows = iris_rows()
    rows[2] = "5.2,,a"
    text = "\n\na,b,species\n" + "\n".join(rows)

    with pytest.raises(DataError, match="at line 6 "):
        load(write(tmp_path, text))


def test_only_delimiters_rejected(tmp_path):
    with pytest.raises(DataError, match="has only empty fields"):
        load(write(tmp_path, ",,\n,,,\n"), delimiter=",")


def test_missing_final_newline():
    table = load(DATA_DIR / "iris_trailing_comma_no_eol.data")

    assert len(table.frame) == 150
    assert table.frame.iloc[-1].tolist() == [5.9, 3.0, 5.1, 1.8, "Iris-virginica"]
    assert any("line 150" in warning for warning in table.warnings)


def test_delimiter_option_overrides_detection(tmp_path):
    text = "a|b|species\n" + "\n".join(
        f"{5 + i / 10:.1f}|3.0|{'x,y' if i % 2 else 'z,w'}" for i in range(6)
    )
    path = write(tmp_path, text)

    table = load(path, delimiter="pipe")

    assert table.dialect.delimiter == "|"
    assert not table.dialect.delimiter_detected
    assert classes(table) == {"x,y": 3, "z,w": 3}


def test_wrong_delimiter_option_named(tmp_path):
    path = write(tmp_path, "a,b,species\n" + "\n".join(iris_rows()))

    with pytest.raises(DataError, match=r"only one column.*--delimiter"):
        load(path, delimiter=";")


def test_invalid_delimiter_option():
    with pytest.raises(DataError, match="invalid --delimiter 'ab'"):
        DataOptions(delimiter="ab")


def test_encoding_detected_error_and_option(tmp_path):
    text = "a,b,species\n" + "\n".join(
        f"{5 + i / 10:.1f},3.0,{'café' if i % 2 else 'thé'}" for i in range(4)
    )
    path = write(tmp_path, text.encode("cp1252"))

    with pytest.raises(DataError) as error:
        load(path)
    table = load(path, encoding="cp1252")

    assert "not valid utf-8" in str(error.value)
    assert "--encoding cp1252" in str(error.value)
    assert classes(table) == {"café": 2, "thé": 2}


def test_unknown_encoding_option():
    with pytest.raises(DataError, match="unknown --encoding 'klingon'"):
        DataOptions(encoding="klingon")


def test_decimal_comma_with_semicolons(tmp_path):
    text = "a;b;species\n5,1;3,5;x\n4,9;3;y\n4,7;3,2;x\n4,6;3,1;y\n"

    table = load(write(tmp_path, text))

    assert table.frame["a"].tolist() == [5.1, 4.9, 4.7, 4.6]
    assert table.frame["b"].tolist() == [3.5, 3.0, 3.2, 3.1]
    assert any("decimal mark" in warning for warning in table.warnings)


def test_utf16_with_byte_order_mark(tmp_path):
    text = "a\tb\tspecies\n" + "\n".join(iris_rows("\t")) + "\n"
    path = write(tmp_path, text.encode("utf-16"))

    table = load(path)

    assert table.dialect.encoding == "utf-16"
    assert table.dialect.delimiter == "\t"
    assert table.feature_names == ["a", "b"]
    assert len(table.frame) == 4


def test_utf16_without_byte_order_mark(tmp_path):
    text = "a,b,species\n" + "\n".join(iris_rows()) + "\n"
    path = write(tmp_path, text.encode("utf-16-le"))

    with pytest.raises(DataError, match=r"NUL bytes.*--encoding utf-16"):
        load(path)
    table = load(path, encoding="utf-16-le")

    assert len(table.frame) == 4


def test_excel_separator_line(tmp_path):
    text = "sep=;\r\na;b;species\r\n" + "\r\n".join(iris_rows(";")) + "\r\n"
    missing_text = text.replace("5.2", "")  # one missing value on line 5

    table = load(write(tmp_path, text))
    with pytest.raises(DataError, match="at line 5 "):
        load(write(tmp_path, missing_text, "missing.csv"))

    assert table.dialect.delimiter == ";"
    assert table.dialect.header == "line 2"
    assert table.feature_names == ["a", "b"]


def test_space_aligned_columns(tmp_path):
    text = "\n".join(f"  {row.replace(',', '   ')}  " for row in iris_rows()) + "\n"

    table = load(write(tmp_path, text, "aligned.txt"))

    assert table.dialect.delimiter == " "
    assert table.feature_names == ["x0", "x1"]
    assert table.frame["x0"].tolist() == [5.0, 5.1, 5.2, 5.3]
    assert table.warnings == ()


def test_decimal_comma_without_header(tmp_path):
    text = "5,1;3,5;x\n4,9;3;y\n4,7;3,2;x\n4,6;3,1;y\n"

    table = load(write(tmp_path, text))

    assert table.dialect.header == "none"
    assert table.frame["x0"].tolist() == [5.1, 4.9, 4.7, 4.6]


def test_excel_workbook_rejected(tmp_path):
    path = write(tmp_path, b"PK\x03\x04rest of a zip", "iris.xlsx")

    with pytest.raises(DataError, match=r"Excel \.xlsx workbook.*export it as CSV"):
        load(path)


def test_unmatched_quote_named(tmp_path):
    rows = iris_rows(rows=6)
    rows[1] = '5.1,"3.1,a'
    text = "a,b,species\n" + "\n".join(rows) + "\n"

    with pytest.raises(DataError, match=r"opened on line 3.*unmatched"):
        load(write(tmp_path, text))


# Headers


def test_headerless_file_names_columns():
    table = load(DATA_DIR / "uci_iris.data")

    assert table.dialect.header == "none"
    assert table.feature_names == ["x0", "x1", "x2", "x3"]
    assert table.target == "x4"
    assert classes(table) == dict.fromkeys(UCI, 50)


def test_no_header_option(tmp_path):
    # Text on line 1 of a text-only column is no evidence of a header.
    text = "aa,bb,x\n" + "\n".join(
        f"{v},{v}{v},{'pq'[i % 2]}" for i, v in enumerate("cdef")
    )
    path = write(tmp_path, text)

    detected = load(path, target="x")
    forced = load(path, header=False)

    assert detected.feature_names == ["aa", "bb"]
    assert forced.feature_names == ["x0", "x1"]
    assert len(forced.frame) == 5


def test_no_header_suggests_header():
    with pytest.raises(DataError, match="line 1 looks like a header, so pass --header"):
        load(DATA_DIR / "seaborn_iris.csv", header=False)


def test_target_column_index():
    first = load(DATA_DIR / "uci_iris.data", target="-1")
    named = load(DATA_DIR / "uci_iris.data", target="X4")

    assert first.target == "x4"
    assert named.target == "x4"
    with pytest.raises(DataError, match="index 7 is out of range for 5 columns"):
        load(DATA_DIR / "uci_iris.data", target="7")


def test_sklearn_metadata_line_gives_class_names():
    table = load(DATA_DIR / "sklearn_iris.csv")

    assert table.dialect.header == "scikit-learn metadata"
    assert table.feature_names == ["x0", "x1", "x2", "x3"]
    assert classes(table) == dict.fromkeys(SETOSA, 50)


def test_sklearn_label_outside_class_names(tmp_path):
    rows = [f"{5 + i / 10:.1f},3.0,{i % 2}" for i in range(4)] + ["5.9,3.0,7"]
    path = write(tmp_path, "5,2,left,right\n" + "\n".join(rows) + "\n")

    with pytest.raises(DataError, match=r"not a class index 0\.\.1: x2 1"):
        load(path)
    table = load(path, missing="drop")

    assert classes(table) == {"left": 2, "right": 2}


def test_header_longer_than_rows(tmp_path):
    text = "a,b,c,d,species\n" + "\n".join(iris_rows()) + "\n"

    with pytest.raises(DataError) as error:
        load(write(tmp_path, text))

    message = str(error.value)
    assert "header on line 1 has 5 names (a, b, c, d, species)" in message
    assert "rows have 3 fields (from line 2)" in message
    assert "--no-header" in message


def test_header_two_shorter_than_rows(tmp_path):
    text = "b,species\n" + "\n".join(
        f"{i},x{i},{row}" for i, row in enumerate(iris_rows())
    )

    with pytest.raises(DataError, match=r"has 2 names .* rows have 5 fields"):
        load(write(tmp_path, text))


def test_duplicate_column_names(tmp_path):
    text = "a,b,a,species\n" + "\n".join(
        f"1.{i},2,3.{i},{'xy'[i % 2]}" for i in range(4)
    )

    with pytest.raises(DataError) as error:
        load(write(tmp_path, text))

    assert "header on line 1 names two columns 'a' (fields 1 and 3)" in str(error.value)
    assert "rename one" in str(error.value)


def test_pandas_range_header(tmp_path):
    frame = pd.DataFrame([[1.5, 0.1, "x"], [2.5, 0.4, "y"], [3.5, 0.2, "x"]])
    path = tmp_path / "frame.csv"
    frame.to_csv(path, index=False)

    table = load(path, target="2")

    assert table.dialect.header == "line 1"
    assert table.feature_names == ["0", "1"]
    assert len(table.frame) == 3


def test_r_row_names_without_header_name(tmp_path, caplog):
    # R's write.csv(row.names = TRUE) leaves the row-name column unnamed.
    rows = [f'"{i + 1}",{row}' for i, row in enumerate(iris_rows(rows=12))]
    text = '"a","b","species"\n' + "\n".join(rows) + "\n"

    with caplog.at_level(logging.WARNING, logger="irisfw"):
        table = load(write(tmp_path, text))

    assert table.feature_names == ["a", "b"]
    assert [column.name for column in table.excluded_columns] == ["rownames"]
    assert "row names 'rownames'" in caplog.text


def test_pandas_index_column_excluded(tmp_path):
    frame = pd.DataFrame(
        {"a": [1.5, 2.5, 3.5, 4.5], "b": [0.1, 0.4, 0.2, 0.3], "species": list("xyxy")},
        index=[3, 1, 0, 2],
    )
    path = tmp_path / "frame.csv"
    frame.to_csv(path)

    table = load(path)

    assert table.excluded_columns[0].name == "Unnamed: 0"
    assert "row identifier" in table.excluded_columns[0].reason
    assert table.feature_names == ["a", "b"]


def test_excel_header_with_trailing_empty_names():
    table = load(DATA_DIR / "kaggle_Iris_excel_100rows_2class.csv")

    assert table.feature_names == [
        "SepalLengthCm",
        "SepalWidthCm",
        "PetalLengthCm",
        "PetalWidthCm",
    ]
    assert classes(table) == dict.fromkeys(UCI[:2], 50)
    assert "ignored 5 empty names at the end of the header on line 1" in table.warnings


# Target column


def test_target_suggests_label_like_column():
    with pytest.raises(DataError) as error:
        load(DATA_DIR / "wine_header_label_first.csv")
    table = load(DATA_DIR / "wine_header_label_first.csv", target="source")

    assert "target column 'species' not found" in str(error.value)
    assert "column 'source' looks like the label, so pass --target source" in str(
        error.value
    )
    assert classes(table) == {"1": 59, "2": 71, "3": 48}
    assert len(table.feature_names) == 13


def test_target_suggests_label_named_column(tmp_path):
    text = "a,b,Variety\n" + "\n".join(iris_rows())

    with pytest.raises(DataError, match="column 'Variety' looks like the label"):
        load(write(tmp_path, text))


def test_target_matched_case_insensitively():
    table = load(DATA_DIR / "rdatasets_iris.csv", target="SPECIES")

    assert table.target == "Species"


def test_labels_stripped_of_whitespace(tmp_path):
    text = 'a,b,species\n1.0,2,"setosa "\n1.1,3, setosa\n1.2,4,"  virginica"\n1.3,5,virginica\n'

    table = load(write(tmp_path, text))

    assert classes(table) == {"setosa": 2, "virginica": 2}


@pytest.mark.parametrize("labels", [(1, 2, 3), (0, 1, 3), (10, 2, 1)])
def test_numeric_labels_any_values(tmp_path, labels):
    rows = [f"{i / 10:.1f},{(i * 7) % 5},{labels[i % 3]}" for i in range(12)]
    path = write(tmp_path, "a,b,label\n" + "\n".join(rows) + "\n")

    data = prepare_table(load(path, target="label"), test_size=0.5)

    assert data.class_names == tuple(str(label) for label in sorted(labels))
    assert data.n_classes == 3


# Leakage


def test_row_identifier_excluded_with_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="irisfw"):
        table = load(DATA_DIR / "kaggle_Iris.csv")

    assert "Id" not in table.feature_names
    assert table.excluded_columns[0].name == "Id"
    assert "row identifier" in table.excluded_columns[0].reason
    assert "--keep-column Id" in caplog.text
    assert any("--keep-column Id" in warning for warning in table.warnings)


def test_keep_column_keeps_row_identifier():
    table = load(DATA_DIR / "kaggle_Iris.csv", keep_columns=("id",))

    assert table.feature_names[0] == "Id"
    assert table.excluded_columns == ()


def test_rownames_index_excluded():
    table = load(DATA_DIR / "rdatasets_iris.csv")

    assert [column.name for column in table.excluded_columns] == ["rownames"]
    assert len(table.feature_names) == 4


def test_column_mapping_onto_label_excluded(tmp_path):
    rows = [
        f"{5 + i / 10:.1f},{(i * 3) % 7},{'ABC'[i % 3]},{SETOSA[i % 3]}"
        for i in range(9)
    ]
    path = write(tmp_path, "a,b,code,species\n" + "\n".join(rows))

    table = load(path)

    assert table.feature_names == ["a", "b"]
    assert table.excluded_columns[0].name == "code"
    assert (
        table.excluded_columns[0].reason == "maps one-to-one onto the label 'species'"
    )


def test_drop_column_excludes_any_column():
    table = load(DATA_DIR / "seaborn_iris.csv", drop_columns=("Petal_Width",))

    assert table.feature_names == ["sepal_length", "sepal_width", "petal_length"]
    assert table.excluded_columns[0].reason == "dropped by --drop-column"


def test_drop_column_unknown_name():
    with pytest.raises(DataError, match="--drop-column 'colour' matches no column"):
        load(DATA_DIR / "seaborn_iris.csv", drop_columns=("colour",))


def test_drop_and_keep_same_column():
    with pytest.raises(DataError, match="both --drop-column and --keep-column"):
        DataOptions(drop_columns=("Id",), keep_columns=("id",))


def test_empty_column_excluded(tmp_path):
    text = "a,empty,b,species\n" + "\n".join(
        f"{5 + i / 10:.1f},,{i % 3},{'xy'[i % 2]}" for i in range(4)
    )

    table = load(write(tmp_path, text))

    assert table.feature_names == ["a", "b"]
    assert table.excluded_columns[0].reason == "empty in every row"


# Missing and invalid values


def test_missing_values_reported_with_lines():
    with pytest.raises(DataError) as error:
        load(DATA_DIR / "uci_iris_missing_values.data")

    message = str(error.value)
    assert "3 rows have missing or invalid values at lines 7, 93, 119" in message
    assert "missing values: x1 3" in message
    assert "pass --missing drop" in message


def test_missing_drop_reports_count(caplog):
    with caplog.at_level(logging.WARNING, logger="irisfw"):
        table = load(DATA_DIR / "uci_iris_missing_values.data", missing="drop")

    assert len(table.frame) == 147
    assert table.dropped_rows == 3
    assert table.rows_read == 150
    assert classes(table) == dict.fromkeys(UCI, 49)
    assert "dropped 3 rows" in caplog.text


def test_na_nan_and_infinite_values(tmp_path):
    rows = iris_rows(rows=8)
    rows[1] = "NA,3.1,b"
    rows[3] = "5.3,NaN,b"
    rows[4] = "inf,3.4,a"
    rows[6] = "5.6,-Infinity,a"
    path = write(tmp_path, "a,b,species\n" + "\n".join(rows) + "\n")

    with pytest.raises(DataError) as error:
        load(path)
    table = load(path, missing="drop")

    message = str(error.value)
    assert "4 rows have missing or invalid values at lines 3, 5, 6, 8" in message
    assert "missing values: a 1, b 1" in message
    assert "infinite values: a 1, b 1" in message
    assert len(table.frame) == 4
    assert np.isfinite(table.frame[["a", "b"]].to_numpy()).all()


def test_rows_with_wrong_field_count(tmp_path):
    rows = iris_rows(rows=8)
    rows[2] = "5.2,3.2"
    rows[5] = "5.5,3.5,b,extra"
    path = write(tmp_path, "a,b,species\n" + "\n".join(rows) + "\n")

    with pytest.raises(DataError) as error:
        load(path)
    table = load(path, missing="drop")

    message = str(error.value)
    assert "2 rows have missing or invalid values at lines 4, 7" in message
    assert "rows with a number of fields other than 3: 2" in message
    assert len(table.frame) == 6
    assert table.dropped_rows == 2
    assert table.rows_read == 8


def test_empty_label_never_a_class(tmp_path):
    rows = iris_rows(rows=6)
    rows[3] = "5.3,3.3,"
    rows[4] = '5.4,3.4," "'
    path = write(tmp_path, "a,b,species\n" + "\n".join(rows) + "\n")

    with pytest.raises(DataError, match="empty labels: species 2"):
        load(path)
    table = load(path, missing="drop")

    assert classes(table) == {"a": 2, "b": 2}


def test_text_in_numeric_column(tmp_path):
    rows = iris_rows(rows=6)
    rows[2] = "5.2,three,a"
    path = write(tmp_path, "a,b,species\n" + "\n".join(rows) + "\n")

    with pytest.raises(DataError) as error:
        load(path)

    assert "non-numeric values: b 1, e.g. 'three' on line 4" in str(error.value)


def test_dataset_missing_values_use_data_rows():
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "label": list("xyxy")})
    datasets = {"toy": _dataset(frame)}

    with pytest.raises(DataError, match=r"at data row 2 .*missing values: a 1"):
        load_table("toy", datasets)


def test_csv_options_ignored_for_dataset():
    frame = pd.DataFrame({"a": [1.5, 2.5, 3.5, 4.5], "label": list("xyxy")})

    table = load_table("toy", {"toy": _dataset(frame)}, None, DataOptions(header=False))

    assert len(table.frame) == 4
    assert any("ignored them for dataset 'toy'" in w for w in table.warnings)


def _dataset(frame: pd.DataFrame):
    from irisfw.datasets import Dataset

    return Dataset(name="toy", description="toy", target="label", load=lambda: frame)


# Non-numeric features


def test_text_features_rejected_with_fixes():
    table = load(DATA_DIR / "seaborn_penguins.csv", missing="drop")

    with pytest.raises(DataError) as error:
        prepare_table(table)

    message = str(error.value)
    assert "feature columns are not numeric: island, sex" in message
    assert "--categorical encode" in message
    assert "--drop-column island --drop-column sex" in message


def test_penguins_categorical_encode():
    table = load(DATA_DIR / "seaborn_penguins.csv", missing="drop")

    data = prepare_table(table, categorical="encode")

    assert len(table.frame) == 333
    assert table.dropped_rows == 11
    assert data.class_names == ("Adelie", "Chinstrap", "Gentoo")
    assert data.feature_names == (
        "island_Biscoe",
        "island_Dream",
        "island_Torgersen",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex_FEMALE",
        "sex_MALE",
    )
    assert data.x_train.shape == (233, 9)


def test_text_encoder_fits_training_rows():
    frame = pd.DataFrame(
        {
            "a": np.arange(20, dtype=float) / 3,
            "colour": ["red", "blue"] * 9 + ["green", "red"],
            "label": list("xy") * 10,
        }
    )

    data = prepare(frame, "label", source="t", seed=0, categorical="encode")

    green_row = 18
    green_in_train = green_row in data.train_index
    assert ("colour_green" in data.feature_names) == green_in_train
    assert data.n_features == (4 if green_in_train else 3)
    if not green_in_train:
        # A value unseen in training encodes as all zeros before scaling.
        position = list(data.test_index).index(green_row)
        colour = [i for i, n in enumerate(data.feature_names) if n.startswith("colour")]
        raw = data.x_test[position, colour] * data.scaler_scale[colour]
        np.testing.assert_allclose(raw + data.scaler_mean[colour], 0, atol=1e-5)


def test_categorical_option_checked():
    with pytest.raises(DataError, match="invalid --categorical 'ordinal'"):
        DataOptions(categorical="ordinal")


# Too little data


def test_single_class_file(tmp_path):
    rows = [f"{i}.5,{i % 3},only" for i in range(6)]
    table = load(write(tmp_path, "a,b,species\n" + "\n".join(rows)))

    with pytest.raises(DataError, match="target 'species' has 1 class \\(only\\)"):
        prepare_table(table)


def test_class_with_one_row_named(tmp_path):
    rows = [*iris_rows(rows=6), "9.9,9.9,rare"]
    table = load(write(tmp_path, "a,b,species\n" + "\n".join(rows)))

    with pytest.raises(DataError, match="class 'rare' has 1 row"):
        prepare_table(table, test_size=0.5)


def test_infinite_labels_stay_text(tmp_path):
    rows = [f"{i}.5,{'inf' if i % 2 else '1e400'}" for i in range(6)]
    table = load(write(tmp_path, "a,label\n" + "\n".join(rows)), target="label")

    assert classes(table) == {"1e400": 3, "inf": 3}


def test_continuous_target_suggests_label(tmp_path):
    # UCI's wine.data layout: no header, the label first, measurements after.
    rows = [f"{1 + i % 3},{i}.25,{i * 1.5}" for i in range(12)]
    table = load(write(tmp_path, "\n".join(rows)))

    with pytest.raises(DataError) as error:
        prepare_table(table)

    assert table.target == "x2"
    assert "11 more classes have 1 row" in str(error.value)
    assert "'x2' may not be a label column" in str(error.value)
    assert "pass --target x0 if that column is the label" in str(error.value)


def test_metrics_with_class_missing_from_test():
    y_train = np.array([0, 1, 2, 0, 1, 2])
    y_test = np.array([0, 1, 0, 1])
    proba = np.full((4, 3), 1 / 3)

    metrics = compute_metrics(y_train, np.full((6, 3), 1 / 3), y_test, proba, SETOSA)

    assert [row.support for row in metrics.per_class] == [2, 2, 0]
    assert np.array(metrics.confusion_matrix).shape == (3, 3)


# Property: random well-formed tables in random dialects load back unchanged.

LABELS = ["setosa", "Iris virginica", "a;b", "x,y", 'say "hi"', "tab\there", "p|q"]
NUMBERS = st.floats(
    min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False, width=64
) | st.integers(-1000, 1000)


@st.composite
def tables(draw):
    n_features = draw(st.integers(1, 4))
    n_rows = draw(st.integers(3, 25))
    features = [[draw(NUMBERS) for _ in range(n_features)] for _ in range(n_rows)]
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=n_rows, max_size=n_rows))
    return features, labels


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    line_ending=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    header=st.booleans(),
    final_newline=st.booleans(),
    blank_lines=st.booleans(),
)
def test_random_dialects_round_trip(
    tmp_path_factory,
    table,
    delimiter,
    line_ending,
    bom,
    quoting,
    header,
    final_newline,
    blank_lines,
):
    features, labels = table
    names = [f"f{i}" for i in range(len(features[0]))] + ["species"]
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=delimiter, lineterminator=line_ending, quoting=quoting
    )
    if header:
        writer.writerow(names)
    for values, label in zip(features, labels, strict=True):
        writer.writerow([*values, label])
    text = buffer.getvalue()
    if not final_newline:
        text = text[: -len(line_ending)]
    if blank_lines:
        text = line_ending * 2 + text + line_ending * 2
    raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    path = tmp_path_factory.mktemp("dialect") / "table.csv"
    path.write_bytes(raw)
    columns = names if header else [f"x{i}" for i in range(len(names))]

    loaded = load(path, keep_columns=tuple(columns[:-1]))

    assert loaded.dialect.delimiter == delimiter
    assert loaded.dialect.bom == bom
    assert list(loaded.frame.columns) == columns
    assert len(loaded.frame) == len(features)
    np.testing.assert_array_equal(
        loaded.frame[columns[:-1]].to_numpy(dtype=np.float64), np.array(features)
    )
    assert loaded.frame[loaded.target].tolist() == labels


# Command line


def test_inspect_help_imports_no_pandas():
    code = (
        "import sys\n"
        "sys.argv = ['irisfw', 'inspect', '--help']\n"
        "from irisfw.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('PANDAS=' + str('pandas' in sys.modules) + '\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert "--drop-column" in result.stdout
    assert "PANDAS=False" in result.stderr


def test_inspect_reports_what_was_read(run_cli):
    result = run_cli(
        "inspect", str(DATA_DIR / "kaggle_Iris.csv"), env={"IRISFW_PLUGINS": ""}
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "delimiter ',' (detected), line endings CRLF, header: line 1" in out
    assert "target 'Species'" in out
    assert "Iris-setosa (50), Iris-versicolor (50), Iris-virginica (50)" in out
    assert "excluded columns: Id (row identifier" in out
    assert "features: SepalLengthCm, SepalWidthCm, PetalLengthCm, PetalWidthCm" in out
    assert "WARNING: excluded column 'Id'" in result.stderr
    assert "--keep-column Id" in result.stderr


def test_inspect_json(run_cli):
    result = run_cli(
        "inspect",
        str(DATA_DIR / "sklearn_iris.csv"),
        "--json",
        env={"IRISFW_PLUGINS": ""},
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dialect"]["header"] == "scikit-learn metadata"
    assert report["dialect"]["line_ending"] == "CRLF"
    assert report["class_names"] == list(SETOSA)
    assert report["class_counts"] == [50, 50, 50]
    assert report["feature_names"] == ["x0", "x1", "x2", "x3"]
    assert report["rows_read"] == 150
    assert report["warnings"] == []


def test_inspect_headerless_target_index(run_cli):
    result = run_cli(
        "inspect",
        str(DATA_DIR / "uci_iris.data"),
        "--no-header",
        "--target",
        "4",
        "--json",
        env={"IRISFW_PLUGINS": ""},
    )

    report = json.loads(result.stdout)
    assert report["target"] == "x4"
    assert report["dialect"]["header_detected"] is False


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["uci_iris_missing_values.data"], "at lines 7, 93, 119"),
        (["wine_header_label_first.csv"], "pass --target source"),
        (["seaborn_penguins.csv"], "pass --missing drop"),
        (["seaborn_penguins.csv", "--missing", "drop"], "--categorical encode"),
        (["seaborn_iris.csv", "--no-header"], "pass --header"),
        (["seaborn_iris.csv", "--delimiter", "xx"], "invalid --delimiter 'xx'"),
        (["seaborn_iris.csv", "--encoding", "nope"], "unknown --encoding 'nope'"),
        (["seaborn_iris.csv", "--missing", "maybe"], "invalid --missing 'maybe'"),
        (["seaborn_iris.csv", "--drop-column", "x"], "--drop-column 'x' matches no"),
        (["uci_iris.data", "--target", "9"], "index 9 is out of range"),
    ],
)
def test_data_faults_exit_two(run_cli, args, expected):
    name, *options = args
    for command in ("compare", "inspect"):
        data = ["--data", str(DATA_DIR / name)] if command == "compare" else []
        positional = [] if command == "compare" else [str(DATA_DIR / name)]
        result = run_cli(
            command, *positional, *data, *options, env={"IRISFW_PLUGINS": "sklearn"}
        )

        lines = result.stderr.splitlines()
        errors = [line for line in lines if line.startswith("irisfw: error: ")]
        warnings = [line for line in lines if line.startswith("irisfw: WARNING: ")]
        assert result.returncode == 2, (command, result.stderr)
        assert result.stdout == ""
        assert len(errors) == 1, result.stderr
        assert len(errors) + len(warnings) == len(lines), result.stderr
        assert expected in errors[0]


def test_error_with_line_break_one_line(run_cli, tmp_path):
    path = write(tmp_path, 'a,b,species\n1.5,2,"x\ny"\n2.5,3,"x\ny"\n3.5,1,"p\nq"\n')

    result = run_cli("inspect", str(path), env={"IRISFW_PLUGINS": ""})

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "class 'p\\nq' has 1 row" in result.stderr


def test_compare_summary_records_exclusions(run_cli):
    result = run_cli(
        "compare",
        "--data",
        str(DATA_DIR / "kaggle_Iris.csv"),
        "--epochs",
        "5",
        "--format",
        "json",
        env={"IRISFW_PLUGINS": "sklearn"},
    )

    assert result.returncode == 0, result.stderr
    data = Comparison.model_validate_json(result.stdout).data
    assert data.features == 4
    assert [column.name for column in data.excluded_columns] == ["Id"]
    assert "--keep-column Id" in data.warnings[0]
    assert "WARNING: excluded column 'Id'" in result.stderr


def test_compare_data_options_reach_prepare(run_cli):
    result = run_cli(
        "compare",
        "--data",
        str(DATA_DIR / "seaborn_penguins.csv"),
        "--missing",
        "drop",
        "--categorical",
        "encode",
        "--drop-column",
        "sex",
        "--epochs",
        "5",
        "--format",
        "json",
        env={"IRISFW_PLUGINS": "sklearn"},
    )

    assert result.returncode == 0, result.stderr
    data = Comparison.model_validate_json(result.stdout).data
    # Only the 2 rows without measurements go: the empty sex cells are not used.
    assert data.rows == 342
    assert data.dropped_rows == 2
    assert data.feature_names[:3] == [
        "island_Biscoe",
        "island_Dream",
        "island_Torgersen",
    ]
    assert "sex_MALE" not in data.feature_names
    assert data.excluded_columns[0].reason == "dropped by --drop-column"


def test_summary_json_without_new_fields_parses():
    old = {
        "source": "iris",
        "target": "species",
        "rows": 150,
        "features": 4,
        "feature_names": ["a", "b", "c", "d"],
        "class_names": list(SETOSA),
        "class_counts": [50, 50, 50],
        "train_rows": 105,
        "test_rows": 45,
        "test_size": 0.3,
        "split_seed": 0,
        "fingerprint": "0123456789abcdef",
    }

    summary = DataSummary.model_validate(old)

    assert summary.warnings == []
    assert summary.excluded_columns == []
    assert summary.dropped_rows == 0
