"""The one registry of import formats (annotator.io.formats): every table format has both of
its readers, names map to formats the same way for a path and an upload, and the lists shown
to people come from the registry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from annotator import uploads
from annotator.errors import ImportFormatError
from annotator.io import formats, readers


def test_every_table_format_has_a_reader_and_a_head_reader() -> None:
    tables = {f.name for f in formats.FORMATS if f.kind == "table"}
    assert set(readers.TABLE_READERS) == tables
    assert set(readers.TABLE_HEADS) == tables


@pytest.mark.parametrize(
    ("name", "expected", "shown"),
    [
        ("a.csv", "csv", ".csv"),
        ("A.CSV.GZ", "csv", ".csv.gz"),
        ("dir/x.y.ndjson", "jsonl", ".ndjson"),
        ("t.tsv.gz", "tsv", ".tsv.gz"),
        ("p.parquet", "parquet", ".parquet"),
        ("p.parquet.gz", None, ".parquet.gz"),  # only the text formats may be gzipped
        ("x.npz", "npz", ".npz"),
        ("x.npy.gz", None, ".npy.gz"),
        ("notes.txt", None, ".txt"),
        ("plain", None, "(none)"),
        ("archive.gz", None, ".gz"),
    ],
)
def test_a_name_says_its_format(name: str, expected: str | None, shown: str) -> None:
    named = formats.parse_name(name)
    assert (named.format.name if named.format else None, named.shown) == (expected, shown)


def test_a_path_and_an_upload_of_the_same_name_get_the_same_format(tmp_path: Path) -> None:
    for f in formats.FORMATS:
        for suffix in f.suffixes:
            for gz in ("", ".gz") if f.gzip else ("",):
                path = tmp_path / f"data{suffix}{gz}"
                path.write_bytes(b"")
                assert readers.detect_format(path) == uploads.upload_format(path.name)
    assert uploads.upload_format("images.zip") == "zip"
    with pytest.raises(ImportFormatError, match=r"x\.zip\.gz: unsupported file type \.zip\.gz"):
        uploads.upload_format("x.zip.gz")


def test_the_lists_people_see_name_every_suffix() -> None:
    every = [s for f in formats.FORMATS for s in f.suffixes]
    for text in (readers.SUPPORTED, uploads.UPLOAD_SUPPORTED):
        assert all(s in text for s in every)
    assert "a folder of PNG/JPEG" in readers.SUPPORTED
    assert "a .zip of PNG/JPEG" in uploads.UPLOAD_SUPPORTED
    assert sorted(formats.upload_types()) == sorted([s[1:] for s in every] + ["gz", "zip"])


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_a_tables_head_is_its_first_rows_as_written(tmp_path: Path, fmt: str) -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y, z", "w"]})
    path = tmp_path / f"t.{fmt}"
    if fmt == "parquet":
        frame.to_parquet(path)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, index=False, sep="\t" if fmt == "tsv" else ",")
    head = readers.read_table_head(path, fmt, 2)
    assert head.astype(str).to_dict("list") == {"id": ["a", "b"], "text": ["x", "y, z"]}
