"""The file formats protolabel imports, in one place: each format's suffixes, whether it may
be gzipped, and whether it is a table or arrays. The upload types of the Projects page, the
upload checks and the lists in error messages come from here; :mod:`annotator.io.readers`
reads each format (adding a table format: an entry here plus its two readers there, of the
whole file and of its first rows)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class FileFormat:
    name: str
    suffixes: tuple[str, ...]
    kind: str  # "table": one row per item; "arrays": numpy arrays X (and y, ids)
    gzip: bool = False  # may also come gzipped (".csv.gz")


FORMATS = (
    FileFormat("csv", (".csv",), "table", gzip=True),
    FileFormat("tsv", (".tsv",), "table", gzip=True),
    FileFormat("jsonl", (".jsonl", ".ndjson"), "table", gzip=True),
    FileFormat("parquet", (".parquet",), "table"),
    FileFormat("npz", (".npz",), "arrays"),
    FileFormat("npy", (".npy",), "arrays"),
)
BY_NAME = {f.name: f for f in FORMATS}
_BY_SUFFIX = {s: f for f in FORMATS for s in f.suffixes}

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_FORMATS = ("PNG", "JPEG")  # as Pillow names them
OTHER_IMAGE_SUFFIXES = (".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic", ".avif")
ZIP_SUFFIX = ".zip"  # an upload of zipped images


@dataclass(frozen=True)
class FileName:
    """What a file's name says of its format."""

    format: FileFormat | None  # None: no format of ours (or one that may not be gzipped is)
    gzipped: bool
    base: str  # the suffix before ".gz" (else the last one), lower case; "" for none
    shown: str  # the suffix as an error message shows it: ".csv.gz", ".xlsx", "(none)"


def parse_name(name: str) -> FileName:
    suffixes = [s.lower() for s in PurePosixPath(name).suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    base = suffixes[-2] if gzipped and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    fmt = _BY_SUFFIX.get(base)
    if fmt is not None and gzipped and not fmt.gzip:
        fmt = None
    shown = "".join(suffixes[-2:]) if gzipped else (base or "(none)")
    return FileName(fmt, gzipped, base, shown)


def supported(images_in: str = "a folder") -> str:
    """The formats for an error message; ``images_in``: where images come ("a .zip")."""
    gz = [s for f in FORMATS if f.gzip for s in f.suffixes]
    plain = [s for f in FORMATS if not f.gzip for s in f.suffixes]
    return (
        f"{', '.join(gz)} (each optionally .gz), {', '.join(plain)}, "
        f"or {images_in} of PNG/JPEG images"
    )


def upload_types() -> list[str]:
    """The suffixes an upload widget accepts (without the dot)."""
    return [s[1:] for f in FORMATS for s in f.suffixes] + ["gz", ZIP_SUFFIX[1:]]
