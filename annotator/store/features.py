"""The per-project feature cache: one float32 matrix, row ``i`` = the item with ``row == i``.

Where it lives (``Store.features_dir``): ``PROTOLABEL_DATA_DIR`` when set, else a folder beside
the SQLite file (``protolabel.db.features/``), never the working directory. PostgreSQL without a
data dir keeps it in the database (``feature_chunks``), so app instances on several machines
share it; each machine then memory-maps a local copy kept in its temp folder.

Writes never leave a half state: a new matrix goes to a temporary file that is moved into
place only after the database transaction that describes it has committed
(``PendingFeatures.commit``); a crash in between leaves an old or missing cache, which
``annotator.services.load_features`` rebuilds from the items and the stored featurizer.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from annotator.io import tempfiles
from annotator.store.db import Store
from annotator.store.models import FeatureChunk, Project

CHUNK_ROWS = 16_384


class FeatureCacheMissing(LookupError):
    """The cache for the project's current features version is not there (rebuild it)."""


def _file_name(project_id: int, version: int) -> str:
    return f"project-{project_id}-v{version}.npy"


@dataclass
class PendingFeatures:
    """A matrix written but not yet visible; ``commit`` after the DB commit, else ``abort``."""

    tmp_path: Path | None = None
    final_path: Path | None = None
    stale: list[Path] = field(default_factory=list)

    def commit(self) -> None:
        if self.tmp_path is not None and self.final_path is not None:
            os.replace(self.tmp_path, self.final_path)
            _fsync_dir(self.final_path.parent)
        for path in self.stale:
            path.unlink(missing_ok=True)

    def abort(self) -> None:
        if self.tmp_path is not None:
            self.tmp_path.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stage(store: Store, session: Session, project: Project, matrix: np.ndarray) -> PendingFeatures:
    """Stage ``matrix`` as the project's next features version (bumps ``features_version``).

    Call inside the write transaction that adds the items; ``project.id`` must be set (flush).
    """
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    project.features_version = (project.features_version or 0) + 1
    project.feature_dim = int(matrix.shape[1])
    folder = store.features_dir()
    if folder is None:
        _stage_in_db(session, project, matrix)
        return PendingFeatures()
    folder.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(folder)
    tmp = tempfiles.temp_path(folder, "features", "npy")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, matrix)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    final = folder / _file_name(project.id, project.features_version)
    stale = sorted(folder.glob(f"project-{project.id}-v*.npy"))
    return PendingFeatures(Path(tmp), final, [p for p in stale if p != final])


#: Temporary feature files of the old naming (no owner in the name) older than this are
#: leftovers of a killed import.
_OLD_TMP_AGE_S = 24 * 3600


def _sweep_leftovers(folder: Path) -> None:
    """Remove what killed imports left in the features folder."""
    tempfiles.sweep(folder, "features")
    for path in folder.glob(".tmp-*.npy"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > _OLD_TMP_AGE_S:
                path.unlink()


def _stage_in_db(session: Session, project: Project, matrix: np.ndarray) -> None:
    session.execute(delete(FeatureChunk).where(FeatureChunk.project_id == project.id))
    for start in range(0, len(matrix), CHUNK_ROWS):
        part = matrix[start : start + CHUNK_ROWS]
        session.add(
            FeatureChunk(
                project_id=project.id,
                version=project.features_version,
                chunk=start // CHUNK_ROWS,
                n_rows=len(part),
                data=part.tobytes(),
            )
        )


def discard(store: Store, project_id: int) -> PendingFeatures:
    """Files to remove once the project's deletion has committed."""
    folder = store.features_dir()
    if folder is None or not folder.exists():
        return PendingFeatures()
    return PendingFeatures(stale=sorted(folder.glob(f"project-{project_id}-v*.npy")))


def load(store: Store, session: Session, project: Project, n_rows: int) -> np.ndarray:
    """The project's features as a read-only memory map of shape (n_rows, feature_dim)."""
    folder = store.features_dir()
    if folder is None:
        path = _local_copy(store, session, project)
    else:
        path = folder / _file_name(project.id, project.features_version)
    if not path.exists():
        raise FeatureCacheMissing(str(path))
    matrix = np.load(path, mmap_mode="r")
    if matrix.shape != (n_rows, project.feature_dim) or matrix.dtype != np.float32:
        raise FeatureCacheMissing(
            f"{path}: shape {matrix.shape}, expected {(n_rows, project.feature_dim)}"
        )
    return matrix


def load_or_none(
    store: Store, session: Session, project: Project, n_rows: int
) -> np.ndarray | None:
    """Like ``load``, but None where the cache is missing or stale."""
    try:
        return load(store, session, project, n_rows)
    except FeatureCacheMissing:
        return None


def _local_copy(store: Store, session: Session, project: Project) -> Path:
    """Materialise the database-held features once per machine, for memory mapping."""
    key = hashlib.sha256(store.url_for_humans.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "protolabel-features" / key
    path = folder / _file_name(project.id, project.features_version)
    if path.exists():
        return path
    chunks = session.scalars(
        select(FeatureChunk)
        .where(FeatureChunk.project_id == project.id)
        .where(FeatureChunk.version == project.features_version)
        .order_by(FeatureChunk.chunk)
    ).all()
    if not chunks:
        return path
    dim = project.feature_dim
    matrix = np.concatenate(
        [np.frombuffer(c.data, np.float32).reshape(c.n_rows, dim) for c in chunks]
    )
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=folder)
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, matrix)
    os.replace(tmp, path)
    return path
