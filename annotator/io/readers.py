"""Readers: one file or folder in, one validated :class:`ImportedData` out, nothing written.

Formats, picked by the path's suffix (the registry: :mod:`annotator.io.formats`):

- ``.csv`` / ``.tsv`` / ``.jsonl`` (``.ndjson``), each optionally gzipped (``.csv.gz``), and
  ``.parquet``: one row per item. With ``text_col`` the items are texts (kind ``"text"``);
  otherwise they are feature rows (kind ``"features"``) made of ``feature_cols``, by default
  every numeric column except the id and label columns. A column is numeric when more than
  half of its non-empty cells are numbers (its other cells are then errors, never a reason to
  drop it); the others are left out (listed in ``extra["ignored_columns"]``); a table with no
  numeric column at all is an error that suggests ``--text-col`` rather than a guess. A pandas
  index stored in a Parquet file is not a column.
- a folder: PNG/JPEG images, found recursively (hidden files and folders skipped, other files
  ignored and listed in ``extra["ignored_files"]``, other image formats refused). Ids are the
  paths relative to the folder without extension, POSIX style (``cat/001``); with
  ``label_from_folder`` the label is the name of the image's immediate folder (``cat``), and
  ``None`` for images lying directly in the imported folder. The original bytes are kept.
- ``.npz`` with arrays ``X`` (rows, features), optional ``y`` (labels) and ``ids`` (other
  array names through ``label_col`` / ``id_col``); ``.npy`` holding a 2-D ``X`` only.

Values:

- CSV/TSV are parsed strictly (``csv`` module, ``strict=True``): every record must have as
  many fields as the header, an unterminated quote is an error, blank lines are skipped.
  Files must be UTF-8 (a BOM is allowed).
- Ids: without ``id_col`` the row numbers ``"0"``, ``"1"``, ...; otherwise the column's values
  as strings, stripped, non-empty and unique.
- Labels: strings, stripped; ``3`` and ``3.0`` read as ``"3"`` (also a text column whose
  every label is written like ``3.0``); an empty cell, ``null`` or NaN is ``None`` (no label).
- Texts: kept exactly as written; an empty or blank text is an error.
- Features: float64, finite; booleans count as 0/1; a missing, non-numeric, NaN or infinite
  value is an error. Features stored as float32 (an array, or Parquet columns that are all
  float32) stay float32: widening a 1M x 384 pool would double the import's memory, and every
  float32 value is exact in float64, so the content hashes are the same either way.

Errors: every bad input raises :class:`ImportFormatError` with a one-line message
``<file>: <where>: <problem>``. ``row N`` counts data rows from 0 (the default ids), ``line N``
counts physical lines of the file from 1, header included. Examples::

    reviews.csv: column 'reveiw' (--text-col) not found (did you mean 'review'?); columns: id, review, label
    reviews.csv: line 7: expected 3 fields as in the header, found 2
    feats.csv: row 4 (line 6), column 'b': 'oops' is not a number
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import gzip
import hashlib
import io
import json
import math
import os
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import ImportFormatError
from annotator.io.dataset import ImportedData
from annotator.io.formats import (
    BY_NAME,
    IMAGE_FORMATS,
    IMAGE_SUFFIXES,
    OTHER_IMAGE_SUFFIXES,
    parse_name,
    supported,
)
from annotator.io.roles import SAMPLE_ROWS, Roles, infer_roles

DEFAULT_MAX_BYTES = 2 * 1024**3
#: One text item (UTF-8) and one image, unless the caller says otherwise.
DEFAULT_MAX_TEXT_BYTES = 1024**2
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000

SUPPORTED = supported()
_INTEGRAL_TEXT = re.compile(r"[+-]?\d+\.0+")


def fail(source: str, message: str) -> ImportFormatError:
    """The error for ``source``, on one line (a library's reason may span several);
    ``raise fail(...)`` keeps the raise visible at the call site."""
    return ImportFormatError(f"{source}: {one_line(message)}")


def one_line(text: str, limit: int = 300) -> str:
    """``text`` with its line breaks and runs of spaces collapsed, at most ``limit`` long."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# Entry point


def read_input(
    path: str | os.PathLike[str],
    *,
    text_col: str | None = None,
    feature_cols: Sequence[str] | str | None = None,
    id_col: str | None = None,
    label_col: str | None = None,
    label_from_folder: bool = False,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    infer: bool = True,
) -> ImportedData:
    """Read and validate one file or folder; see the module docstring for the rules.

    ``max_bytes`` limits the file size (for a gzipped file also its decompressed size, for a
    folder the images' total size); ``None`` means no limit. ``max_text_bytes`` limits one
    text item (UTF-8), ``max_image_pixels`` one image (width x height). ``infer``: a table's
    text, label and id columns not given are inferred from its column names and values
    (:mod:`annotator.io.roles`); what was inferred is in ``extra["inferred"]``.
    """
    path = Path(path)
    limits = _Limits(max_text_bytes, max_image_pixels)
    try:
        return _read_input(
            path, text_col, feature_cols, id_col, label_col, label_from_folder, max_bytes,
            limits, infer,
        )  # fmt: skip
    except RecursionError:
        raise fail(str(path), "nested too deep to read") from None
    except MemoryError:
        raise fail(str(path), "needs more memory than this machine has") from None
    except (
        OSError,
        EOFError,
        zlib.error,
        zipfile.BadZipFile,
        struct.error,
        NotImplementedError,
    ) as exc:
        # a damaged file the checks above did not name more precisely
        raise fail(str(path), f"damaged or unreadable ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class _Limits:
    text_bytes: int
    image_pixels: int


def _read_input(
    path, text_col, feature_cols, id_col, label_col, label_from_folder, max_bytes, limits, infer
) -> ImportedData:
    source = str(path)
    fmt = detect_format(path)
    options = _Options(
        source, text_col, _split_names(source, feature_cols), id_col, label_col,
        limits.text_bytes, infer,
    )  # fmt: skip
    if fmt == "images":
        options.refuse("an image folder", "text_col", "feature_cols", "id_col", "label_col")
        return read_image_folder(
            path, label_from_folder=label_from_folder, max_bytes=max_bytes,
            max_pixels=limits.image_pixels,
        )  # fmt: skip
    if label_from_folder:
        raise fail(source, "--label-from-folder applies to image folders only")
    if BY_NAME[fmt].kind == "arrays":
        options.refuse(f"an .{fmt} file", "text_col", "feature_cols")
        return _read_arrays(path, fmt, options, max_bytes)
    table = _load_table(path, fmt, max_bytes, limits.text_bytes)
    return _table_to_data(table, options)


def detect_format(path: Path) -> str:
    """``csv``, ``tsv``, ``jsonl``, ``parquet``, ``npz``, ``npy`` or ``images``; else an error."""
    source = str(path)
    if not path.exists():
        raise fail(source, "no such file or folder")
    named = parse_name(path.name)
    if path.is_dir():
        if named.format or named.gzipped:
            shown = named.base + (".gz" if named.gzipped and named.base != ".gz" else "")
            raise fail(source, f"is a folder, but a {shown} file was expected")
        return "images"
    if not path.is_file():
        raise fail(source, "is not a regular file")
    if named.format is None:
        raise fail(source, f"unsupported file type {named.shown}; supported: {SUPPORTED}")
    return named.format.name


@dataclass
class _Options:
    source: str
    text_col: str | None
    feature_cols: list[str] | None
    id_col: str | None
    label_col: str | None
    max_text_bytes: int = 0  # set by read_input
    infer: bool = False

    def refuse(self, what: str, *names: str) -> None:
        for name in names:
            if getattr(self, name) is not None:
                flag = "--" + name.replace("_", "-")
                raise fail(self.source, f"{flag} does not apply to {what}")


def _split_names(source: str, names: Sequence[str] | str | None) -> list[str] | None:
    if names is None:
        return None
    parts = names.split(",") if isinstance(names, str) else [str(p) for p in names]
    cleaned = [p.strip() for p in parts]
    if not any(cleaned):
        raise fail(source, "--feature-cols is empty")
    if "" in cleaned:
        raise fail(source, f"--feature-cols {','.join(parts)!r} has an empty column name")
    return cleaned


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _check_size(source: str, size: int, max_bytes: int | None, what: str = "file") -> None:
    if max_bytes is not None and size > max_bytes:
        raise fail(
            source,
            f"{what} is {_human(size)} ({size} bytes), over the import size limit of "
            f"{_human(max_bytes)} ({max_bytes} bytes)",
        )


# --------------------------------------------------------------------------------------------
# Tables (annotator.io.formats: CSV, TSV, JSONL, Parquet) -> _Table


@dataclass
class _Table:
    """Columns of cells as read, before any conversion.

    A column is a sequence of Python values (CSV: ``str`` only; JSONL: JSON values, ``None``
    where a record lacks the key) or a ``pyarrow.ChunkedArray`` (Parquet).
    """

    source: str
    fmt: str
    columns: list[str]
    cells: dict[str, Any]
    n_rows: int
    lines: list[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def where(self, row: int, column: str | None = None) -> str:
        place = f"row {row}" if self.lines is None else f"row {row} (line {self.lines[row]})"
        return place if column is None else f"{place}, column {column!r}"

    def fail(self, row: int, column: str | None, problem: str) -> ImportFormatError:
        return fail(self.source, f"{self.where(row, column)}: {problem}")

    def cell(self, column: str, row: int) -> Any:
        col = self.cells[column]
        return col[row].as_py() if _is_arrow(col) else col[row]

    def values(self, column: str) -> list[Any]:
        col = self.cells[column]
        return col.to_pylist() if _is_arrow(col) else list(col)

    def head(self, column: str, n: int) -> list[Any]:
        """The column's first ``n`` values."""
        col = self.cells[column]
        return col.slice(0, n).to_pylist() if _is_arrow(col) else list(col[:n])


def _is_arrow(col: Any) -> bool:
    return type(col).__module__.startswith("pyarrow")


def _load_table(
    path: Path, fmt: str, max_bytes: int | None, max_field: int = DEFAULT_MAX_TEXT_BYTES
) -> _Table:
    _check_size(str(path), path.stat().st_size, max_bytes)
    return TABLE_READERS[fmt](path, max_bytes, max_field)


def _text(path: Path, max_bytes: int | None) -> str:
    return _decode(str(path), _read_bytes(path, max_bytes))


#: Each table format's reader of the whole file: (path, max_bytes, max_field) -> _Table.
TABLE_READERS = {
    "csv": lambda path, max_bytes, max_field: _parse_delimited(
        str(path), _text(path, max_bytes), "csv", ",", max_field
    ),
    "tsv": lambda path, max_bytes, max_field: _parse_delimited(
        str(path), _text(path, max_bytes), "tsv", "\t", max_field
    ),
    "jsonl": lambda path, max_bytes, _max_field: _parse_jsonl(str(path), _text(path, max_bytes)),
    "parquet": lambda path, _max_bytes, _max_field: _read_parquet(path),
}


def _read_bytes(path: Path, max_bytes: int | None) -> bytes:
    if path.suffix.lower() != ".gz":
        return path.read_bytes()
    limit = -1 if max_bytes is None else max_bytes + 1
    try:
        with gzip.open(path, "rb") as f:
            data = f.read(limit)
    except (OSError, EOFError, zlib.error) as exc:
        raise fail(str(path), f"not a readable gzip file ({exc})") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise fail(
            str(path), f"decompressed size is over the import size limit of {_human(max_bytes)}"
        )
    return data


def _decode(source: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        raise fail(
            source,
            f"line {line}: byte 0x{byte:02x} at offset {exc.start} is not valid UTF-8 "
            "(save the file as UTF-8)",
        ) from None


def _parse_delimited(
    source: str, text: str, fmt: str, delimiter: str, max_field: int = DEFAULT_MAX_TEXT_BYTES
) -> _Table:
    records, spans = _csv_records(source, text, delimiter, max_field)
    if not records:
        raise fail(source, "empty file (no header, no rows)")
    header = _header(source, records[0], spans[0][0])
    if len(records) == 1:
        raise fail(source, "no rows (only a header)")
    for record, (start, end) in zip(records[1:], spans[1:], strict=True):
        if len(record) != len(header):
            raise fail(source, _ragged(start, end, len(header), len(record)))
    columns = list(zip(*records[1:], strict=True))
    cells = dict(zip(header, columns, strict=True))
    lines = [start for start, _ in spans[1:]]
    return _Table(source, fmt, header, cells, len(records) - 1, lines)


def _csv_records(source: str, text: str, delimiter: str, max_field: int = DEFAULT_MAX_TEXT_BYTES):
    # The csv module's field limit (131,072 characters by default) is process-wide: only ever
    # raise it, to the per-text limit, so a text the limits allow is never refused here.
    if csv.field_size_limit() < max_field:
        csv.field_size_limit(max_field)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[list[str]] = []
    spans: list[tuple[int, int]] = []
    end = 0
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            if record:  # blank lines come back as []
                records.append(record)
                spans.append((start, end))
    except csv.Error as exc:
        raise fail(source, f"line {end + 1}: {_csv_problem(exc)}") from None
    return records, spans


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return "unterminated quoted field (a quote opened in this record is never closed)"
    if "expected after" in text:
        return "unexpected character after a closing quote (unbalanced quote?)"
    if "field larger than field limit" in text:
        return (
            f"a field longer than {csv.field_size_limit()} characters: over the limit per text "
            "(PROTOLABEL_MAX_TEXT_MB), or an unbalanced quote"
        )
    return f"cannot parse the record ({text})"


def _ragged(start: int, end: int, expected: int, found: int) -> str:
    message = f"line {start}: expected {expected} fields as in the header, found {found}"
    if end > start:
        message += f" (the record runs to line {end}: check for an unbalanced quote)"
    return message


def _header(source: str, record: list[str], line: int) -> list[str]:
    names = [name.strip() for name in record]
    _check_names(source, names, f"line {line}: ")
    return names


def _check_names(source: str, names: list[str], where: str = "") -> None:
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if not name:
            raise fail(source, f"{where}column {j + 1} has an empty name")
        if name in seen:
            raise fail(
                source,
                f"{where}duplicate column name {name!r} (columns {seen[name] + 1} and {j + 1})",
            )
        seen[name] = j


def _parse_jsonl(source: str, text: str) -> _Table:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            records.append(_json_record(source, number, line))
            lines.append(number)
    if not records:
        raise fail(source, "empty file (no rows)")
    columns = list(dict.fromkeys(key for record in records for key in record))
    _check_names(source, [c.strip() for c in columns])
    cells = {c: [record.get(c) for record in records] for c in columns}
    return _Table(source, "jsonl", columns, cells, len(records), lines)


def _json_record(source: str, number: int, line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise fail(
            source, f"line {number}, character {exc.colno}: invalid JSON ({exc.msg})"
        ) from None
    except RecursionError:
        raise fail(source, f"line {number}: JSON nested too deep to read") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise fail(source, f"line {number}: {str(exc).split(';')[0]}") from None
    if not isinstance(value, dict):
        raise fail(
            source, f"line {number}: expected a JSON object {{...}}, found {type(value).__name__}"
        )
    return value


def _read_parquet(path: Path) -> _Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = str(path)
    try:
        table = pq.read_table(path)
        table.validate(full=True)  # e.g. invalid UTF-8 in a string column, else found later
    except (pa.ArrowException, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise fail(source, f"not a readable Parquet file ({first})") from None
    if table.num_rows == 0:
        raise fail(source, "empty file (no rows)")
    try:
        metadata = table.schema.pandas_metadata or {}
    except ValueError:  # damaged pandas metadata (JSON): read the columns without it
        metadata = {}
    index = [c for c in metadata.get("index_columns", []) if isinstance(c, str)]
    table = table.drop_columns(index)  # a pandas index saved beside the data is not data
    names = [str(name) for name in table.column_names]
    _check_names(source, names)
    cells = dict(zip(names, table.columns, strict=True))
    return _Table(source, "parquet", names, cells, table.num_rows)


# --------------------------------------------------------------------------------------------
# A table's first rows (a preview before the import; the import checks everything)


def read_table_head(path: Path, fmt: str, n: int):
    """The first ``n`` data rows of a table file as a pandas DataFrame of the cells as
    written (ragged CSV rows padded or cut to the header): quick, and never a full check."""
    return TABLE_HEADS[fmt](path, n)


def _text_lines(path: Path):
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    return opener(path, "rt", encoding="utf-8-sig", newline="")  # type: ignore[operator]


def _delimited_head(path: Path, n: int, delimiter: str):
    import pandas as pd

    with _text_lines(path) as f:
        records = csv.reader(f, delimiter=delimiter)
        header = next(records, [])
        rows = [r for _, r in zip(range(n), (r for r in records if r), strict=False)]
    width = len(header)
    return pd.DataFrame([(r + [""] * width)[:width] for r in rows], columns=header)


def _jsonl_head(path: Path, n: int):
    import pandas as pd

    records = []
    with _text_lines(path) as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
            if len(records) >= n:
                break
    return pd.DataFrame.from_records(records)


def _parquet_head(path: Path, n: int):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batch = next(pq.ParquetFile(path).iter_batches(batch_size=n), None)
        if batch is None:
            return pd.DataFrame()
        batch.validate(full=True)  # e.g. invalid UTF-8, else a conversion error later
        # the columns as stored: damaged pandas metadata must not stop a preview
        return batch.to_pandas(ignore_metadata=True)
    except pa.ArrowException as exc:  # not all of them are ValueError or OSError
        raise ValueError(str(exc) or type(exc).__name__) from None


#: Each table format's reader of its first rows: (path, n) -> DataFrame.
TABLE_HEADS = {
    "csv": lambda path, n: _delimited_head(path, n, ","),
    "tsv": lambda path, n: _delimited_head(path, n, "\t"),
    "jsonl": _jsonl_head,
    "parquet": _parquet_head,
}


# --------------------------------------------------------------------------------------------
# _Table -> ImportedData


def _table_to_data(table: _Table, options: _Options) -> ImportedData:
    id_name = _find_column(table, options.id_col, "--id-col")
    label_name = _find_column(table, options.label_col, "--label-col")
    text_given = _find_column(table, options.text_col, "--text-col")
    if id_name is not None and id_name == label_name:
        raise fail(table.source, f"--id-col and --label-col both name column {id_name!r}")
    inferred: dict[str, str] = {}
    if options.infer:
        given = Roles(text=text_given, label=label_name, id=id_name)
        sample = {c: table.head(c, SAMPLE_ROWS) for c in table.columns}
        roles = infer_roles(
            table.columns, sample, given=given, features_given=options.feature_cols is not None,
            features=options.feature_cols or (),
        )  # fmt: skip
        inferred = {
            role: getattr(roles, role)
            for role in ("text", "label", "id")
            if getattr(given, role) is None and getattr(roles, role) is not None
        }
        id_name, label_name = roles.id, roles.label
        options = dataclasses.replace(options, text_col=roles.text)
    ids = None
    if id_name is not None:
        try:
            ids = _ids(table, id_name)
        except ImportFormatError:
            if "id" not in inferred:
                raise
            del inferred["id"]  # named like ids, but not ids after all: row numbers
            id_name = None
    ids = ids if ids is not None else [str(i) for i in range(table.n_rows)]
    labels = _labels(table, label_name) if label_name else None
    common = {"source": table.source, "ids": ids, "labels": labels}
    extra: dict[str, Any] = {"format": table.fmt, "columns": list(table.columns)}
    if inferred:
        extra["inferred"] = inferred
    reserved = {id_name, label_name} - {None}
    if options.text_col is not None:
        if options.feature_cols is not None:
            raise fail(table.source, "give either --text-col or --feature-cols, not both")
        text_name = _find_column(table, options.text_col, "--text-col")
        _refuse_reserved(table, text_name, reserved, "--text-col")
        texts = _texts(table, text_name, options.max_text_bytes)
        return ImportedData(kind="text", texts=texts, extra=extra, **common)
    names = _feature_names(table, options.feature_cols, reserved)
    extra["ignored_columns"] = [c for c in table.columns if c not in names and c not in reserved]
    features = _feature_matrix(table, names)
    return ImportedData(
        kind="features", features=features, feature_names=names, extra=extra, **common
    )


def _find_column(table: _Table, name: str | None, flag: str) -> str | None:
    if name is None:
        return None
    wanted = str(name).strip()
    if wanted in table.cells:
        return wanted
    raise fail(table.source, _missing_column(wanted, table.columns, flag))


def _missing_column(wanted: str, columns: list[str], flag: str) -> str:
    shown = ", ".join(columns[:30]) + (
        f", ... ({len(columns)} in all)" if len(columns) > 30 else ""
    )
    return f"column {wanted!r} ({flag}) not found{_did_you_mean(wanted, columns)}; columns: {shown}"


def _did_you_mean(wanted: str, names: list[str]) -> str:
    folded = [n for n in names if n.casefold() == wanted.casefold()]
    close = folded or difflib.get_close_matches(wanted, names, n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(n) for n in close)}?)" if close else ""


def _refuse_reserved(table: _Table, name: str, reserved: set[str], flag: str) -> None:
    if name in reserved:
        raise fail(
            table.source, f"{flag} names column {name!r}, already used as the id or label column"
        )


def _ids(table: _Table, column: str) -> list[str]:
    ids: list[str] = []
    first_row: dict[str, int] = {}
    for row, value in enumerate(table.values(column)):
        text = _scalar_text(value)
        if text is None or text == "":
            raise table.fail(row, column, "missing id")
        if text in first_row:
            raise table.fail(
                row, column, f"duplicate id {text!r} (also in {table.where(first_row[text])})"
            )
        first_row[text] = row
        ids.append(text)
    return ids


def _labels(table: _Table, column: str) -> list[str | None]:
    labels: list[str | None] = []
    for row, value in enumerate(table.values(column)):
        if isinstance(value, (dict, list)):
            raise table.fail(row, column, f"label {value!r} is not a single value")
        text = _scalar_text(value)
        labels.append(text if text else None)
    return normalize_labels(labels)


def normalize_labels(labels: list[str | None]) -> list[str | None]:
    """``["1.0", None, "2.0"]`` -> ``["1", None, "2"]`` when every label is written that way."""
    present = [label for label in labels if label is not None]
    if present and all(_INTEGRAL_TEXT.fullmatch(label) for label in present):
        return [None if label is None else label.split(".")[0] for label in labels]
    return labels


def _scalar_text(value: Any) -> str | None:
    """A cell as a string (ids, labels): ints and integral floats without ``.0``; None if missing."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def _texts(table: _Table, column: str, max_bytes: int) -> list[str]:
    texts: list[str] = []
    for row, value in enumerate(table.values(column)):
        if isinstance(value, (dict, list)):
            raise table.fail(row, column, "not a text (a JSON object or list)")
        text = value if isinstance(value, str) else _scalar_text(value)
        if text is None or not text.strip():
            raise table.fail(row, column, "empty text (every row needs a text)")
        if "\x00" in text:
            raise table.fail(row, column, "the text holds a NUL character")
        if _LONE_SURROGATE.search(text):
            raise table.fail(row, column, "the text holds a lone surrogate (broken UTF-16)")
        if max_bytes and len(text) * 4 > max_bytes and len(text.encode()) > max_bytes:
            raise table.fail(
                row, column,
                f"a text of {_human(len(text.encode()))}; at most {_human(max_bytes)} per item "
                "(PROTOLABEL_MAX_TEXT_MB)",
            )  # fmt: skip
        texts.append(text)
    return texts


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _feature_names(table: _Table, wanted: list[str] | None, reserved: set[str]) -> list[str]:
    if wanted is not None:
        names = [_find_column(table, name, "--feature-cols") for name in wanted]
        for name in names:
            _refuse_reserved(table, name, reserved, "--feature-cols")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise fail(table.source, f"--feature-cols names {dupes[0]!r} twice")
        return names
    candidates = [c for c in table.columns if c not in reserved]
    names = [c for c in candidates if _looks_numeric(table.cells[c])]
    if not names:
        raise fail(table.source, _no_numeric_columns(table, candidates))
    return names


def _no_numeric_columns(table: _Table, candidates: list[str]) -> str:
    texts = [c for c in candidates if any(v not in (None, "") for v in table.values(c)[:1000])]
    if len(texts) == 1:
        hint = f"if {texts[0]!r} holds the texts, pass --text-col {texts[0]}"
    elif texts:
        hint = "to import texts, pass --text-col with one of " + ", ".join(map(repr, texts))
    else:
        hint = "pass --text-col or --feature-cols"
    return f"no numeric feature columns; {hint} (columns: {', '.join(table.columns)})"


def _feature_matrix(table: _Table, names: list[str]) -> np.ndarray:
    single = all(_is_float32(table.cells[name]) for name in names)
    matrix = np.empty((table.n_rows, len(names)), dtype=np.float32 if single else np.float64)
    for j, name in enumerate(names):
        matrix[:, j] = _numeric_column(table, name)
    return matrix


def _is_float32(col: Any) -> bool:
    if not _is_arrow(col):
        return False
    import pyarrow as pa

    return pa.types.is_float32(col.type) or pa.types.is_float16(col.type)


def _fast_floats(col: Any) -> np.ndarray | None:
    """The column as float64, or None if some cell is missing or not a number (NaN allowed)."""
    if _is_arrow(col):
        if not _arrow_numeric(col.type, booleans=True) or col.null_count:
            return None
        import pyarrow as pa

        return col.cast(pa.float64()).to_numpy()
    try:
        return np.fromiter(map(float, col), dtype=np.float64, count=len(col))
    except (TypeError, ValueError):
        return None


def _arrow_numeric(kind: Any, *, booleans: bool) -> bool:
    import pyarrow as pa

    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    return numeric or (booleans and pa.types.is_boolean(kind))


def _number_or_none(value: Any) -> float | None:
    """A cell as a number; None when it is missing or not numeric (callers tell them apart)."""
    if isinstance(value, (dict, list)) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _looks_numeric(col: Any) -> bool:
    """Numeric: every cell is a number, or more than half of the non-missing cells are."""
    if _fast_floats(col) is not None:
        return True
    if _is_arrow(col):
        return _arrow_numeric(col.type, booleans=True)
    numbers = others = 0
    for value in col:
        if _is_missing(value):
            continue
        if _number_or_none(value) is None:
            others += 1
        else:
            numbers += 1
    return numbers > others


def _numeric_column(table: _Table, name: str) -> np.ndarray:
    values = _fast_floats(table.cells[name])
    if values is None:
        _raise_first_non_number(table, name)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raw = table.cell(name, row)
        raise table.fail(
            row, name, f"{raw!r} is not a finite number (NaN and infinity are refused)"
        )
    return values


def _raise_first_non_number(table: _Table, name: str) -> None:
    for row, value in enumerate(table.values(name)):
        if _is_missing(value):
            raise table.fail(row, name, "missing value (features must be numbers)")
        if _number_or_none(value) is None:
            raise table.fail(row, name, f"{value!r} is not a number")
    raise table.fail(0, name, "cannot be read as numbers")


# --------------------------------------------------------------------------------------------
# Image folders


def read_image_folder(
    root: str | os.PathLike[str],
    *,
    label_from_folder: bool = False,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> ImportedData:
    """Every PNG/JPEG under ``root``, verified and decoded once; see the module docstring."""
    root = Path(root)
    source = str(root)
    files, ignored = _list_images(root)
    if not files:
        raise fail(source, "no PNG or JPEG images in this folder or its subfolders")
    _check_size(
        source, sum((root / f).stat().st_size for f in files), max_bytes, "the images' total"
    )
    ids = _image_ids(root, files)
    images = [_read_image(root / f, max_pixels) for f in files]
    labels = [_folder_label(f) for f in files] if label_from_folder else None
    return ImportedData(
        kind="image",
        source=source,
        ids=ids,
        images=images,
        image_paths=files,
        labels=labels,
        extra={"format": "images", "ignored_files": ignored},
    )


def _list_images(root: Path) -> tuple[list[str], list[str]]:
    found: list[str] = []
    ignored: list[str] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(names):
            if name.startswith("."):
                continue
            rel = (Path(folder) / name).relative_to(root).as_posix()
            suffix = Path(name).suffix.lower()
            if suffix in OTHER_IMAGE_SUFFIXES:
                raise fail(
                    str(root / rel), f"{suffix} images are not supported (PNG and JPEG only)"
                )
            (found if suffix in IMAGE_SUFFIXES else ignored).append(rel)
    return sorted(found), sorted(ignored)


def _image_ids(root: Path, files: list[str]) -> list[str]:
    ids: list[str] = []
    first: dict[str, str] = {}
    for rel in files:
        image_id = rel.rsplit(".", 1)[0]
        if image_id in first:
            raise fail(str(root), f"{first[image_id]} and {rel} have the same id {image_id!r}")
        first[image_id] = rel
        ids.append(image_id)
    return ids


def _folder_label(rel: str) -> str | None:
    parts = rel.split("/")
    return parts[-2] if len(parts) > 1 else None


def _read_image(path: Path, max_pixels: int) -> bytes:
    data = path.read_bytes()
    check_image(str(path), data, max_pixels)
    return data


def check_image(source: str, data: bytes, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> None:
    """Raise unless ``data`` is a complete PNG or JPEG image of at most ``max_pixels`` (PIL
    verify, then a full decode; the size is checked from the header, before decoding)."""
    from PIL import Image

    if not data:
        raise fail(source, "empty file, not an image")
    try:
        with warnings.catch_warnings():  # the size is checked below, in one line of our own
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
        with img:
            fmt = img.format
            width, height = img.size
            if width * height > max_pixels:
                raise fail(
                    source,
                    f"a {width} x {height} image ({width * height / 1e6:.0f} megapixels); at "
                    f"most {max_pixels / 1e6:.0f} (PROTOLABEL_MAX_IMAGE_MEGAPIXELS)",
                )
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except ImportFormatError:
        raise
    except Image.DecompressionBombError as exc:
        raise fail(source, f"image too large to decode safely ({exc})") from None
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, struct.error, ...
        raise fail(source, f"not a readable image, or a truncated one ({exc})") from None
    if fmt not in IMAGE_FORMATS:
        raise fail(source, f"is a {fmt} image; only PNG and JPEG are supported")


# --------------------------------------------------------------------------------------------
# NPZ / NPY


def _read_arrays(path: Path, fmt: str, options: _Options, max_bytes: int | None) -> ImportedData:
    source = str(path)
    _check_size(source, path.stat().st_size, max_bytes)
    if fmt == "npy":
        options.refuse(
            "an .npy file (it holds X only; use an .npz for ids and labels)", "id_col", "label_col"
        )
        matrix = _features_array(source, "X", _load_npy(path))
        return _array_data(source, matrix, None, None, fmt)
    with _open_npz(path) as archive:
        arrays = _npz_arrays(source, archive, options)
    matrix = _features_array(source, "X", arrays["X"])
    n = len(matrix)
    labels = _array_labels(source, options.label_col or "y", arrays.get("y"), n)
    ids = _array_ids(source, options.id_col or "ids", arrays.get("ids"), n)
    return _array_data(source, matrix, labels, ids, fmt)


def _array_data(source, matrix, labels, ids, fmt) -> ImportedData:
    return ImportedData(
        kind="features",
        source=source,
        ids=ids if ids is not None else [str(i) for i in range(len(matrix))],
        features=matrix,
        feature_names=[f"x{j}" for j in range(matrix.shape[1])],
        labels=labels,
        extra={"format": fmt},
    )


def check_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an .npy file declares, checked against its size before anything
    is allocated (a header may claim a 10^12 x 1000 array in a 200-byte file)."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            major, _minor = np.lib.format.read_magic(f)
            read = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, _fortran, dtype = read(f, max_header_size=10_000)
            data_bytes = path.stat().st_size - f.tell()
    except Exception as exc:  # noqa: BLE001 - numpy parses the header text with ast: any error
        raise fail(source, f"not a readable .npy file ({type(exc).__name__}: {exc})") from None
    if dtype.hasobject:
        raise fail(source, "holds Python objects, which cannot be read without pickle")
    declared = math.prod(shape) * dtype.itemsize
    if declared != data_bytes:
        raise fail(
            source,
            f"its header declares a {'x'.join(map(str, shape)) or 'scalar'} {dtype} array "
            f"({_human(declared)}) but the file holds {_human(max(data_bytes, 0))} of data",
        )
    return shape, dtype


def _load_npy(path: Path) -> np.ndarray:
    check_npy_header(path)
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise fail(str(path), f"cannot read the array without pickle ({exc})") from None
    except (OSError, EOFError) as exc:
        raise fail(str(path), f"not a readable .npy file ({exc})") from None


def _open_npz(path: Path):
    import zipfile

    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise fail(str(path), f"not a readable .npz file ({exc})") from None
    if not hasattr(archive, "files"):
        raise fail(str(path), "holds a single array, not an .npz archive (rename it .npy)")
    return archive


def _npz_arrays(source: str, archive, options: _Options) -> dict[str, np.ndarray]:
    names = list(archive.files)
    wanted = {"X": "X", "y": options.label_col, "ids": options.id_col}
    if wanted["y"] is None and "y" in names:
        wanted["y"] = "y"
    if wanted["ids"] is None and "ids" in names:
        wanted["ids"] = "ids"
    arrays: dict[str, np.ndarray] = {}
    for role, key in wanted.items():
        if key is None:
            continue
        if key not in names:
            raise fail(source, _missing_array(key, names))
        try:
            arrays[role] = archive[key]
        except (
            MemoryError,
            zipfile.BadZipFile,
            zlib.error,
            SyntaxError,
            NotImplementedError,
        ) as exc:
            raise fail(source, f"array {key!r} is damaged ({type(exc).__name__}: {exc})") from None
        except (ValueError, OSError, EOFError) as exc:
            raise fail(
                source,
                f"array {key!r} cannot be read without pickle ({exc}); save it as numbers or strings",
            ) from None
    return arrays


def _missing_array(key: str, names: list[str]) -> str:
    return (
        f"no array named {key!r}{_did_you_mean(key, names)}; arrays: {', '.join(names) or '(none)'}"
    )


def _features_array(source: str, key: str, array: np.ndarray) -> np.ndarray:
    if array.ndim != 2:
        raise fail(source, f"array {key!r} has shape {array.shape}; expected 2-D (rows, features)")
    if array.shape[0] == 0:
        raise fail(source, f"array {key!r} has no rows")
    if array.shape[1] == 0:
        raise fail(source, f"array {key!r} has no columns")
    if array.dtype.kind not in "biuf":
        raise fail(source, f"array {key!r} has dtype {array.dtype}; expected numbers")
    single = array.dtype.kind == "f" and array.dtype.itemsize <= 4
    matrix = np.ascontiguousarray(array, dtype=np.float32 if single else np.float64)
    for start in range(0, len(matrix), _CHECK_ROWS):  # in chunks: no matrix-sized mask
        bad = ~np.isfinite(matrix[start : start + _CHECK_ROWS])
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            row += start
            raise fail(
                source, f"array {key!r}, row {row}, column {col}: {matrix[row, col]} is not finite"
            )
    return matrix


#: Rows checked (and hashed) at a time, so no pass makes a temporary as big as the matrix.
_CHECK_ROWS = 65_536


def _vector(source: str, key: str, array: np.ndarray | None, n: int) -> list[Any] | None:
    if array is None:
        return None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or len(array) != n:
        raise fail(
            source, f"array {key!r} has shape {array.shape}; expected ({n},), one per row of X"
        )
    if array.dtype.kind not in "biufUS":
        raise fail(source, f"array {key!r} has dtype {array.dtype}; expected numbers or strings")
    return array.tolist()


def _array_labels(source: str, key: str, array, n: int) -> list[str | None] | None:
    values = _vector(source, key, array, n)
    if values is None:
        return None
    texts = [_scalar_text(v) for v in values]
    return normalize_labels([t if t else None for t in texts])


def _array_ids(source: str, key: str, array, n: int) -> list[str] | None:
    values = _vector(source, key, array, n)
    if values is None:
        return None
    ids: list[str] = []
    first: dict[str, int] = {}
    for row, value in enumerate(values):
        text = _scalar_text(value)
        if not text:
            raise fail(source, f"array {key!r}, row {row}: missing id")
        if text in first:
            raise fail(
                source,
                f"array {key!r}, row {row}: duplicate id {text!r} (also in row {first[text]})",
            )
        first[text] = row
        ids.append(text)
    return ids


# --------------------------------------------------------------------------------------------
# Content hashes


def item_bytes(data: ImportedData, i: int) -> bytes:
    """The content of item ``i`` as hashed: text as UTF-8, image bytes, features as float64."""
    if data.kind == "text" and data.texts is not None:
        return data.texts[i].encode("utf-8")
    if data.kind == "image" and data.images is not None:
        return bytes(data.images[i])
    if data.kind == "features" and data.features is not None:
        return np.ascontiguousarray(data.features[i], dtype=np.float64).tobytes()
    raise ValueError(f"{data.source}: no {data.kind} content for item {i}")


def content_hash(data: ImportedData, i: int) -> str:
    """SHA-256 (hex) of item ``i``'s content, see :func:`item_bytes`."""
    return hashlib.sha256(item_bytes(data, i)).hexdigest()


def content_hashes(data: ImportedData) -> list[str]:
    """:func:`content_hash` of every item, in order."""
    return [digest for part in iter_content_hashes(data) for digest in part]


def iter_content_hashes(data: ImportedData, rows: int = _CHECK_ROWS) -> Iterator[list[str]]:
    """:func:`content_hash` of every item, ``rows`` at a time (features are widened to float64
    a block at a time, not row by row: 1M rows hash in seconds, not minutes)."""
    for start in range(0, len(data), rows):
        stop = min(start + rows, len(data))
        if data.kind == "features" and data.features is not None:
            block = np.ascontiguousarray(data.features[start:stop], dtype=np.float64)
            size = block.shape[1] * 8
            raw = memoryview(block).cast("B")
            yield [
                hashlib.sha256(raw[k * size : (k + 1) * size]).hexdigest()
                for k in range(stop - start)
            ]
        else:
            yield [content_hash(data, i) for i in range(start, stop)]
