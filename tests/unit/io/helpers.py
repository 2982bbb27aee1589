"""Small inputs for the io tests, made in memory or in tmp_path (no binary fixtures)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from annotator.io.dataset import ImportedData


def image_bytes(
    size: tuple[int, int] = (8, 6), mode: str = "RGB", fmt: str = "PNG", seed: int = 0
) -> bytes:
    """A random image of ``size`` (width, height) in ``mode``, encoded as ``fmt``."""
    rng = np.random.default_rng(seed)
    width, height = size
    if mode in ("I;16", "I"):
        pixels = rng.integers(0, 65535, size=(height, width), dtype=np.uint16)
        img = Image.fromarray(pixels)
    else:
        img = Image.fromarray(rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8))
        img = img.convert(mode)
    buffer = io.BytesIO()
    img.save(buffer, format=fmt)
    return buffer.getvalue()


def write_images(root: Path, files: dict[str, bytes]) -> Path:
    for rel, blob in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
    return root


def text_data(texts: list[str], labels: list[str | None] | None = None) -> ImportedData:
    return ImportedData(
        kind="text",
        source="texts",
        ids=[str(i) for i in range(len(texts))],
        texts=texts,
        labels=labels,
    )


def image_data(images: list[bytes]) -> ImportedData:
    ids = [f"img{i}" for i in range(len(images))]
    return ImportedData(
        kind="image", source="images", ids=ids, images=images, image_paths=[f"{i}.png" for i in ids]
    )


def feature_data(matrix: np.ndarray, names: list[str] | None = None) -> ImportedData:
    return ImportedData(
        kind="features",
        source="features",
        ids=[str(i) for i in range(len(matrix))],
        features=np.asarray(matrix, dtype=np.float64),
        feature_names=names,
    )
