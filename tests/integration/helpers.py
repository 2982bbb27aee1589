"""Helpers for store tests: a snapshot of everything a failed action must leave unchanged, and
a small project of well-separated blobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sqlalchemy as sa

from annotator import loop, services
from annotator.store.db import Store
from annotator.store.models import Base


def blob_project(
    store: Store, folder: Path, name: str, *, per_class: int, batch_size: int
) -> Store:
    """A project of 3 well-separated 4-d classes ``a``, ``b``, ``c`` (hidden ground truth),
    ``per_class`` items each, strategy auto; returns the store."""
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0, 0], [8, 8, 0, 0], [0, 8, 8, 8]], dtype=float)
    y = np.repeat(np.array(["a", "b", "c"]), per_class)
    X = centers[np.repeat(np.arange(3), per_class)] + rng.normal(size=(3 * per_class, 4))
    path = folder / f"{name}.npz"
    np.savez(path, X=X, y=y)
    services.import_path(store, path, name, services.ImportOptions())
    loop.configure(store, name, strategy="auto", batch_size=batch_size)
    return store


def snapshot(store: Store) -> dict[str, object]:
    """Row counts of every table plus the feature cache folder's files."""
    counts: dict[str, object] = {}
    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = conn.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar()
    folder = store.features_dir()
    counts["feature_files"] = (
        sorted(p.name for p in folder.iterdir()) if folder and folder.exists() else []
    )
    return counts
