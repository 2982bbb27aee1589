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
import itertools
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from annotator.errors import DatabaseError, DatabaseUnavailableError
from annotator.io import tempfiles
from annotator.store.db import Store
from annotator.store.models import FeatureChunk, Project, SchemaInfo

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
    spent: list[Path] = field(default_factory=list)  # spools copied in: removed either way

    def commit(self) -> None:
        if self.tmp_path is not None and self.final_path is not None:
            os.replace(self.tmp_path, self.final_path)
            _fsync_dir(self.final_path.parent)
        for path in [*self.stale, *self.spent]:
            path.unlink(missing_ok=True)

    def abort(self) -> None:
        for path in [self.tmp_path, *self.spent]:
            if path is not None:
                path.unlink(missing_ok=True)


@dataclass
class Spool:
    """New rows' features in a temporary ``.npy``, written a block at a time before the
    transaction that adds the rows (so a 1M x 384 import never holds a second copy of its
    features in memory); :func:`stage` takes it over, ``discard`` removes it otherwise."""

    path: Path
    n_rows: int
    dim: int
    offset: int  # where the data starts, after the .npy header

    def blocks(self, rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
        """The rows in order, read with plain file reads (no memory map to grow the RSS)."""
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            for start in range(0, self.n_rows, rows):
                count = min(rows, self.n_rows - start)
                yield np.fromfile(fh, np.float32, count * self.dim).reshape(count, self.dim)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def spool(store: Store, blocks: Iterable[tuple[int, np.ndarray]], n_rows: int, dim: int) -> Spool:
    """Write ``(first row, block)`` pairs (a featurizer's ``transform_blocks``) to a spool in
    the features folder (the system's temp folder where the database holds the features)."""
    features_dir = store.features_dir()
    folder = features_dir or Path(tempfile.gettempdir())
    tmp: Path | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if features_dir is not None:  # never sweep the system's temp folder
            _sweep_leftovers(folder)
        tmp = Path(tempfiles.temp_path(folder, "features", "npy"))
        with _new_npy(tmp, n_rows, dim) as fh:
            offset, done = fh.tell(), 0
            for start, block in blocks:
                if start != done or block.shape[1:] != (dim,):
                    raise AssertionError(f"features block at row {start}: shape {block.shape}")
                fh.write(np.ascontiguousarray(block, dtype=np.float32).tobytes())
                done += len(block)
            if done != n_rows:
                raise AssertionError(f"{done} feature rows written of {n_rows}")
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        _raise_disk_error(exc, folder)
        raise
    return Spool(tmp, n_rows, dim, offset)


@contextlib.contextmanager
def _new_npy(path: Path, n_rows: int, dim: int) -> Iterator[Any]:
    """A new private file with the header of a C-order float32 (n_rows, dim) ``.npy``; the
    caller writes the data; flushed and synced on exit."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as fh:
        header = {"descr": "<f4", "fortran_order": False, "shape": (n_rows, dim)}
        np.lib.format.write_array_header_1_0(fh, header)
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def _raise_disk_error(exc: BaseException, folder: Path) -> None:
    """A full disk, a read-only folder: one line, no traceback."""
    if isinstance(exc, OSError):
        reason = exc.strerror or f"{exc}: is the disk full?"
        raise DatabaseUnavailableError(
            f"cannot write the features to {folder} ({reason}); nothing was written"
        ) from None


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


def stage(
    store: Store, session: Session, project: Project, new: Spool, old: np.ndarray | None = None
) -> PendingFeatures:
    """Stage ``old`` rows (the stored matrix, when appending) then the ``new`` spool as the
    project's next features version (bumps ``features_version``). Call inside the write
    transaction that adds the items; ``project.id`` must be set (flush).
    """
    old = np.empty((0, new.dim), np.float32) if old is None else old
    project.features_version = (project.features_version or 0) + 1
    project.feature_dim = new.dim
    folder = store.features_dir()
    if folder is None:
        _stage_in_db(session, project, _rows_of(old, new))
        return PendingFeatures(spent=[new.path])
    final = folder / _file_name(project.id, project.features_version)
    stale = [p for p in sorted(folder.glob(f"project-{project.id}-v*.npy")) if p != final]
    if not len(old) and new.path.parent == folder:  # a new project: the spool is the file
        return PendingFeatures(new.path, final, stale)
    tmp: Path | None = None
    try:
        tmp = Path(tempfiles.temp_path(folder, "features", "npy"))
        with _new_npy(tmp, len(old) + new.n_rows, new.dim) as fh:
            for block in _rows_of(old, new):
                fh.write(block.tobytes())
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        _raise_disk_error(exc, folder)
        raise
    return PendingFeatures(tmp, final, stale, spent=[new.path])


def _rows_of(old: np.ndarray, new: Spool) -> Iterator[np.ndarray]:
    """Blocks of ``old`` then of ``new``, float32, C order."""
    for start in range(0, len(old), CHUNK_ROWS):
        yield np.ascontiguousarray(old[start : start + CHUNK_ROWS], dtype=np.float32)
    yield from new.blocks()


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


def _stage_in_db(session: Session, project: Project, blocks: Iterable[np.ndarray]) -> None:
    """The rows in chunks of ``CHUNK_ROWS`` (whatever the blocks' sizes), a flush per chunk."""
    session.execute(delete(FeatureChunk).where(FeatureChunk.project_id == project.id))
    chunk, buffer = 0, np.empty((0, project.feature_dim), np.float32)
    for block in itertools.chain(blocks, [None]):
        if block is not None:
            buffer = np.concatenate([buffer, block]) if len(buffer) else block
        while len(buffer) >= CHUNK_ROWS or (block is None and len(buffer)):
            part, buffer = buffer[:CHUNK_ROWS], buffer[CHUNK_ROWS:]
            session.add(
                FeatureChunk(
                    project_id=project.id,
                    version=project.features_version,
                    chunk=chunk,
                    n_rows=len(part),
                    data=np.ascontiguousarray(part).tobytes(),
                )
            )
            session.flush()
            chunk += 1


def discard(store: Store, project_id: int) -> PendingFeatures:
    """Files to remove once the project's deletion has committed."""
    folder = store.features_dir()
    if folder is None or not folder.exists():
        return PendingFeatures()
    return PendingFeatures(stale=sorted(folder.glob(f"project-{project_id}-v*.npy")))


def load(store: Store, session: Session, project: Project, n_rows: int | None) -> np.ndarray:
    """The project's features as a read-only memory map of shape (n_rows, feature_dim);
    ``n_rows`` None: as many rows as stored (for reading a few rows)."""
    folder = store.features_dir()
    if folder is None:
        path = _local_copy(store, session, project)
    else:
        path = folder / _file_name(project.id, project.features_version)
    if not path.exists():
        raise FeatureCacheMissing(str(path))
    matrix = np.load(path, mmap_mode="r")
    expected = (matrix.shape[0] if n_rows is None else n_rows, project.feature_dim)
    if matrix.shape != expected or matrix.dtype != np.float32:
        raise FeatureCacheMissing(f"{path}: shape {matrix.shape}, expected {expected}")
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
    """Materialise the database-held features once per machine, for memory mapping.

    The copy lives in a private folder (0700) of this user's cache
    (``$XDG_CACHE_HOME/protolabel/features/<database id>/``), named by the project and its
    features version, beside a ``.json`` record of its size and SHA-256 written with it. It is
    used only when the record matches (the size is checked on each open; the hash is not
    recomputed, so a 1M x 384 pool still opens in seconds); otherwise it is rebuilt from the
    database. The database id is random per database, so a database dropped and recreated at
    the same URL never gets the old one's features.
    """
    folder = private_cache_dir() / _instance_id(store, session)
    path = folder / _file_name(project.id, project.features_version)
    record = path.with_suffix(".json")
    if _copy_is_valid(path, record, project):
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
    _private_dir(folder)
    tmp = tempfiles.temp_path(folder, path.name, "npy")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, matrix)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    info = {"project": project.id, "version": project.features_version,
            "size": path.stat().st_size, "sha256": digest}  # fmt: skip
    record.write_text(json.dumps(info), encoding="utf-8")
    return path


def _copy_is_valid(path: Path, record: Path, project: Project) -> bool:
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
        size = path.stat().st_size
    except (OSError, ValueError):
        return False
    return (
        info.get("project") == project.id
        and info.get("version") == project.features_version
        and info.get("size") == size
    )


def private_cache_dir() -> Path:
    """This user's folder for local copies of database-held features, private (0700)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "protolabel" / "features"
    _private_dir(folder)
    return folder


def _private_dir(folder: Path) -> None:
    """Create ``folder`` readable by this user only, or make it so; refuse one owned by
    another user (somebody could have planted files in it)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid():
        raise DatabaseError(
            f"{folder}: owned by another user, so not used for feature copies; set "
            "XDG_CACHE_HOME to a folder of your own"
        )
    if info.st_mode & 0o077:
        folder.chmod(0o700)


def _instance_id(store: Store, session: Session) -> str:
    """The database's random id (schema version 10), read once per store."""
    cached = getattr(store, "_instance_id", None)
    if cached is None:
        cached = session.scalar(select(SchemaInfo.instance_id).where(SchemaInfo.id == 1))
        if not cached:
            raise FeatureCacheMissing("the database has no id yet (schema older than 10)")
        store._instance_id = cached
    return cached
