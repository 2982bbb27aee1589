"""Exporters: one table of labelled items -> a CSV, JSONL or Parquet file, written atomically.

Rules of :func:`write_export`:

- The table is written to a temporary file in the target's folder and moved over the target
  with ``os.replace`` only once complete; on any error the temporary file is removed and an
  existing target is left as it was. What a killed export left beside the target is removed
  by the next export to it (``annotator.io.tempfiles``).
- Plain columns are written as they are. In CSV and JSONL, datetimes become ISO 8601 strings
  and missing values are empty (CSV) or ``null`` (JSONL); Parquet keeps the column types.
- CSV only, unless ``raw_cells``: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a
  tab or a carriage return, and is not a plain number, gets a leading apostrophe, so that a
  spreadsheet shows it as text instead of running it as a formula (OWASP, "CSV Injection").
  JSONL and Parquet stay exact.
- Image items (``images``, aligned with the rows; ``None`` where an item has no image):

  - Parquet: an ``image`` column of struct ``{bytes, path}`` with the Hugging Face ``datasets``
    features metadata, so ``datasets.load_dataset("parquet", data_files=out)`` yields PIL
    images as they are.
  - CSV / JSONL: the image files go to the sibling folder ``<out stem>_images/`` (written to a
    temporary folder, then swapped in, replacing an old one), and a ``file_name`` column holds
    each file's path relative to the export's folder. To load images with ``datasets``, name
    the file ``metadata.csv`` / ``metadata.jsonl`` and use
    ``load_dataset("imagefolder", data_dir=<its folder>)``, or export Parquet.

  Image file names come from the ``id`` column (each path part reduced to letters, digits,
  ``.``, ``_`` and ``-``; a clash gets the row number appended) and the format's extension.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from annotator.errors import ExportError
from annotator.io import tempfiles

EXPORT_FORMATS = ("csv", "jsonl", "parquet")
ExportFormat = Literal["csv", "jsonl", "parquet"]
IMAGE_COLUMN = "image"
FILE_NAME_COLUMN = "file_name"
HF_IMAGE_FEATURES = {"info": {"features": {IMAGE_COLUMN: {"_type": "Image"}}}}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg"}


def write_export(
    df: pd.DataFrame,
    fmt: ExportFormat,
    out: str | os.PathLike[str],
    *,
    images: list[bytes | None] | None = None,
    raw_cells: bool = False,
) -> None:
    """Write ``df`` (one row per item) to ``out`` as ``fmt``; see the module docstring."""
    if fmt == "csv" and not raw_cells:
        df = spreadsheet_safe(df)
    out = _check_target(fmt, Path(out))
    for stem in (out.name, f"{out.stem}_images"):  # what a killed export left behind
        tempfiles.sweep(out.parent, stem)
    if images is not None and len(images) != len(df):
        raise ValueError(f"{len(images)} images for {len(df)} rows")
    for column in (IMAGE_COLUMN, FILE_NAME_COLUMN) if images is not None else ():
        if column in df.columns:
            raise ValueError(f"the table already has a {column!r} column")
    names = _image_names(df, images) if images is not None else None
    try:
        if fmt == "parquet":
            _atomic_file(out, lambda tmp: _write_parquet(df, tmp, images, names))
        elif images is None:
            _atomic_file(out, lambda tmp: _write_text_table(df, fmt, tmp))
        else:
            _write_with_image_folder(df, fmt, out, images, names)
    except OSError as exc:
        raise ExportError(f"{out}: cannot write the export ({exc.strerror or exc})") from None


def _check_target(fmt: str, out: Path) -> Path:
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose {', '.join(EXPORT_FORMATS)}")
    if out.is_dir():
        raise ExportError(f"{out}: is a folder; give a file name such as {out / ('labels.' + fmt)}")
    parent = out.parent
    if not parent.is_dir():
        raise ExportError(f"{out}: the folder {parent} does not exist")
    return out


# --------------------------------------------------------------------------------------------
# Atomic writes


def _temp_name(out: Path, tag: str) -> Path:
    return tempfiles.temp_path(out.parent, out.name, tag)


def _atomic_file(out: Path, write) -> None:
    """``write(tmp)`` then ``os.replace(tmp, out)``; the temporary file never survives."""
    tmp = _temp_name(out, "tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # umask applies
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _write_with_image_folder(df, fmt, out: Path, images, names) -> None:
    folder = out.parent / f"{out.stem}_images"
    staging = _temp_name(folder, "tmp")
    table_tmp = _temp_name(out, "tmp")
    try:
        _write_image_files(staging, images, names)
        table = _with_file_names(df, folder.name, names)
        os.close(os.open(table_tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        _write_text_table(table, fmt, table_tmp)
        _fsync(table_tmp)
        _swap_folder(staging, folder)
        os.replace(table_tmp, out)
    finally:
        table_tmp.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def _swap_folder(staging: Path, folder: Path) -> None:
    old = None
    if folder.exists() or folder.is_symlink():
        if not folder.is_dir() or folder.is_symlink():
            raise ExportError(f"{folder}: exists and is not a folder; move it away first")
        old = _temp_name(folder, "old")
        os.replace(folder, old)
    try:
        os.replace(staging, folder)
    except OSError:
        if old is not None:
            os.replace(old, folder)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Tables


#: What a spreadsheet may read as the start of a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells a spreadsheet cannot run as formulas (see the module docstring);
    numeric columns and numbers written as text are left alone."""
    table = df.copy()
    for column in table.columns:
        if table[column].dtype == object or pd.api.types.is_string_dtype(table[column]):
            table[column] = table[column].map(_defuse, na_action="ignore")
    return table


def _defuse(value: Any) -> Any:
    risky = isinstance(value, str) and value.startswith(_FORMULA_START)
    return "'" + value if risky and not _PLAIN_NUMBER.fullmatch(value) else value


def _write_text_table(df: pd.DataFrame, fmt: str, path: Path) -> None:
    table = _plain(df)
    if fmt == "csv":  # RFC 4180 line ends, so a cell holding a bare \r is quoted too
        table.to_csv(path, index=False, lineterminator="\r\n")
        return
    columns = [str(c) for c in table.columns]
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in table.itertuples(index=False, name=None):
            record = dict(zip(columns, (_json_value(v) for v in row), strict=True))
            f.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with datetime columns (and datetime objects in object columns) as ISO strings."""
    table = df.copy()
    for column in table.columns:
        series = table[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series):
            table[column] = series.map(_iso, na_action="ignore").astype(object)
        elif series.dtype == object:
            table[column] = series.map(_iso_if_datetime)
    return table


def _iso(value: Any) -> str:
    return value.isoformat()


def _iso_if_datetime(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.datetime, dt.date, dt.time)) else value


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.datetime, dt.date, dt.time, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, bytes):
        raise ExportError("a column holds raw bytes; pass images through the images argument")
    return value


def _write_parquet(df: pd.DataFrame, path: Path, images, names) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    if images is not None:
        struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
        cells = [
            None if blob is None else {"bytes": bytes(blob), "path": name}
            for blob, name in zip(images, names, strict=True)
        ]
        table = table.append_column(pa.field(IMAGE_COLUMN, struct), pa.array(cells, type=struct))
        metadata = dict(table.schema.metadata or {})
        metadata[b"huggingface"] = json.dumps(HF_IMAGE_FEATURES).encode("utf-8")
        table = table.replace_schema_metadata(metadata)
    pq.write_table(table, path)


# --------------------------------------------------------------------------------------------
# Image files


def _image_names(df: pd.DataFrame, images: list[bytes | None]) -> list[str | None]:
    """A unique relative POSIX path per image (None where there is no image)."""
    ids = df["id"].tolist() if "id" in df.columns else list(range(len(df)))
    taken: set[str] = set()
    names: list[str | None] = []
    for row, (item_id, blob) in enumerate(zip(ids, images, strict=True)):
        if blob is None:
            names.append(None)
            continue
        stem = _safe_stem(item_id, row)
        name = stem + _extension(blob)
        if name.casefold() in taken:
            name = f"{stem}_{row}{_extension(blob)}"
        taken.add(name.casefold())
        names.append(name)
    return names


def _safe_stem(item_id: Any, row: int) -> str:
    parts = [_UNSAFE.sub("_", part) for part in str(item_id).replace("\\", "/").split("/")]
    parts = [p for p in parts if p.strip(".")]
    return "/".join(parts) if parts else f"item_{row}"


def _extension(blob: bytes) -> str:
    if blob.startswith(b"\x89PNG"):
        return ".png"
    if blob.startswith(b"\xff\xd8"):
        return ".jpg"
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as img:
        return _EXTENSIONS.get(img.format, f".{(img.format or 'bin').lower()}")


def _write_image_files(staging: Path, images, names) -> None:
    staging.mkdir()
    for blob, name in zip(images, names, strict=True):
        if blob is None:
            continue
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(bytes(blob))


def _with_file_names(df: pd.DataFrame, folder: str, names) -> pd.DataFrame:
    table = df.copy()
    paths = [None if name is None else f"{folder}/{name}" for name in names]
    position = list(table.columns).index("id") + 1 if "id" in table.columns else 0
    table.insert(position, FILE_NAME_COLUMN, paths)
    return table
