"""Exports as downloads: the bytes ``protolabel export`` would write, for the Export page.

The file is written by :func:`annotator.services.export_project` (the CLI's export) into a
private temporary folder and read back. Image projects in CSV or JSONL come as a zip holding the
table and its ``<stem>_images/`` folder, laid out as the CLI writes them; Parquet embeds images.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from annotator import services
from annotator.errors import ExportError
from annotator.store.db import Store
from annotator.teams import Identity

MIME = {
    "csv": "text/csv",
    "jsonl": "application/jsonl",
    "parquet": "application/vnd.apache.parquet",
    "zip": "application/zip",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Download:
    file_name: str
    data: bytes
    mime: str
    rows: int


def file_stem(project: str, include_all: bool) -> str:
    """A safe file name stem from the project name (``reviews_labelled``, ``reviews_all``)."""
    stem = _UNSAFE.sub("_", project).strip("._") or "project"
    return f"{stem}_{'all' if include_all else 'labelled'}"


def export_download(
    store: Store,
    project: str,
    fmt: str,
    *,
    include_all: bool = False,
    raw_cells: bool = False,
    who: Identity | None = None,
) -> Download:
    """The export of ``project`` as ``fmt`` (csv, jsonl, parquet) in memory, for ``who`` (a
    reviewer or owner where a login is required)."""
    if fmt not in services.EXPORT_FORMATS:
        raise ExportError(
            f"unknown export format {fmt!r} (choose {', '.join(services.EXPORT_FORMATS)})"
        )
    stem = file_stem(project, include_all)
    with tempfile.TemporaryDirectory(prefix="protolabel-export-") as tmp:
        folder = Path(tmp)
        out = folder / f"{stem}.{fmt}"
        rows = services.export_project(
            store, project, fmt, out, include_all=include_all, raw_cells=raw_cells, who=who
        )
        images = folder / f"{stem}_images"
        if not images.is_dir():
            return Download(out.name, out.read_bytes(), MIME[fmt], rows)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(out, out.name)
            for path in sorted(images.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
        return Download(f"{stem}.{fmt}.zip", buffer.getvalue(), MIME["zip"], rows)
