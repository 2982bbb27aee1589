"""The in-memory form of an import: what a reader returns and a featurizer consumes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

DataKind = Literal["text", "image", "features"]


@dataclass
class ImportedData:
    """Items read from one file or folder, validated, before anything is written.

    Exactly one of ``texts``, ``images`` or ``features`` is set, according to ``kind``.
    ``labels`` holds the ground truth read from the input (label column or class folders),
    as strings, ``None`` where a row has none; it is ``None`` when the input has no labels.
    """

    kind: DataKind
    source: str
    ids: list[str]
    texts: list[str] | None = None
    images: list[bytes] | None = None  # original encoded bytes (PNG/JPEG), as read
    image_paths: list[str] | None = None  # path relative to the imported folder
    features: np.ndarray | None = None  # (n, d) float64, finite
    feature_names: list[str] | None = None
    labels: list[str | None] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: Sequence[int]) -> ImportedData:
        """The items ``rows`` (every per-item field picked, in that order)."""
        rows = [int(r) for r in rows]

        def pick(values):
            return None if values is None else [values[r] for r in rows]

        features = None if self.features is None else np.asarray(self.features)[rows]
        return dataclasses.replace(
            self,
            ids=pick(self.ids),
            texts=pick(self.texts),
            images=pick(self.images),
            image_paths=pick(self.image_paths),
            features=features,
            labels=pick(self.labels),
        )
