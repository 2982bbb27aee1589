"""Bringing data into a new project from the browser: an upload (written to a private
temporary folder, a zip of images unpacked with its paths checked) or a file on the server
under ``Settings.import_root`` (``PROTOLABEL_IMPORT_ROOT``), a quick preview of either, and the
import itself.

Imports go through :func:`annotator.services.import_path`, the CLI's importer, so the options,
the checks and the error messages are the CLI's; an upload's error messages name the uploaded
file, as ``protolabel import FILE`` would. The formats are :mod:`annotator.io.formats`'s.
"""

from __future__ import annotations

import csv
import io
import os
import re
import struct
import tempfile
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from annotator import services
from annotator.config import Settings
from annotator.errors import ImportFormatError, ProtolabelError
from annotator.io.formats import IMAGE_SUFFIXES, ZIP_SUFFIX, parse_name, supported
from annotator.io.readers import check_npy_header, detect_format, one_line, read_table_head
from annotator.io.roles import Roles, infer_roles
from annotator.store.db import Store
from annotator.teams import Identity, require_login

#: Rows a preview reads to infer the columns' roles (it shows PREVIEW_ROWS of them).
ROLE_SAMPLE_ROWS = 200

PREVIEW_ROWS = 5
PREVIEW_IMAGES = 8
UPLOAD_SUPPORTED = supported(images_in=f"a {ZIP_SUFFIX}")


# --------------------------------------------------------------------------------------------
# Uploads and server paths


def upload_format(name: str) -> str:
    """The uploaded file's format (a reader format, or ``zip`` for zipped images); else an error."""
    named = parse_name(name)
    if named.base == ZIP_SUFFIX and not named.gzipped:
        return "zip"
    if named.format is None:
        raise ImportFormatError(
            f"{name}: unsupported file type {named.shown}; supported: {UPLOAD_SUPPORTED}"
        )
    return named.format.name


def check_upload(settings: Settings, name: str, size: int) -> str:
    """Check an upload's name and size before reading it; return its format."""
    name = upload_name(name)
    fmt = upload_format(name)
    limit = min(settings.max_upload_bytes, settings.max_import_bytes)
    if size > limit:
        raise ImportFormatError(
            f"{name}: the upload is {size / 2**20:.1f} MiB, over the upload limit of "
            f"{limit / 2**20:.0f} MiB (PROTOLABEL_MAX_UPLOAD_MB; larger files: "
            "protolabel import, or a server path under PROTOLABEL_IMPORT_ROOT)"
        )
    if size == 0:
        raise ImportFormatError(f"{name}: the upload is empty")
    return fmt


def upload_name(name: str) -> str:
    """The uploaded file's own name, without any folder a browser sent along."""
    base = PurePosixPath(str(name).replace("\\", "/")).name.strip()
    if not base or base in (".", ".."):
        raise ImportFormatError(f"{name!r}: not a file name")
    return base


class _Staged:
    """An upload written to a private temporary folder (a zip unpacked), removed on exit."""

    def __init__(self, settings: Settings, name: str, data: bytes) -> None:
        self.name = upload_name(name)
        self.fmt = check_upload(settings, self.name, len(data))
        self._dir = tempfile.TemporaryDirectory(prefix="protolabel-upload-")
        folder = Path(self._dir.name)
        if self.fmt == "zip":
            self.path = folder / Path(self.name).stem
            _unzip(self.name, data, self.path, settings.max_import_bytes, settings.max_zip_entries)
        else:
            self.path = folder / self.name
            self.path.write_bytes(data)

    def __enter__(self) -> _Staged:
        return self

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()

    def rename_errors(self, exc: ProtolabelError) -> ProtolabelError:
        """The same error with the temporary path replaced by the uploaded file's name."""
        message = str(exc).replace(str(self.path), self.name)
        return type(exc)(message.replace(str(self._dir.name) + os.sep, ""))


def _unzip(name: str, data: bytes, target: Path, max_bytes: int, max_entries: int) -> None:
    """Unpack the images of a zip; refuse paths leaving the folder, odd names, too many
    entries and contents over ``max_bytes`` (counted as unpacked, whatever the zip claims)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError):
        raise ImportFormatError(f"{name}: not a valid zip file") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > max_entries:
            raise ImportFormatError(
                f"{name}: {len(members)} entries; at most {max_entries} in one zip "
                "(PROTOLABEL_MAX_ZIP_ENTRIES)"
            )
        target.mkdir()
        left = max_bytes
        for member in members:
            parts = _safe_parts(name, member.orig_filename)  # zipfile cuts .filename at a NUL
            if parts[0] == "__MACOSX":
                continue
            content = _member_bytes(name, archive, member, left, max_bytes)
            left -= len(content)
            out = target.joinpath(*parts)
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(content)
            except OSError as exc:
                raise ImportFormatError(
                    f"{name}: cannot unpack {member.filename!r} ({exc.strerror or exc}; "
                    "a file and a folder of the same name?)"
                ) from None
    if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in target.rglob("*")):
        raise ImportFormatError(f"{name}: the zip holds no PNG or JPEG images")


def _safe_parts(name: str, filename: str) -> tuple[str, ...]:
    parts = PurePosixPath(filename.replace("\\", "/")).parts
    if filename.startswith("/") or ".." in parts or not parts:
        raise ImportFormatError(f"{name}: unsafe path {filename!r} in the zip")
    if "\0" in filename or any(len(part.encode()) > 255 for part in parts):
        raise ImportFormatError(f"{name}: unusable file name {filename[:60]!r}... in the zip")
    return parts


def _member_bytes(
    name: str, archive: zipfile.ZipFile, member: zipfile.ZipInfo, left: int, limit: int
) -> bytes:
    """A member's bytes, refusing damage, encryption, unknown compression and more than
    ``left`` bytes (read with a cap, so a zip that lies about its sizes cannot flood memory)."""
    if member.flag_bits & 0x1:
        raise ImportFormatError(f"{name}: {member.filename!r} is encrypted; unpack it first")
    try:
        with archive.open(member) as f:
            content = f.read(left + 1)
    except NotImplementedError:
        raise ImportFormatError(
            f"{name}: {member.filename!r} uses a compression this reader does not know"
        ) from None
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError, RuntimeError) as exc:
        raise ImportFormatError(
            f"{name}: {member.filename!r} is damaged ({one_line(str(exc), 120)})"
        ) from None
    if len(content) > left:
        raise ImportFormatError(
            f"{name}: unpacks to more than the import size limit of {_human_mib(limit)} "
            "(PROTOLABEL_MAX_IMPORT_MB)"
        )
    return content


#: The Projects page's import fields, by the command-line flag an error message names.
FORM_FIELDS = {
    "--text-col": "Text column",
    "--label-col": "Label column",
    "--id-col": "Id column",
    "--feature-cols": "Feature columns",
    "--labels": "Label set",
    "--features": "Featurizer",
    "--label-from-folder": "Images: label from folder name",
    "--as-annotations": "Record the labels read as annotations",
    "--project": "Project name",
}
_FLAG = re.compile("|".join(sorted(map(re.escape, FORM_FIELDS), key=len, reverse=True)))


def for_the_form(message: str) -> str:
    """An import error as the browser form reads it: each flag named by its field
    (``pass --text-col review`` -> ``set the "Text column" field to review``)."""
    message = re.sub(r"\bpass (--[a-z-]+)", r"set \1 to", message)
    return _FLAG.sub(lambda m: f'the "{FORM_FIELDS[m.group(0)]}" field', message)


def _human_mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def import_upload(
    store: Store,
    name: str,
    data: bytes,
    project: str,
    opts: services.ImportOptions,
    *,
    who: Identity | None = None,
) -> services.ImportSummary:
    """Import an uploaded file (or zip of images) exactly as ``protolabel import`` would, as
    ``who`` (``services.import_path`` checks them before the upload is unpacked)."""
    services.check_may_import(store, project, opts.append, who)
    with _Staged(store.settings, name, data) as staged:
        try:
            return services.import_path(
                store, staged.path, project, opts, source_name=staged.name, who=who
            )
        except ProtolabelError as exc:
            raise staged.rename_errors(exc) from None


def server_path(settings: Settings, raw: str) -> Path:
    """``raw`` (relative to the import root, or absolute inside it) as a checked path."""
    root = settings.import_root
    if root is None:
        raise ImportFormatError(
            "importing server paths is off: set PROTOLABEL_IMPORT_ROOT to the folder the app "
            "may import from"
        )
    text = (raw or "").strip()
    if not text:
        raise ImportFormatError("the server path is empty")
    candidate = Path(text).expanduser()
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not _under(resolved, root):
        raise ImportFormatError(f"{text}: outside the import root {root}; only paths under it")
    if not resolved.exists():
        raise ImportFormatError(f"{text}: no such file or folder under {root}")
    if resolved.is_dir():
        _check_folder_stays_under(resolved, root, text)
    return resolved


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _check_folder_stays_under(folder: Path, root: Path, shown: str) -> None:
    """Every file (and linked folder) in ``folder`` must resolve under ``root``: a symbolic
    link inside an image folder must not import or preview a file from elsewhere."""
    for current, dirs, names in os.walk(folder):
        for name in [*names, *dirs]:
            path = Path(current) / name
            if path.is_symlink() and not _under(path.resolve(), root):
                inside = path.relative_to(folder).as_posix()
                raise ImportFormatError(
                    f"{shown}: {inside} links to a file outside the import root {root}; "
                    "only files under it are read"
                )


def list_server_paths(
    settings: Settings, limit: int = 500, *, who: Identity | None = None
) -> list[str]:
    """Importable files and folders under the import root, relative to it (for a picker)."""
    require_login(who, login_required=settings.login_required, action="list server files")
    root = settings.import_root
    if root is None or not root.is_dir():
        return []
    found: list[str] = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(current)
        if here != root and any(f.lower().endswith(IMAGE_SUFFIXES) for f in files):
            found.append(str(here.relative_to(root)) + "/")
        for f in sorted(files):
            try:
                upload_format(f)
            except ImportFormatError:
                continue
            if not f.startswith("."):
                found.append(str((here / f).relative_to(root)))
        if len(found) >= limit:
            break
    return found[:limit]


def import_server_path(
    store: Store,
    raw: str,
    project: str,
    opts: services.ImportOptions,
    *,
    who: Identity | None = None,
) -> services.ImportSummary:
    """Import a file or image folder under the import root with the CLI's importer."""
    services.check_may_import(store, project, opts.append, who)
    return services.import_path(store, server_path(store.settings, raw), project, opts, who=who)


# --------------------------------------------------------------------------------------------
# Preview


@dataclass(frozen=True)
class Preview:
    """The first rows of a table (all columns, as read) or the first images of a folder."""

    kind: str  # "table" | "arrays" | "images"
    rows: pd.DataFrame
    columns: list[str]
    images: list[tuple[str, bytes]]
    note: str = ""
    #: A table's text, label and id columns as the import would infer them.
    roles: Roles = Roles()


def preview_upload(
    settings: Settings, name: str, data: bytes, *, who: Identity | None = None
) -> Preview:
    require_login(who, login_required=settings.login_required, action="preview a file")
    with _Staged(settings, name, data) as staged:
        try:
            return preview_path(staged.path)
        except ProtolabelError as exc:
            raise staged.rename_errors(exc) from None


def preview_server_path(settings: Settings, raw: str, *, who: Identity | None = None) -> Preview:
    require_login(who, login_required=settings.login_required, action="preview a file")
    return preview_path(server_path(settings, raw))


def preview_path(path: Path, n: int = PREVIEW_ROWS) -> Preview:
    """A quick look at the first rows or images; the full check happens at import."""
    fmt = detect_format(path)
    source = str(path)
    try:
        if fmt == "images":
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            shown = [(str(p.relative_to(path).with_suffix("")), p.read_bytes()) for p in files]
            return Preview(
                "images", pd.DataFrame(), [], shown[:PREVIEW_IMAGES], f"{len(files)} images"
            )
        if fmt in ("npz", "npy"):
            return _preview_arrays(path, fmt, n)
        rows = read_table_head(path, fmt, max(n, ROLE_SAMPLE_ROWS))
    except (OSError, ValueError, EOFError, csv.Error, zlib.error, zipfile.BadZipFile) as exc:
        reason = one_line(str(exc).split(";")[0], 200)
        raise ImportFormatError(f"{source}: cannot be read for a preview ({reason})") from None
    except RecursionError:
        raise ImportFormatError(f"{source}: nested too deep to preview") from None
    except MemoryError:
        raise ImportFormatError(f"{source}: too large to preview") from None
    except (SyntaxError, struct.error, tokenize.TokenError, NotImplementedError, KeyError) as exc:
        reason = one_line(f"{type(exc).__name__}: {exc}", 200)
        raise ImportFormatError(f"{source}: cannot be read for a preview ({reason})") from None
    columns = [str(c) for c in rows.columns]
    sample = {str(c): rows[c].tolist() for c in rows.columns}
    roles = infer_roles(columns, sample)
    return Preview("table", rows.head(n), columns, [], roles=roles)


def _preview_arrays(path: Path, fmt: str, n: int) -> Preview:
    if fmt == "npy":
        check_npy_header(path)  # before anything is allocated
        arrays = {"X": np.load(path, allow_pickle=False, mmap_mode="r")}
    else:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    x = arrays.get("X")
    frame = pd.DataFrame(np.asarray(x)[:n]) if x is not None and np.ndim(x) == 2 else pd.DataFrame()
    note = ", ".join(f"{k}: shape {tuple(v.shape)}" for k, v in arrays.items())
    return Preview("arrays", frame, list(arrays), [], note)
