"""CSV / TSV / JSONL / Parquet readers: round trips, value rules and every bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from annotator.errors import ImportFormatError
from annotator.io.readers import content_hash, content_hashes, read_input

FRAME = pd.DataFrame(
    {
        "id": ["r1", "r2", "r3"],
        "text": ['good, "really" good', "bad\nreally bad", "caf\u00e9 \U0001f600"],
        "label": ["pos", "neg", None],
        "a": [1.5, -2.0, 3.25],
        "b": [10, 20, 30],
    }
)


def save(frame: pd.DataFrame, path: Path) -> Path:
    name = path.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif name.endswith((".jsonl", ".ndjson")):
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        data = lines.encode("utf-8")
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    else:
        sep = "\t" if name.endswith(".tsv") else ","
        frame.to_csv(path, sep=sep, index=False, compression="infer")
    return path


FORMATS = ["x.csv", "x.tsv", "x.jsonl", "x.ndjson", "x.parquet", "x.csv.gz", "x.jsonl.gz"]


@pytest.mark.parametrize("name", FORMATS)
def test_text_round_trip(tmp_path: Path, name: str) -> None:
    path = save(FRAME, tmp_path / name)
    data = read_input(path, text_col="text", id_col="id", label_col="label")
    assert data.kind == "text" and data.source == str(path)
    assert data.ids == ["r1", "r2", "r3"]
    assert data.texts == FRAME["text"].tolist()
    assert data.labels == ["pos", "neg", None]
    assert data.features is None and data.images is None


@pytest.mark.parametrize("name", FORMATS)
def test_features_round_trip(tmp_path: Path, name: str) -> None:
    path = save(FRAME, tmp_path / name)
    data = read_input(path, id_col="id", label_col="label", infer=False)  # the column rules
    assert data.kind == "features"
    assert data.feature_names == ["a", "b"]
    assert data.features.dtype == np.float64
    np.testing.assert_array_equal(data.features, FRAME[["a", "b"]].to_numpy(dtype=float))
    assert data.extra["ignored_columns"] == ["text"]


def test_feature_cols_as_string_or_list_and_row_number_ids(tmp_path: Path) -> None:
    path = save(FRAME, tmp_path / "x.csv")
    by_string = read_input(path, feature_cols="b, a", infer=False)
    by_list = read_input(path, feature_cols=["b", "a"], infer=False)
    assert by_string.feature_names == by_list.feature_names == ["b", "a"]
    np.testing.assert_array_equal(by_string.features, FRAME[["b", "a"]].to_numpy(dtype=float))
    assert by_string.ids == ["0", "1", "2"] and by_string.labels is None


def test_ids_are_strings_as_written(write) -> None:
    path = write("x.csv", "id,text\n007,a\n7,b\n")
    assert read_input(path, text_col="text", id_col="id").ids == ["007", "7"]
    frame = pd.DataFrame({"id": [3, 4], "text": ["a", "b"]})
    parquet = save(frame, Path(path).with_name("x.parquet"))
    assert read_input(parquet, text_col="text", id_col="id").ids == ["3", "4"]


@pytest.mark.parametrize("name", ["x.csv", "x.jsonl", "x.parquet"])
def test_labels_are_strings_with_integral_floats_shortened(tmp_path: Path, name: str) -> None:
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": [1.0, None, 2.0]})
    path = save(frame, tmp_path / name)
    assert read_input(path, text_col="text", label_col="label").labels == ["1", None, "2"]
    ints = pd.DataFrame({"text": ["a", "b"], "label": [3, 10]})
    path = save(ints, tmp_path / name)
    assert read_input(path, text_col="text", label_col="label").labels == ["3", "10"]


def test_parquet_pandas_index_is_not_a_feature(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    FRAME.set_index("id").iloc[[2, 0]].to_parquet(path)  # the index is stored as a column
    data = read_input(path, label_col="label", infer=False)
    assert data.feature_names == ["a", "b"] and data.ids == ["0", "1"]


def test_non_integral_labels_kept(write) -> None:
    path = write("x.csv", "text,label\na,1.5\nb,2.0\nc,\n")
    assert read_input(path, text_col="text", label_col="label").labels == ["1.5", "2.0", None]


def test_blank_lines_skipped_and_crlf_accepted(write) -> None:
    path = write("x.csv", "id,text\r\n\r\na,one\r\nb,two\r\n\r\n")
    data = read_input(path, text_col="text", id_col="id")
    assert data.ids == ["a", "b"] and data.texts == ["one", "two"]


def test_utf8_bom_and_header_spaces(write) -> None:
    path = write("x.csv", "\ufeffid , text\na,one\n".encode())
    assert read_input(path, text_col="text", id_col="id").texts == ["one"]


def test_majority_numeric_column_with_a_bad_cell_is_not_dropped(write) -> None:
    path = write("x.csv", "a,b\n1,2\n3,n/a\n5,6\n")
    with pytest.raises(
        ImportFormatError, match=r"x\.csv: row 1 \(line 3\), column 'b': 'n/a' is not a number"
    ):
        read_input(path)


def test_booleans_count_as_numbers_in_json(write) -> None:
    path = write("x.jsonl", '{"a": true, "b": 1}\n{"a": false, "b": 2}\n')
    np.testing.assert_array_equal(read_input(path).features, [[1, 1], [0, 2]])


def test_content_hash(write) -> None:
    path = write("x.csv", "id,text,a\nr1,hello,1.5\nr2,hello,2\n")
    texts = read_input(path, text_col="text", id_col="id")
    feats = read_input(path, feature_cols="a", id_col="id")
    assert content_hash(texts, 0) == content_hash(texts, 1)
    assert len(content_hash(texts, 0)) == 64
    assert content_hash(feats, 0) != content_hash(feats, 1)
    assert content_hashes(feats)[1] == content_hash(feats, 1)
    import hashlib

    assert content_hash(texts, 0) == hashlib.sha256(b"hello").hexdigest()
    assert content_hash(feats, 0) == hashlib.sha256(np.float64(1.5).tobytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Bad input: (file name, content, read_input options, fragments the message must contain)

BAD = {
    "misspelt column": (
        "bad.csv",
        "id,review,label\nr1,good,pos\n",
        {"text_col": "reveiw"},
        [
            "column 'reveiw' (--text-col) not found (did you mean 'review'?); columns: id, review, label"
        ],
    ),
    "wrong case column": (
        "bad.csv",
        "id,Text\nr1,a\n",
        {"text_col": "text"},
        ["(did you mean 'Text'?)"],
    ),
    "missing id column": (
        "bad.csv",
        "id,text\nr1,a\n",
        {"text_col": "text", "id_col": "uid"},
        ["column 'uid' (--id-col) not found (did you mean 'id'?); columns: id, text"],
    ),
    "empty file": ("bad.csv", "", {"text_col": "t"}, ["empty file"]),
    "blank file": ("bad.csv", "\n\n", {"text_col": "t"}, ["empty file"]),
    "header only": ("bad.csv", "id,text\n", {"text_col": "text"}, ["no rows (only a header)"]),
    "short row": (
        "bad.csv",
        "id,text,label\nr1,good,pos\nr2,bad\n",
        {"text_col": "text"},
        ["line 3: expected 3 fields as in the header, found 2"],
    ),
    "long row": (
        "bad.tsv",
        "id\ttext\nr1\tgood\tx\n",
        {"text_col": "text"},
        ["line 2: expected 2 fields", "found 3"],
    ),
    "unterminated quote at the end": (
        "bad.csv",
        'id,text,label\nr1,good,pos\nr2,"bad,neg\nr3,ok,pos\n',
        {"text_col": "text"},
        ["line 3: unterminated quoted field"],
    ),
    "quote swallowing a line": (
        "bad.csv",
        'id,text\nr1,"good\nr2,"bad\nr3,ok\n',
        {"text_col": "text"},
        ["line 2: unexpected character after a closing quote"],
    ),
    "quote making a long record": (
        "bad.csv",
        'id,text\nr1,"a\nr2,b",c\n',
        {"text_col": "text"},
        ["line 2: expected 2 fields", "found 3", "runs to line 3", "unbalanced quote"],
    ),
    "undecodable bytes": (
        "bad.csv",
        "id,text\nr1,ok\nr2,caf\u00e9\n".encode("latin-1"),
        {"text_col": "text"},
        ["line 3: byte 0xe9 at offset 20 is not valid UTF-8"],
    ),
    "duplicate ids": (
        "bad.csv",
        "id,text\nr1,a\nr2,b\nr1,c\n",
        {"text_col": "text", "id_col": "id"},
        ["row 2 (line 4), column 'id': duplicate id 'r1' (also in row 0 (line 2))"],
    ),
    "missing id": (
        "bad.csv",
        "id,text\nr1,a\n,b\n",
        {"text_col": "text", "id_col": "id"},
        ["row 1 (line 3), column 'id': missing id"],
    ),
    "empty text": (
        "bad.csv",
        "id,text\nr1,a\nr2,  \n",
        {"text_col": "text"},
        ["row 1 (line 3), column 'text': empty text"],
    ),
    "nan feature": (
        "bad.csv",
        "a,b\n1,2\n3,nan\n",
        {"feature_cols": "a,b"},
        ["row 1 (line 3), column 'b': 'nan' is not a finite number"],
    ),
    "inf feature": (
        "bad.csv",
        "a,b\n1,inf\n",
        {},
        ["row 0 (line 2), column 'b': 'inf' is not a finite number"],
    ),
    "non-numeric feature": (
        "bad.csv",
        "a,b\n1,2\n3,oops\n",
        {"feature_cols": ["a", "b"]},
        ["row 1 (line 3), column 'b': 'oops' is not a number"],
    ),
    "missing feature": (
        "bad.csv",
        "a,b\n1,2\n3,\n",
        {"feature_cols": "a,b"},
        ["row 1 (line 3), column 'b': missing value"],
    ),
    "no numeric column": (
        "bad.csv",
        "id,review,label\nr1,good,pos\n",
        {"id_col": "id", "label_col": "label", "infer": False},
        ["no numeric feature columns", "pass --text-col review"],
    ),
    "text and features": (
        "bad.csv",
        "a,t\n1,x\n",
        {"text_col": "t", "feature_cols": "a"},
        ["either --text-col or --feature-cols"],
    ),
    "feature is the label": (
        "bad.csv",
        "a,l\n1,2\n",
        {"feature_cols": "a,l", "label_col": "l"},
        ["already used as the id or label column"],
    ),
    "empty feature name": (
        "bad.csv",
        "a,b\n1,2\n",
        {"feature_cols": "a,,b"},
        ["empty column name"],
    ),
    "duplicate header": (
        "bad.csv",
        "a,b,a\n1,2,3\n",
        {},
        ["duplicate column name 'a' (columns 1 and 3)"],
    ),
    "empty header name": ("bad.csv", "a,,c\n1,2,3\n", {}, ["line 1: column 2 has an empty name"]),
    "label from folder on a file": (
        "bad.csv",
        "a\n1\n",
        {"label_from_folder": True},
        ["--label-from-folder applies to image folders only"],
    ),
    "invalid json": (
        "bad.jsonl",
        '{"t": "a"}\n{"t": "b",}\n',
        {"text_col": "t"},
        ["line 2, character 11: invalid JSON"],
    ),
    "json array line": (
        "bad.jsonl",
        '{"t": "a"}\n\n[1, 2]\n',
        {"text_col": "t"},
        ["line 3: expected a JSON object", "found list"],
    ),
    "json missing key": (
        "bad.jsonl",
        '{"a": 1}\n{"b": 2}\n',
        {"feature_cols": "a"},
        ["row 1 (line 2), column 'a': missing value"],
    ),
    "json nested text": (
        "bad.jsonl",
        '{"t": {"x": 1}}\n',
        {"text_col": "t"},
        ["row 0 (line 1), column 't': not a text"],
    ),
    "broken parquet": ("bad.parquet", b"PAR1 not really", {}, ["not a readable Parquet file"]),
    "broken gzip": (
        "bad.csv.gz",
        b"not gzip at all",
        {"text_col": "t"},
        ["not a readable gzip file"],
    ),
    "unsupported type": ("bad.xlsx", b"PK", {}, ["unsupported file type .xlsx; supported: .csv"]),
    "no suffix": ("bad", b"a,b", {}, ["unsupported file type (none)"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_and_place(write, case: str) -> None:
    name, content, options, fragments = BAD[case]
    path = write(name, content)
    with pytest.raises(ImportFormatError) as info:
        read_input(path, **options)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_over_size_limit(write) -> None:
    path = write("big.csv", "id,text\n" + "r,x\n" * 50)
    with pytest.raises(
        ImportFormatError, match=r"big\.csv: file is 208 bytes .* limit of 100 bytes"
    ):
        read_input(path, text_col="text", max_bytes=100)
    assert read_input(path, text_col="text", max_bytes=None).texts[0] == "x"


def test_gzip_decompressed_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(b"t\n" + b"x\n" * 10_000))
    with pytest.raises(ImportFormatError, match="decompressed size is over the import size limit"):
        read_input(path, text_col="t", max_bytes=1000)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match=r"nope\.csv: no such file or folder"):
        read_input(tmp_path / "nope.csv", text_col="t")


@pytest.mark.parametrize("name", ["data.csv", "data.npz", "data.jsonl.gz"])
def test_folder_where_a_file_is_expected(tmp_path: Path, name: str) -> None:
    (tmp_path / name).mkdir()
    with pytest.raises(
        ImportFormatError, match=rf"{name}: is a folder, but a \.\w+(\.gz)? file was expected"
    ):
        read_input(tmp_path / name)
