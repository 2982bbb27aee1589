"""Helpers for store tests: a snapshot of everything a failed action must leave unchanged."""

from __future__ import annotations

import sqlalchemy as sa

from annotator.store.db import Store
from annotator.store.models import Base


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
