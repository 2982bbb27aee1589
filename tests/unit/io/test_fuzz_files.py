"""Hostile files: valid files of every format, mutated at random (bytes flipped, cut short,
inserted), read by the readers, previewed and imported through the upload path. The only
outcomes allowed are a success or a one-line ``ProtolabelError``; never another exception."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import tempfile
import zipfile
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator import services, uploads
from annotator.config import Settings
from annotator.errors import ProtolabelError
from annotator.io.readers import read_input
from annotator.store.db import Store

from .helpers import image_bytes


@cache
def samples() -> dict[str, bytes]:
    """One small valid file per format."""
    frame = pd.DataFrame({"text": ["good film", "bad film", "so so"], "label": ["p", "n", "p"]})
    out: dict[str, bytes] = {}
    out["csv"] = frame.to_csv(index=False).encode()
    out["tsv"] = frame.to_csv(index=False, sep="\t").encode()
    out["jsonl"] = "".join(json.dumps(r) + "\n" for r in frame.to_dict("records")).encode()
    out["csv.gz"] = gzip.compress(out["csv"])
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    out["parquet"] = buffer.getvalue()
    buffer = io.BytesIO()
    np.save(buffer, np.arange(12, dtype=np.float32).reshape(4, 3))
    out["npy"] = buffer.getvalue()
    buffer = io.BytesIO()
    np.savez(buffer, X=np.eye(4), y=np.array(["a", "b", "a", "b"]))
    out["npz"] = buffer.getvalue()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, label in enumerate("abab"):
            archive.writestr(f"{label}/{i}.png", image_bytes(seed=i))
    out["zip"] = buffer.getvalue()
    return out


@cache
def upload_store() -> Store:
    folder = Path(tempfile.mkdtemp(prefix="protolabel-fuzz-"))
    return Store.open(Settings.from_env(str(folder / "fuzz.db")))


_names = itertools.count()
edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6)


def _mutate(data: bytes, flips, cut: int | None, insert: bytes) -> bytes:
    buf = bytearray(data)
    for position, value in flips:
        if buf:
            buf[position % len(buf)] = value
    if insert:
        at = (flips[0][0] if flips else 0) % (len(buf) + 1)
        buf[at:at] = insert
    if cut is not None:
        del buf[cut % (len(buf) + 1) :]
    return bytes(buf)


def _one_line(exc: ProtolabelError) -> None:
    assert "\n" not in str(exc) and "Traceback" not in str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(["csv", "tsv", "jsonl", "csv.gz", "parquet", "npy", "npz"]),
    flips=edits,
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
    insert=st.binary(max_size=8),
)
def test_mutated_files_read_or_refuse_in_one_line(fmt, flips, cut, insert) -> None:
    data = _mutate(samples()[fmt], flips, cut, insert)
    path = Path(tempfile.mkdtemp()) / f"data.{fmt}"
    path.write_bytes(data)
    text_col = "text" if fmt not in ("npy", "npz") else None
    for action in (
        lambda: read_input(path, text_col=text_col),
        lambda: uploads.preview_path(path),
    ):
        try:
            action()
        except ProtolabelError as exc:
            _one_line(exc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(["csv", "jsonl", "npz", "zip"]),
    flips=edits,
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
    insert=st.binary(max_size=8),
)
def test_mutated_uploads_import_or_refuse_in_one_line(fmt, flips, cut, insert) -> None:
    data = _mutate(samples()[fmt], flips, cut, insert)
    store = upload_store()
    name = f"upload.{fmt}"
    opts = services.ImportOptions(
        text_col="text" if fmt in ("csv", "jsonl") else None,
        label_from_folder=fmt == "zip",
        labels=None if fmt in ("npz", "zip") else "p,n",
    )
    try:
        uploads.preview_upload(store.settings, name, data)
    except ProtolabelError as exc:
        _one_line(exc)
    project = f"fuzz{next(_names)}"
    try:
        uploads.import_upload(store, name, data, project, opts)
    except ProtolabelError as exc:
        _one_line(exc)
        assert project not in {p.name for p in services.list_projects(store)}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("deep.jsonl", '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "nested too deep"),
        ("big.jsonl", '{"text": "x", "n": ' + "9" * 5000 + "}\n", "5000 digits"),
    ],
)
def test_hostile_json_is_refused_in_one_line(tmp_path: Path, name, content, message) -> None:
    path = tmp_path / name
    path.write_text(content)
    for action in (
        lambda: read_input(path, text_col="text"),
        lambda: uploads.preview_path(path),
    ):
        with pytest.raises(ProtolabelError, match=message) as caught:
            action()
        _one_line(caught.value)


def test_an_npy_header_that_lies_about_its_size_is_refused_before_allocating(
    tmp_path: Path,
) -> None:
    buffer = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**12, 1000)}
    np.lib.format.write_array_header_1_0(buffer, header)
    path = tmp_path / "huge.npy"
    path.write_bytes(buffer.getvalue() + b"\0" * 64)
    for action in (lambda: read_input(path), lambda: uploads.preview_path(path)):
        with pytest.raises(ProtolabelError, match="header declares a 1000000000000x1000"):
            action()


def test_texts_with_nul_or_lone_surrogates_or_over_the_limit_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    for text, message in (
        ("a\u0000b", "NUL character"),
        ("\ud800 broken", "lone surrogate"),
        ("x" * 2000, "at most 1.0 KiB per item"),
    ):
        lines = json.dumps({"text": "fine"}) + "\n" + json.dumps({"text": text}) + "\n"
        path.write_text(lines, encoding="utf-8")  # JSON escapes NUL and the surrogate
        with pytest.raises(ProtolabelError, match=message) as caught:
            read_input(path, text_col="text", max_text_bytes=1024)
        assert "row 1" in str(caught.value) or "line 2" in str(caught.value)


def test_an_image_over_the_pixel_limit_is_refused_from_its_header() -> None:
    from annotator.io.readers import check_image

    with pytest.raises(ProtolabelError, match="a 8 x 6 image"):
        check_image("big.png", image_bytes(), max_pixels=40)
    check_image("ok.png", image_bytes(), max_pixels=48)


def test_a_zip_with_too_many_entries_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            archive.writestr(f"{i}.png", image_bytes(seed=i))
    with pytest.raises(ProtolabelError, match="3 entries; at most 2"):
        uploads._unzip("z.zip", buffer.getvalue(), tmp_path / "out", 10**9, 2)


def test_a_zip_entry_name_with_a_nul_is_refused_not_cut_short(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.png", image_bytes())
        archive.writestr("xQy.png", image_bytes(seed=1))
    data = buffer.getvalue().replace(b"xQy.png", b"x\0y.png")  # zipfile would write "x"
    with pytest.raises(ProtolabelError, match="unusable file name"):
        uploads._unzip("z.zip", data, tmp_path / "out", 10**9, 10)


def test_an_image_past_pils_bomb_warning_is_refused_in_one_line_without_a_warning(
    recwarn: pytest.WarningsRecorder,
) -> None:
    from PIL import Image

    from annotator.io.readers import check_image

    buffer = io.BytesIO()
    Image.new("L", (10_000, 10_000)).save(buffer, "PNG")  # 100 megapixels, PIL warns at 89
    with pytest.raises(ProtolabelError, match="a 10000 x 10000 image"):
        check_image("big.png", buffer.getvalue())
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__]


def test_a_csv_text_under_the_limit_is_read_whatever_the_csv_modules_default(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.csv"
    long = "word " * 40_000  # 200,000 characters: over csv's 131,072, under 1 MiB
    pd.DataFrame({"text": [long, "short"]}).to_csv(path, index=False)
    assert read_input(path, text_col="text").texts[0] == long
    with pytest.raises(ProtolabelError, match="PROTOLABEL_MAX_TEXT_MB") as caught:
        read_input(path, text_col="text", max_text_bytes=150_000)
    _one_line(caught.value)
