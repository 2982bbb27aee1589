"""Rebuild ``fine_foods.csv.gz`` from the Debian package r-cran-modeldata (not used at run time).

    cd /tmp && apt-get download r-cran-modeldata && dpkg-deb -x r-cran-modeldata_*_all.deb md
    python data/make_fine_foods.py /tmp/md/usr/lib/R/site-library/modeldata/data data/fine_foods.csv.gz

The R package keeps its data sets in a lazy-load database (``Rdata.rdx`` index, ``Rdata.rdb``
blobs). The index is a gzipped R serialization, read with the PyPI package ``rdata``; it maps
each object to an (offset, length) in the ``.rdb`` file, whose blob is a 4-byte big-endian
length, a compression tag (``Z``: raw LZMA2 stream, ``2``: bzip2, ``1``: zlib, ``0``: none;
no tag, a bare zlib stream, in databases written with R's default compression) and a
serialized R object, again read with ``rdata``. ``small_fine_foods`` consists of the
objects ``training_data`` (4,000 reviews) and ``testing_data`` (1,000 reviews), each with the
columns ``product``, ``review`` and ``score`` (``great`` or ``other``).
"""

from __future__ import annotations

import bz2
import lzma
import struct
import sys
import warnings
import zlib
from pathlib import Path

import pandas as pd
import rdata

OBJECTS = {"training_data": "train", "testing_data": "test"}
_DECOMPRESS = {
    b"Z": lambda blob: lzma.decompress(
        blob, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 9}]
    ),
    b"2": bz2.decompress,
    b"1": zlib.decompress,
    b"0": lambda blob: blob,
}


def read_lazyload_object(folder: Path, name: str, db: str = "Rdata") -> object:
    """One object of an R lazy-load database, converted by ``rdata`` (data frames -> pandas)."""
    index = rdata.read_rds(folder / f"{db}.rdx")
    offset, length = (int(v) for v in index["variables"][name])
    with open(folder / f"{db}.rdb", "rb") as f:
        f.seek(offset)
        chunk = f.read(length)
    size = struct.unpack(">I", chunk[:4])[0]
    tag = chunk[4:5]
    payload = _DECOMPRESS[tag](chunk[5:]) if tag in _DECOMPRESS else zlib.decompress(chunk[4:])
    if len(payload) != size:
        raise ValueError(f"{name}: expected {size} bytes, got {len(payload)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "tbl_df" has no constructor: read as a data.frame
        return rdata.conversion.convert(rdata.parser.parse_data(payload))


def fine_foods(folder: Path) -> pd.DataFrame:
    """The 5,000 reviews as (id, text, label); ids ``train-0001`` ... and ``test-0001`` ..."""
    parts = []
    for name, split in OBJECTS.items():
        frame = read_lazyload_object(folder, name)
        ids = [f"{split}-{i:04d}" for i in range(1, len(frame) + 1)]
        parts.append(
            pd.DataFrame(
                {
                    "id": ids,
                    "text": frame["review"].astype(str).to_numpy(),
                    "label": frame["score"].astype(str).to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def main(argv: list[str]) -> None:
    folder, out = Path(argv[1]), Path(argv[2])
    table = fine_foods(folder)
    table.to_csv(out, index=False, compression={"method": "gzip", "mtime": 0})
    counts = table["label"].value_counts().to_dict()
    print(f"{out}: {len(table)} rows, labels {counts}, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv)
