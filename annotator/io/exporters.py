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
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
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
    write_export_chunks([(df, images)], fmt, out, raw_cells=raw_cells)


def write_export_chunks(
    chunks: Iterable[tuple[pd.DataFrame, list[bytes | None] | None]],
    fmt: ExportFormat,
    out: str | os.PathLike[str],
    *,
    raw_cells: bool = False,
) -> int:
    """Write the table given as ``(rows, images)`` chunks, in order, to ``out`` as ``fmt``
    without ever holding it whole (a million rows stream through); return the row count.

    Every chunk has the first one's columns; ``images`` is None for every chunk of a table
    without images. The rules are :func:`write_export`'s."""
    out = _check_target(fmt, Path(out))
    for stem in (out.name, f"{out.stem}_images"):  # what a killed export left behind
        tempfiles.sweep(out.parent, stem)
    folder = out.parent / f"{out.stem}_images"
    staging: Path | None = None
    table_tmp = _temp_name(out, "tmp")
    taken: set[str] = set()
    rows = 0
    try:
        os.close(os.open(table_tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # umask applies
        with _TableSink(fmt, table_tmp) as sink:
            for df, images in chunks:
                names = _check_chunk(df, images, taken, rows)
                if fmt == "csv" and not raw_cells:
                    df = spreadsheet_safe(df)
                if images is not None and fmt != "parquet":
                    if staging is None:
                        staging = _temp_name(folder, "tmp")
                        staging.mkdir()
                    _write_image_files(staging, images, names)
                    df = _with_file_names(df, folder.name, names)
                    images = None
                sink.write(df, images, names)
                rows += len(df)
        _fsync(table_tmp)
        if staging is not None:
            _swap_folder(staging, folder)
        os.replace(table_tmp, out)
    except OSError as exc:
        raise ExportError(f"{out}: cannot write the export ({exc.strerror or exc})") from None
    finally:
        table_tmp.unlink(missing_ok=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return rows


def _check_chunk(df: pd.DataFrame, images, taken: set[str], start: int) -> list | None:
    """The chunk's image names (unique over the whole export), after checking its shape."""
    if images is None:
        return None
    if len(images) != len(df):
        raise ValueError(f"{len(images)} images for {len(df)} rows")
    for column in (IMAGE_COLUMN, FILE_NAME_COLUMN):
        if column in df.columns:
            raise ValueError(f"the table already has a {column!r} column")
    return _image_names(df, images, taken, start)


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
_FORMULA_CHARACTER = r"[=+\-@\t\r]"  # the same, as a pattern
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells a spreadsheet cannot run as formulas (see the module docstring);
    numeric columns and numbers written as text are left alone."""
    table = df.copy(deep=False)  # columns are replaced, never changed in place
    for column in table.columns:
        series = table[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            risky = _formula_like(series)
            if risky.any():  # most columns have no such cell: left as they are
                fixed = series.astype(object)
                fixed[risky] = [_defuse(v) for v in fixed[risky]]
                table[column] = fixed.astype(series.dtype)  # an all-missing chunk stays text
    return table


def _formula_like(series: pd.Series) -> np.ndarray:
    """Where a cell is text starting as a formula would (``_defuse`` then spares numbers):
    vectorised for a string column, and only over the present cells of an object column."""
    if series.dtype != object:
        found = series.str.match(_FORMULA_CHARACTER)
        return found.fillna(False).to_numpy(dtype=bool)
    values = series.to_numpy()
    present = np.flatnonzero(pd.notna(values))
    found = np.zeros(len(values), dtype=bool)
    found[present] = [isinstance(v, str) and v.startswith(_FORMULA_START) for v in values[present]]
    return found


def _defuse(value: Any) -> Any:
    risky = isinstance(value, str) and value.startswith(_FORMULA_START)
    return "'" + value if risky and not _PLAIN_NUMBER.fullmatch(value) else value


class _TableSink:
    """One table file written chunk by chunk: CSV through Arrow's writer (RFC 4180 line ends;
    a wide numeric table writes 30x faster than pandas' ``to_csv``) on a thread per core
    (``_CsvFile``), JSONL a line per row through ``json`` (exact), Parquet through Arrow's
    ``ParquetWriter`` (dictionary-encoding all but floating-point columns). The first chunk
    fixes the columns' types; a column with no value in it yet is typed as text. Later
    chunks are converted and written on a thread of their own (``_Behind``)."""

    #: Rows converted to JSON at a time.
    json_rows = 2048

    def __init__(self, fmt: str, path: Path):
        self.fmt, self.path = fmt, path
        self.schema: Any = None
        self.writer: Any = None
        self.file: Any = None
        self.behind = _Behind()

    def __enter__(self) -> _TableSink:
        return self

    def __exit__(self, failed: object, *exc: object) -> None:
        try:
            if failed is None:
                self.behind.wait()  # raises what the last write raised
        except BaseException:
            failed = True
            raise
        finally:
            self.behind.stop()
            if isinstance(self.writer, _CsvFile) and failed is not None:
                self.writer.abort()
            elif self.writer is not None:
                self.writer.close()
            if self.file is not None:
                self.file.close()

    def write(self, df: pd.DataFrame, images, names) -> None:
        if self.fmt == "jsonl":
            self._write_jsonl(df)
        elif self.writer is None:  # the first chunk fixes the columns' types
            table = self._table(df, images, names)
            self.writer = self._open(table.schema)
            self.writer.write_table(table)
        else:
            self.behind.run(self._write_table, df, images, names)

    def _write_table(self, df: pd.DataFrame, images, names) -> None:
        self.writer.write_table(self._table(df, images, names))

    def _table(self, df: pd.DataFrame, images, names):
        table = self._arrow(_plain(df) if self.fmt == "csv" else df)
        if self.fmt == "parquet" and images is not None:
            table = _with_image_column(table, images, names)
        return table

    def _arrow(self, df: pd.DataFrame):
        import pyarrow as pa

        if self.schema is None:  # from_pandas: the first table's metadata goes in the file
            schema = pa.Schema.from_pandas(df, preserve_index=False)
            for i, field in enumerate(schema):
                text = pd.api.types.is_string_dtype(df[field.name].dtype)
                if pa.types.is_null(field.type) or (text and not pa.types.is_string(field.type)):
                    schema = schema.set(i, field.with_type(pa.string()))
            self.schema = schema
            return pa.Table.from_pandas(df, schema=self.schema, preserve_index=False)
        # from_pandas spends ~0.2 ms on each column however it is stored (6 s of a 1M x 384
        # export): columns of one numpy float type are taken from one 2D array instead
        groups: dict[np.dtype, list[int]] = {}
        for k, dtype in enumerate(df.dtypes):
            if isinstance(dtype, np.dtype) and dtype.kind == "f":
                groups.setdefault(dtype, []).append(k)
        if sum(len(g) for g in groups.values()) < 32:  # a narrow table: not worth it
            return pa.Table.from_pandas(df, schema=self.schema, preserve_index=False)
        arrays: list[Any] = [None] * len(self.schema)
        for positions in groups.values():
            values = df.iloc[:, positions].to_numpy()
            for j, k in enumerate(positions):
                arrays[k] = pa.array(values[:, j], type=self.schema.field(k).type, from_pandas=True)
        rest = [k for k, array in enumerate(arrays) if array is None]
        part = pa.schema([self.schema.field(k) for k in rest])
        table = pa.Table.from_pandas(df.iloc[:, rest], schema=part, preserve_index=False)
        for j, k in enumerate(rest):
            arrays[k] = table.column(j)
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _open(self, schema):
        if self.fmt == "csv":
            return _CsvFile(self.path, schema)
        import pyarrow as pa
        import pyarrow.parquet as pq

        if IMAGE_COLUMN in schema.names:
            metadata = dict(schema.metadata or {})
            metadata[b"huggingface"] = json.dumps(HF_IMAGE_FEATURES).encode("utf-8")
            schema = schema.with_metadata(metadata)
        # a million distinct floats only make the writer build a dictionary and drop it (3/4
        # of a 384-column export's time, and a larger file)
        leaves = [leaf for field in schema for leaf in field.flatten()]
        coded = [f.name for f in leaves if not pa.types.is_floating(f.type)]
        return pq.ParquetWriter(str(self.path), schema, use_dictionary=coded)

    def _write_jsonl(self, df: pd.DataFrame) -> None:
        if self.file is None:
            self.file = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        columns = [str(c) for c in df.columns]
        encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode  # as json.dumps
        for start in range(0, len(df), self.json_rows):  # a wide table's cells are many objects
            part = df.iloc[start : start + self.json_rows]
            values = [_json_column(part[c]) for c in part.columns]
            rows = zip(*values, strict=True)
            self.file.writelines(
                encode(dict(zip(columns, row, strict=True))) + "\n" for row in rows
            )


class _Behind:
    """Calls run in order on a thread of its own, at most one behind the caller: Arrow lets
    go of the GIL while it converts and encodes, so the caller makes its next chunk meanwhile
    (and at most two chunks are in memory)."""

    def __init__(self) -> None:
        self.pool: ThreadPoolExecutor | None = None
        self.pending: Future | None = None

    def run(self, fn, *args) -> None:
        self.wait()
        if self.pool is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="export-writer")
        self.pending = self.pool.submit(fn, *args)

    def wait(self) -> None:
        """Until the last call is done; raises what it raised."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class _CsvFile:
    """A CSV file as Arrow's ``CSVWriter`` writes it, but formatted on a thread per core:
    each table is cut into slices of ``rows_per_task`` rows that Arrow's ``write_csv``
    formats in a pool (it lets go of the GIL; turning floats into text is most of a wide
    export's time), and the texts are written in order, so the file is byte for byte the
    same. At most ``2 x workers`` slices wait (bounded memory); the caller prepares its next
    table meanwhile."""

    rows_per_task = 4096

    def __init__(self, path: Path, schema):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self.options = pacsv.WriteOptions(eol="\r\n", include_header=False)
        self.workers = max(1, pa.cpu_count())
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="csv-export")
        self.pending: deque[Future] = deque()
        self.file = open(path, "wb")  # noqa: SIM115 (closed by close / abort)
        header = pacsv.WriteOptions(eol="\r\n", include_header=True)
        self.file.write(_csv_text(schema.empty_table(), header))

    def write_table(self, table) -> None:
        for start in range(0, len(table), self.rows_per_task):
            part = table.slice(start, self.rows_per_task)
            self.pending.append(self.pool.submit(_csv_text, part, self.options))
            while len(self.pending) > 2 * self.workers:
                self.file.write(self.pending.popleft().result())

    def close(self) -> None:
        try:
            while self.pending:
                self.file.write(self.pending.popleft().result())
        finally:
            self.abort()

    def abort(self) -> None:
        """Stop without writing what is still waiting (the export failed)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()
        self.file.close()


def _csv_text(table, options):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=options)
    return sink.getvalue()


def _json_column(series: pd.Series) -> list:
    """A column's cells as ``_json_value`` makes them, a whole numpy column at a time; float32
    ones as the shortest decimal that reads back as the same float32 (0.1, not
    0.10000000149011612), which Arrow writes (and reads) 4x faster than numpy."""
    dtype = series.dtype
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf":
        return [_json_value(v) for v in series.tolist()]
    values = series.to_numpy()
    if dtype.kind != "f":
        return values.tolist()  # Python ints and bools
    finite = np.isfinite(values)
    if dtype == np.float32:
        import pyarrow as pa
        import pyarrow.compute as pc

        shortest = pc.cast(pa.array(np.where(finite, values, 0)), pa.string())
        values = pc.cast(shortest, pa.float64()).to_numpy()
    cells = values.tolist()
    for k in np.flatnonzero(~finite):
        cells[k] = None
    return cells


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with datetime columns (and datetime objects in object columns) as ISO strings."""
    table = df.copy(deep=False)  # columns are replaced, never changed in place
    for column in table.columns:
        series = table[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series):
            table[column] = series.map(_iso, na_action="ignore").astype(object)
        elif series.dtype == object and _may_hold_dates(series):
            table[column] = series.map(_iso_if_datetime)
    return table


def _may_hold_dates(series: pd.Series) -> bool:
    """False for an object column of text only (or of nothing), which is written as it is
    (as its mapped copy would be) without a pass over its cells."""
    return pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty")


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


def _with_image_column(table, images, names):
    """``table`` with the image struct column that Hugging Face ``datasets`` reads."""
    import pyarrow as pa

    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    cells = [
        None if blob is None else {"bytes": bytes(blob), "path": name}
        for blob, name in zip(images, names, strict=True)
    ]
    return table.append_column(pa.field(IMAGE_COLUMN, struct), pa.array(cells, type=struct))


# --------------------------------------------------------------------------------------------
# Image files


def _image_names(
    df: pd.DataFrame, images: list[bytes | None], taken: set[str], start: int = 0
) -> list[str | None]:
    """A relative POSIX path per image (None where there is no image), unique among
    ``taken`` (the names of earlier chunks, updated); ``start``: the chunk's first row."""
    ids = df["id"].tolist() if "id" in df.columns else list(range(start, start + len(df)))
    names: list[str | None] = []
    for row, (item_id, blob) in enumerate(zip(ids, images, strict=True), start):
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
