"""Property tests for the tabular parsers: what any writer produces reads back exactly, and no
input makes the reader fail with anything but ImportFormatError."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.errors import ImportFormatError
from annotator.io.readers import read_input

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

texts = st.text(  # NUL and lone surrogates are refused by the readers (tested elsewhere)
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
).filter(lambda t: t.strip())
labels = st.one_of(st.none(), st.sampled_from(["pos", "neg", "a b", "x,y", 'q"'])).map(lambda x: x)
rows = st.lists(st.tuples(texts, labels), min_size=1, max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
matrices = st.integers(1, 8).flatmap(
    lambda n: st.lists(st.lists(finite, min_size=3, max_size=3), min_size=n, max_size=n)
)


def _tmp(name: str) -> Path:
    return Path(tempfile.mkdtemp()) / name


def _write_delimited(path: Path, header: list[str], records: list[list[object]], sep: str) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(records)
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")


def _write_jsonl(path: Path, header: list[str], records: list[list[object]]) -> None:
    lines = [json.dumps(dict(zip(header, r, strict=True)), ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")


def _write(fmt: str, header: list[str], records: list[list[object]]) -> Path:
    path = _tmp(f"data.{fmt}")
    if fmt in ("csv", "tsv"):
        _write_delimited(path, header, records, "," if fmt == "csv" else "\t")
    elif fmt == "jsonl":
        _write_jsonl(path, header, records)
    else:
        pd.DataFrame(records, columns=header).to_parquet(path, index=False)
    return path


@SETTINGS
@given(rows=rows, fmt=st.sampled_from(["csv", "tsv", "jsonl", "parquet"]))
def test_texts_and_labels_read_back_exactly(rows, fmt) -> None:
    records = [
        [f"id{i}", text, "" if label is None and fmt in ("csv", "tsv") else label]
        for i, (text, label) in enumerate(rows)
    ]
    path = _write(fmt, ["id", "text", "label"], records)
    data = read_input(path, text_col="text", id_col="id", label_col="label")
    assert data.texts == [text for text, _ in rows]
    assert data.labels == [label for _, label in rows]
    assert data.ids == [f"id{i}" for i in range(len(rows))]


@SETTINGS
@given(matrix=matrices, fmt=st.sampled_from(["csv", "tsv", "jsonl", "parquet"]))
def test_features_read_back_exactly(matrix, fmt) -> None:
    records = [[repr(v) for v in row] if fmt in ("csv", "tsv") else row for row in matrix]
    path = _write(fmt, ["a", "b", "c"], records)
    data = read_input(path)
    np.testing.assert_array_equal(data.features, np.array(matrix, dtype=np.float64))
    assert data.feature_names == ["a", "b", "c"]


@SETTINGS
@given(rows=rows, drop=st.data())
def test_a_short_row_is_always_caught_with_its_line(rows, drop) -> None:
    records = [[f"id{i}", text, label or ""] for i, (text, label) in enumerate(rows)]
    bad = drop.draw(st.integers(0, len(records) - 1))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["id", "text", "label"])
    lines_before = 1 + sum(_lines(r) for r in records[:bad])
    writer.writerows(records[:bad])
    writer.writerow(records[bad][:2])
    writer.writerows(records[bad + 1 :])
    path = _tmp("short.csv")
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    try:
        read_input(path, text_col="text")
    except ImportFormatError as exc:
        assert f"line {lines_before + 1}: expected 3 fields" in str(exc)
    else:
        raise AssertionError("a short row was accepted")


def _lines(record: list[str]) -> int:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerow(record)
    text = buffer.getvalue()
    return text.count("\n") + text.count("\r") - text.count("\r\n")


@settings(max_examples=150, deadline=None)
@given(
    content=st.one_of(
        st.binary(max_size=200), st.text(alphabet='ab,"\n\r\t1.5e{}:[]', max_size=80)
    ),
    fmt=st.sampled_from(["csv", "tsv", "jsonl"]),
    text_col=st.sampled_from([None, "a"]),
)
def test_arbitrary_bytes_never_crash(content, fmt, text_col) -> None:
    path = _tmp(f"fuzz.{fmt}")
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    try:
        data = read_input(path, text_col=text_col)
    except ImportFormatError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
    else:
        assert len(data) > 0
        if text_col or data.kind == "text":  # a text column given, or inferred (io.roles)
            assert data.kind == "text" and (text_col or data.extra["inferred"]["text"])
        else:
            assert data.kind == "features"
        if data.features is not None:
            assert np.isfinite(data.features).all()
