"""Exporters: each format read back by pandas and Hugging Face datasets; atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from annotator.errors import ExportError
from annotator.io import exporters
from annotator.io.exporters import write_export

from .helpers import image_bytes

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def export_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a1", "b/2", "c 3"],
            "text": ["plain", 'with, "quotes"\nand a newline', "caf\u00e9 \U0001f600"],
            "label": ["pos", None, "neg"],
            "annotator": ["ann", "ann", None],
            "created_at": pd.to_datetime(
                ["2026-01-02T03:04:05.123456Z", None, "2026-02-03T00:00:00.000000Z"], utc=True
            ),
            "round": [1, 2, 3],
            "score": [0.5, np.nan, 1e-12],
        }
    )


def iso(frame: pd.DataFrame) -> pd.DataFrame:
    expected = frame.copy()
    expected["created_at"] = [t.isoformat() if pd.notna(t) else np.nan for t in frame["created_at"]]
    return expected


def test_csv_reads_back(tmp_path: Path) -> None:
    frame = export_frame()
    out = tmp_path / "labels.csv"
    write_export(frame, "csv", out)
    back = pd.read_csv(out, dtype={"id": str})
    pd.testing.assert_frame_equal(back, iso(frame), check_dtype=False)
    assert "2026-01-02T03:04:05.123456+00:00" in out.read_text(encoding="utf-8")


def test_jsonl_reads_back(tmp_path: Path) -> None:
    frame = export_frame()
    out = tmp_path / "labels.jsonl"
    write_export(frame, "jsonl", out)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records[1] == {
        "id": "b/2",
        "text": 'with, "quotes"\nand a newline',
        "label": None,
        "annotator": "ann",
        "created_at": None,
        "round": 2,
        "score": None,
    }
    back = pd.read_json(out, lines=True, dtype=False)
    pd.testing.assert_frame_equal(
        back, iso(frame).astype({"created_at": object}), check_dtype=False
    )


def test_parquet_reads_back_identically(tmp_path: Path) -> None:
    frame = export_frame()
    out = tmp_path / "labels.parquet"
    write_export(frame, "parquet", out)
    pd.testing.assert_frame_equal(pd.read_parquet(out), frame)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_datasets_loads_tables(tmp_path: Path, fmt: str) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / f"labels.{fmt}"
    write_export(export_frame(), fmt, out)
    builder = {"csv": "csv", "jsonl": "json", "parquet": "parquet"}[fmt]
    loaded = datasets.load_dataset(builder, data_files=str(out), cache_dir=str(tmp_path / "hf"))
    train = loaded["train"]
    assert train.num_rows == 3
    assert train[0]["id"] == "a1" and train[1]["text"] == 'with, "quotes"\nand a newline'
    assert train[2]["label"] == "neg" and train[1]["label"] is None


# ---------------------------------------------------------------------------------------------
# Images

IMAGES = [image_bytes((6, 4), "RGB"), None, image_bytes((5, 5), "L", "JPEG")]


def test_parquet_images_load_as_images_in_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "labels.parquet"
    write_export(export_frame(), "parquet", out, images=IMAGES)
    back = pd.read_parquet(out)
    assert back["image"][0]["bytes"] == IMAGES[0] and back["image"][0]["path"] == "a1.png"
    assert back["image"][1] is None and back["image"][2]["path"] == "c_3.jpg"
    pd.testing.assert_frame_equal(back.drop(columns="image"), export_frame())
    loaded = datasets.load_dataset("parquet", data_files=str(out), cache_dir=str(tmp_path / "hf"))
    train = loaded["train"]
    assert isinstance(train.features["image"], datasets.Image)
    first = train[0]["image"]
    assert isinstance(first, Image.Image) and first.size == (6, 4)
    assert train[1]["image"] is None and train[2]["image"].mode == "L"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_write_an_image_folder(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"labels.{fmt}"
    write_export(export_frame(), fmt, out, images=IMAGES)
    folder = tmp_path / "labels_images"
    assert (folder / "a1.png").read_bytes() == IMAGES[0]
    assert (folder / "b" / "2.png").exists() is False  # no image for row 1
    assert (folder / "c_3.jpg").read_bytes() == IMAGES[2]
    back = pd.read_csv(out) if fmt == "csv" else pd.read_json(out, lines=True, dtype=False)
    assert list(back.columns[:2]) == ["id", "file_name"]
    assert back["file_name"][0] == "labels_images/a1.png" and pd.isna(back["file_name"][1])


def test_imagefolder_loads_the_csv_renamed_metadata(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "metadata.csv"
    images = [
        image_bytes((6, 4), "RGB"),
        image_bytes((3, 3), "RGB", seed=1),
        image_bytes((5, 5), "L", "JPEG"),
    ]
    write_export(export_frame(), "csv", out, images=images)
    loaded = datasets.load_dataset(
        "imagefolder", data_dir=str(tmp_path), cache_dir=str(tmp_path / "hf")
    )
    rows = sorted(loaded["train"], key=lambda r: r["id"])
    assert [r["image"].size for r in rows] == [(6, 4), (3, 3), (5, 5)]
    assert [r["label"] for r in rows] == ["pos", None, "neg"]


def test_image_names_are_safe_and_unique(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["../../etc/x", "a?b", "a:b", "/", "cat/01"]})
    blobs = [image_bytes(seed=i) for i in range(5)]
    out = tmp_path / "x.csv"
    write_export(frame, "csv", out, images=blobs)
    names = pd.read_csv(out)["file_name"].tolist()
    assert names == [
        "x_images/etc/x.png",
        "x_images/a_b.png",
        "x_images/a_b_2.png",
        "x_images/item_3.png",
        "x_images/cat/01.png",
    ]
    for name in names:
        assert (tmp_path / name).resolve().is_relative_to(tmp_path / "x_images")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv", "x_images"]


def test_re_export_replaces_the_image_folder(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    write_export(pd.DataFrame({"id": ["old"]}), "csv", out, images=[image_bytes()])
    write_export(pd.DataFrame({"id": ["new"]}), "csv", out, images=[image_bytes()])
    assert [p.name for p in (tmp_path / "x_images").iterdir()] == ["new.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv", "x_images"]


# ---------------------------------------------------------------------------------------------
# Errors and atomicity


def test_bad_targets(tmp_path: Path) -> None:
    frame = export_frame()
    with pytest.raises(
        ExportError, match="unknown export format 'xlsx'; choose csv, jsonl, parquet"
    ):
        write_export(frame, "xlsx", tmp_path / "x.xlsx")
    with pytest.raises(ExportError, match=f"{tmp_path}: is a folder"):
        write_export(frame, "csv", tmp_path)
    with pytest.raises(ExportError, match=r"x\.csv: the folder .*missing does not exist"):
        write_export(frame, "csv", tmp_path / "missing" / "x.csv")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_failure_mid_write_keeps_the_old_file(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"labels.{fmt}"
    out.write_text("OLD")

    def chunks():
        yield export_frame(), None  # written to the temporary file ...
        assert len([p for p in tmp_path.iterdir() if p != out]) == 1
        raise OSError(28, "No space left on device")  # ... then the disk fills up

    with pytest.raises(
        ExportError, match=rf"labels\.{fmt}: cannot write the export \(No space left on device\)"
    ):
        exporters.write_export_chunks(chunks(), fmt, out)
    assert out.read_text() == "OLD"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_streamed_export_equals_the_whole_table_written_at_once(tmp_path: Path) -> None:
    frame = export_frame()
    frame.loc[0, "annotator"] = None  # the first chunk has no annotator at all
    frame.loc[2, "annotator"] = "ann"
    for fmt in ("csv", "jsonl", "parquet"):
        whole, parts = tmp_path / f"whole.{fmt}", tmp_path / f"parts.{fmt}"
        write_export(frame, fmt, whole)
        rows = exporters.write_export_chunks(
            [(frame.iloc[:1], None), (frame.iloc[1:], None)], fmt, parts
        )
        assert rows == 3
        if fmt != "parquet":  # Parquet files differ in their row-group layout, not content
            assert parts.read_bytes() == whole.read_bytes()
        else:
            pd.testing.assert_frame_equal(pd.read_parquet(parts), pd.read_parquet(whole))


def test_a_wide_streamed_export_equals_the_whole_table_written_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many float columns (taken from one 2D array after the first chunk), CSV formatted in
    slices on threads, later chunks written on the writer's thread: the same files."""
    monkeypatch.setattr(exporters._CsvFile, "rows_per_task", 3)
    values = np.random.default_rng(0).normal(size=(20, 40)).astype(np.float32)
    values[1, 2], values[2, 3], values[3, 4] = np.nan, np.inf, 0.1
    frame = pd.concat(
        [
            pd.DataFrame({"id": [f"i{k}" for k in range(20)]}),
            pd.DataFrame(values, columns=[f"x{j}" for j in range(40)]),
            pd.DataFrame({"score": np.where(np.arange(20) % 3, 0.5, np.nan)}),
        ],
        axis=1,
    )
    chunks = [(frame.iloc[k : k + 6].reset_index(drop=True), None) for k in range(0, 20, 6)]
    for fmt in ("csv", "jsonl", "parquet"):
        whole, parts = tmp_path / f"whole.{fmt}", tmp_path / f"parts.{fmt}"
        write_export(frame, fmt, whole)
        assert exporters.write_export_chunks(chunks, fmt, parts) == 20
        if fmt != "parquet":
            assert parts.read_bytes() == whole.read_bytes()
        else:
            pd.testing.assert_frame_equal(pd.read_parquet(parts), pd.read_parquet(whole))
    records = [json.loads(line) for line in (tmp_path / "parts.jsonl").read_text().splitlines()]
    assert (records[1]["x2"], records[2]["x3"], records[3]["x4"]) == (None, None, 0.1)
    assert records[0]["score"] is None and records[1]["score"] == 0.5
    import pyarrow.parquet as pq

    group = pq.ParquetFile(tmp_path / "parts.parquet").metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(42)}
    assert "RLE_DICTIONARY" in encodings["id"]  # floats are not worth a dictionary
    assert "RLE_DICTIONARY" not in encodings["x0"] + encodings["score"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_chunk_that_fails_on_the_writer_thread_fails_the_export(tmp_path: Path, fmt) -> None:
    first = pd.DataFrame({"id": ["a"], "n": [1]})
    wrong = pd.DataFrame({"id": ["b"], "n": ["not a number"]})  # converted on the thread
    out = tmp_path / f"x.{fmt}"
    for chunks in ([first, wrong], [first, wrong, first]):  # raised at the end or by the next
        with pytest.raises(ValueError, match="Conversion failed for column n"):
            exporters.write_export_chunks([(c, None) for c in chunks], fmt, out)
        assert list(tmp_path.iterdir()) == []


def test_a_missing_datetime_in_a_text_column_is_an_empty_csv_cell(tmp_path: Path) -> None:
    """As with ``raw_cells``: the spreadsheet guard once turned it into the text "NaT"."""
    when = pd.Series([pd.Timestamp("2024-01-02 03:04").to_pydatetime(), None], dtype=object)
    for raw in (False, True):
        frame = pd.DataFrame({"id": ["a", "b"], "when": when})
        write_export(frame, "csv", tmp_path / "x.csv", raw_cells=raw)
        assert (tmp_path / "x.csv").read_bytes() == (
            b'"id","when"\r\n"a","2024-01-02T03:04:00"\r\n"b",\r\n'
        ), raw


def test_failure_with_images_keeps_old_file_and_folder(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    write_export(pd.DataFrame({"id": ["old"]}), "csv", out, images=[image_bytes()])
    before = out.read_bytes()

    def chunks():
        yield pd.DataFrame({"id": ["new"]}), [image_bytes()]
        raise OSError(5, "Input/output error")

    with pytest.raises(ExportError, match="Input/output error"):
        exporters.write_export_chunks(chunks(), "csv", out)
    assert out.read_bytes() == before
    assert [p.name for p in (tmp_path / "x_images").iterdir()] == ["old.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv", "x_images"]


def test_export_file_permissions_follow_umask(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    write_export(export_frame(), "csv", out)
    old = os.umask(0)
    os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o666 & ~old


def test_image_column_clash_and_length_mismatch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="already has a 'image' column"):
        write_export(pd.DataFrame({"image": [1]}), "parquet", tmp_path / "x.parquet", images=[None])
    with pytest.raises(ValueError, match="2 images for 1 rows"):
        write_export(pd.DataFrame({"id": [1]}), "csv", tmp_path / "x.csv", images=[None, None])


FORMULAS = pd.DataFrame(
    {
        "text": ["=HYPERLINK(\"http://x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
                 "\tTAB", "\rCR", "plain = text", "-5", "+3.5", "1e-3", None],
        "label": ["-1", "=1+1", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"],
        "score": [-1.5, 2.0, -3.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    }
)  # fmt: skip


def test_csv_cells_a_spreadsheet_would_run_get_an_apostrophe(tmp_path: Path) -> None:
    out = tmp_path / "safe.csv"
    write_export(FORMULAS, "csv", out)
    back = pd.read_csv(out, dtype={"text": str, "label": str}, keep_default_na=False)
    assert list(back["text"]) == [
        "'=HYPERLINK(\"http://x\")", "'+1+cmd|' /C calc'!A0", "'-2+3", "'@SUM(A1)",
        "'\tTAB", "'\rCR", "plain = text", "-5", "+3.5", "1e-3", "",
    ]  # fmt: skip
    assert list(back["label"][:2]) == ["-1", "'=1+1"]  # a number written as text stays
    assert list(back["score"]) == list(FORMULAS["score"])  # numbers stay numbers


def test_raw_cells_and_the_other_formats_stay_exact(tmp_path: Path) -> None:
    write_export(FORMULAS, "csv", tmp_path / "raw.csv", raw_cells=True)
    raw = pd.read_csv(tmp_path / "raw.csv", dtype={"text": str, "label": str})
    assert list(raw["text"][:6]) == list(FORMULAS["text"][:6])
    write_export(FORMULAS, "jsonl", tmp_path / "x.jsonl")
    first = json.loads((tmp_path / "x.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["text"] == FORMULAS["text"][0] and first["label"] == "-1"
    write_export(FORMULAS, "parquet", tmp_path / "x.parquet")
    assert pd.read_parquet(tmp_path / "x.parquet")["text"].tolist() == FORMULAS["text"].tolist()


def test_what_a_killed_export_left_is_removed_by_the_next(tmp_path: Path) -> None:
    import subprocess
    import sys

    from annotator.io import tempfiles

    out = tmp_path / "labels.csv"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a finished process: its pid is free
    host = tempfiles.temp_path(tmp_path, "x").name.split(".")[2].rsplit("-", 2)[0]
    left = tmp_path / f".labels.csv.{host}-{dead.pid}-abcdef012345.tmp"
    left.write_text("half a file")
    folder = tmp_path / f".labels_images.{host}-{dead.pid}-abcdef012345.tmp"
    folder.mkdir()
    mine = tempfiles.temp_path(tmp_path, "labels.csv")  # a live writer's (this process)
    mine.write_text("in progress")
    write_export(export_frame(), "csv", out)
    assert not left.exists() and not folder.exists() and mine.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["labels.csv", mine.name])
