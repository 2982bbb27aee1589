"""Project actions: import, features, listing, deletion, export, backup. Each action that
writes is one ``store.write()`` transaction (as in the other service modules: the labelling
loop ``annotator.loop``, ``annotator.loop.training``, ``project_admin``, ``review``, ``teams``).

Readers, featurizers and exporters (``annotator.io``) are pure; the SQL is in the store
(``annotator.store``). Every action validates its whole input before it writes anything, so
a bad input leaves the database and the feature cache exactly as they were.
"""

from __future__ import annotations

import mmap
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from annotator import teams
from annotator.errors import (
    DatabaseError,
    ExportError,
    ImportFormatError,
    LabelError,
    ProjectExistsError,
    ProtolabelError,
)
from annotator.io.dataset import ImportedData
from annotator.io.exporters import write_export_chunks
from annotator.io.featurizers import (
    EMBED_LIMIT_MINUTES,
    check_featurizer,
    choose_featurizer,
    load_featurizer,
    make_featurizer,
)
from annotator.io.labels import resolve_label_set
from annotator.io.readers import iter_content_hashes, read_input
from annotator.store import features as feature_cache
from annotator.store import queries
from annotator.store.db import Store
from annotator.store.models import Annotation, Item, Project, utcnow

MAX_PROJECT_NAME = 200
IMPORT_ANNOTATOR = "import"


# --------------------------------------------------------------------------------------------
# Import


@dataclass
class ImportOptions:
    """What ``protolabel import`` takes besides the path and the project name."""

    text_col: str | None = None
    feature_cols: list[str] | str | None = None
    id_col: str | None = None
    label_col: str | None = None
    label_from_folder: bool = False
    labels: list[str] | str | None = None
    features: str = "auto"
    as_annotations: bool = False
    append: bool = False
    instructions: str = ""
    progress: bool = False
    #: ``auto`` keeps the cheap featurizer when the pretrained one would take longer (minutes).
    embed_limit_minutes: float = EMBED_LIMIT_MINUTES
    #: Infer a table's text, label and id columns not given from their names (io.roles).
    infer: bool = True


@dataclass(frozen=True)
class ImportSummary:
    project: str
    added: int
    total: int
    data_kind: str
    featurizer: str
    feature_dim: int
    labels: list[str]
    annotations: int
    #: Roles inferred from the column names ({"text": "body", ...}; empty when none were).
    inferred: dict[str, str] = field(default_factory=dict)
    #: Why ``--features auto`` chose the featurizer (empty when one was named or appended to).
    featurizer_note: str = ""


def default_project_name(path: str | os.PathLike[str]) -> str:
    """A project name from a file or folder name: ``emails.csv.gz`` -> ``emails``."""
    name = Path(path).name or Path(path).resolve().name
    stem = name.lstrip(".").split(".")[0]
    return stem.strip() or "project"


def check_project_name(name: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise ProtolabelError("project name is empty")
    if len(cleaned) > MAX_PROJECT_NAME:
        raise ProtolabelError(f"project name is longer than {MAX_PROJECT_NAME} characters")
    if any(ch in cleaned for ch in "\n\r\t"):
        raise ProtolabelError("project name has a line break or tab in it")
    return cleaned


def import_path(
    store: Store,
    path: str | os.PathLike,
    project: str,
    opts: ImportOptions,
    *,
    source_name: str | None = None,
    who: teams.Identity | None = None,
) -> ImportSummary:
    """Read, validate and featurize ``path``, then add it to ``project`` in one transaction.

    Where a login is required, ``who`` must be logged in; a new project is theirs (owner), and
    adding to an existing one (``append``) needs its owner.

    ``source_name`` (an upload's file name) stands for ``path`` in the project's record and in
    messages after reading; the app uses it for files staged in a temporary folder.
    """
    name = check_project_name(project)
    _check_project_state(store, name, opts.append, who)  # fail fast, before reading a file
    data = read_input(
        path,
        text_col=opts.text_col,
        feature_cols=opts.feature_cols,
        id_col=opts.id_col,
        label_col=opts.label_col,
        label_from_folder=opts.label_from_folder,
        max_bytes=store.settings.max_import_bytes,
        max_text_bytes=store.settings.max_text_bytes,
        max_image_pixels=store.settings.max_image_pixels,
        infer=opts.infer,
    )
    if source_name is not None:
        data.source = source_name
    return import_data(store, data, name, opts, who=who)


def check_may_import(store: Store, project: str, append: bool, who: teams.Identity | None) -> None:
    """Raise unless ``who`` may import into ``project``: creating a project needs a login where
    one is required, adding to one (``append``) its owner. Reads only names and roles."""
    _check_project_state(store, check_project_name(project), append, who)


def _check_project_state(
    store: Store, name: str, append: bool, who: teams.Identity | None
) -> Project | None:
    required = store.settings.login_required
    teams.require_login(who, login_required=required, action="import")
    with store.read() as session:
        existing = queries.find_project(session, name)
        if existing is not None and append:
            teams.require(store, session, existing, who, "owner", "add items to the project")
        if existing is not None and not append:
            raise ProjectExistsError(
                f"project {name!r} already exists (use --append to add items to it, "
                "or choose another name)"
            )
        if existing is None and append:
            queries.get_project(session, name)  # raises, listing the projects there are
        return existing


def import_data(
    store: Store,
    data: ImportedData,
    project: str,
    opts: ImportOptions,
    *,
    who: teams.Identity | None = None,
) -> ImportSummary:
    """Add already-read items to a new project (or to an existing one with ``opts.append``);
    ``who`` as for ``import_path``."""
    name = check_project_name(project)
    existing = _check_project_state(store, name, opts.append, who)
    if existing is None:
        labels = resolve_label_set(data.labels, opts.labels, source=data.source, ids=data.ids)
        choice = choose_featurizer(
            opts.features, data, embed_limit_minutes=opts.embed_limit_minutes
        )
        featurizer, note = make_featurizer(choice.name).fit(data), choice.note
        start_row = 0
    else:
        labels, featurizer, start_row = _prepare_append(store, existing, data, opts)
        note = ""
    blocks = featurizer.transform_blocks(data, progress=opts.progress)
    new_rows = feature_cache.spool(store, blocks, len(data), featurizer.dim)
    try:
        summary = _write_import(
            store, data, name, opts, labels, featurizer, new_rows, start_row, who
        )
    finally:
        new_rows.discard()  # a no-op once the import has moved it into place
    return replace(summary, featurizer_note=note)


def _prepare_append(store: Store, project: Project, data: ImportedData, opts: ImportOptions):
    if data.kind != project.data_kind:
        raise ImportFormatError(
            f"{data.source}: holds {data.kind} items but project {project.name!r} holds "
            f"{project.data_kind} items"
        )
    if check_featurizer(opts.features, data.kind) not in ("auto", project.featurizer):
        raise ImportFormatError(
            f"project {project.name!r} uses the {project.featurizer!r} featurizer; "
            f"--features {opts.features} cannot be mixed into it"
        )
    explicit = opts.labels if opts.labels else project.labels
    labels = resolve_label_set(data.labels, explicit, source=data.source, ids=data.ids)
    if labels != list(project.labels):
        raise LabelError(
            f"--labels {','.join(labels)} differs from project {project.name!r}'s label set "
            f"{','.join(project.labels)} (edit the label set in the app)"
        )
    with store.read() as session:
        clash = queries.existing_external_ids(session, project.id, data.ids)
        start_row = queries.item_count(session, project.id)
    if clash:
        first = sorted(clash)[0]
        raise ImportFormatError(
            f"{data.source}: id {first!r} is already in project {project.name!r} "
            f"({len(clash)} ids clash)"
        )
    with store.read() as session:
        state = queries.featurizer_state(session, project.id)
    featurizer = load_featurizer(project.featurizer, state or b"")
    return labels, featurizer, start_row


#: Items inserted per statement: the rows of a 1M-item import are never all in memory at once.
INSERT_ROWS = 20_000


def _insert_items(session: Session, data: ImportedData, project_id: int, start_row: int) -> None:
    """Insert the items ``INSERT_ROWS`` at a time (features are stored once, in the matrix)."""
    now = utcnow()
    hashes = iter_content_hashes(data, INSERT_ROWS)
    texts, images, paths, truth = data.texts, data.images, data.image_paths, data.labels
    for start in range(0, len(data), INSERT_ROWS):
        stop = min(start + INSERT_ROWS, len(data))
        rows = [
            (
                project_id,
                data.ids[i],
                start_row + i,
                texts[i] if texts is not None else None,
                images[i] if images is not None else None,
                paths[i] if paths is not None else None,
                digest,
                truth[i] if truth is not None else None,
                now,
            )
            for i, digest in zip(range(start, stop), next(hashes), strict=True)
        ]
        queries.insert_items(session, rows)


def _write_import(
    store: Store,
    data: ImportedData,
    name: str,
    opts: ImportOptions,
    labels: list[str],
    featurizer: Any,
    new_rows: feature_cache.Spool,
    start_row: int,
    who: teams.Identity | None,
) -> ImportSummary:
    pending = feature_cache.PendingFeatures()
    try:
        with store.write() as session:
            project = _project_for_write(session, data, name, opts, labels, featurizer, who)
            if opts.append:  # checked again where it counts: in the writing transaction
                teams.require(store, session, project, who, "owner", "add items to the project")
            old = None
            if start_row:
                old = feature_cache.load_or_none(store, session, project, start_row)
                if old is None:
                    old = rebuild_features(store, session, project)
            _insert_items(session, data, project.id, start_row)
            n_annotations = _import_annotations(session, project, data, opts, start_row)
            pending = feature_cache.stage(store, session, project, new_rows, old)
            queries.log_event(
                session,
                project.id,
                "append" if start_row else "import",
                source=str(data.source),
                added=len(data),
                featurizer=project.featurizer,
                annotations=n_annotations,
            )
            summary = ImportSummary(
                project=name,
                added=len(data),
                total=start_row + len(data),
                data_kind=project.data_kind,
                featurizer=project.featurizer,
                feature_dim=project.feature_dim,
                labels=list(project.labels),
                annotations=n_annotations,
                inferred=dict(data.extra.get("inferred") or {}),
            )
    except IntegrityError as exc:
        pending.abort()
        raise ProjectExistsError(
            f"project {name!r} was changed by someone else during the import; nothing was written"
        ) from exc
    except BaseException:
        pending.abort()
        raise
    pending.commit()
    return summary


def _project_for_write(
    session: Session, data: ImportedData, name: str, opts: ImportOptions, labels, featurizer, who
) -> Project:
    project = queries.find_project(session, name)
    if project is not None and not opts.append:
        raise ProjectExistsError(f"project {name!r} already exists (use --append)")
    if project is None:
        if opts.append:
            queries.get_project(session, name)
        project = Project(
            name=name,
            labels=labels,
            data_kind=data.kind,
            featurizer=featurizer.name,
            featurizer_state=featurizer.get_state(),
            feature_dim=int(featurizer.dim),
            features_version=0,
            instructions=opts.instructions,
            source_info={
                "source": str(data.source),
                "feature_names": list(data.feature_names or []),
            },
        )
        session.add(project)
        session.flush()
        teams.add_creator(session, project, who)  # a logged-in creator owns the project
    return project


def _import_annotations(
    session: Session, project: Project, data: ImportedData, opts: ImportOptions, start_row: int
) -> int:
    """With ``--as-annotations``, record the file's labels as existing decisions."""
    if not opts.as_annotations:
        return 0
    if data.labels is None:
        raise LabelError(f"{data.source}: --as-annotations needs a label column or class folders")
    ids = queries.item_ids_from_row(session, project.id, start_row)
    now = utcnow()
    rows = [
        {
            "project_id": project.id,
            "item_id": ids[start_row + i],
            "label": label,
            "annotator": IMPORT_ANNOTATOR,
            "created_at": now,
            "strategy": "import",
        }
        for i, label in enumerate(data.labels)
        if label is not None
    ]
    if rows:
        queries.insert_annotations(session, rows)
    return len(rows)


# --------------------------------------------------------------------------------------------
# Features


def rebuild_features(store: Store, session: Session, project: Project) -> np.ndarray:
    """Recompute the whole matrix from the items and the project's fitted featurizer.

    A features project's values live only in its stored matrix (features are now
    stored once), so there is nothing to recompute them from: a missing matrix is an error that
    says where it should be. Items of older databases still carry a float64 copy and rebuild.
    """
    items = queries.items_in_order(session, project.id)
    if project.data_kind == "features" and any(it.features is None for it in items):
        raise _lost_features(store, project)
    data = items_as_data(project, items)
    featurizer = load_featurizer(project.featurizer, project.featurizer_state or b"")
    return featurizer.transform(data)


def items_as_data(
    project: Project, items: list[Item], features: np.ndarray | None = None
) -> ImportedData:
    """The items as an import would have read them; ``features``: the values of a features
    project's items (``feature_values``), else each item's stored float64 copy."""
    kind = project.data_kind
    n_cols = len(project.source_info.get("feature_names") or []) or None
    if kind == "features" and features is None:
        features = np.vstack(
            [np.frombuffer(it.features or b"", np.float64) for it in items]
        ).reshape(len(items), n_cols or -1)
    return ImportedData(
        kind=kind,
        source=f"project:{project.name}",
        ids=[it.external_id for it in items],
        texts=[it.text or "" for it in items] if kind == "text" else None,
        images=[it.image or b"" for it in items] if kind == "image" else None,
        image_paths=[it.image_path or "" for it in items] if kind == "image" else None,
        features=np.asarray(features, dtype=np.float64) if kind == "features" else None,
        feature_names=project.source_info.get("feature_names") or None,
        labels=[it.ground_truth for it in items],
    )


def feature_values_by_id(
    store: Store, session: Session, project: Project, items
) -> dict[int, np.ndarray]:
    """``feature_values`` by item id; empty for text and image projects."""
    items = list(items)
    if project.data_kind != "features" or not items:
        return {}
    values = feature_values(store, session, project, items)
    return {it.id: row for it, row in zip(items, values, strict=True)}


def feature_values(store: Store, session: Session, project: Project, items) -> np.ndarray:
    """A features project's values of ``items`` as imported, one row per item (n, d).

    Read from the stored matrix and mapped back through the fitted featurizer, so at float32
    precision (the store keeps the features once); items imported by earlier versions carry
    an exact float64 copy, which is used instead.
    """
    items = list(items)
    if not items:
        return np.empty((0, project.feature_dim))
    if all(it.features is not None for it in items):
        return np.vstack([np.frombuffer(it.features, np.float64) for it in items])
    matrix = feature_cache.load_or_none(store, session, project, None)
    if matrix is None:
        raise _lost_features(store, project)
    rows = np.fromiter((it.row for it in items), dtype=np.int64, count=len(items))
    return _raw_featurizer(store, session, project).inverse(matrix[rows])


def _lost_features(store: Store, project: Project) -> DatabaseError:
    where = store.features_dir() or "the database (feature_chunks)"
    return DatabaseError(
        f"project {project.name!r}: its feature values are stored only in its feature matrix "
        f"(version {project.features_version} in {where}), which is missing or damaged; "
        "restore that folder from a backup taken with the database"
    )


def _raw_featurizer(store: Store, session: Session, project: Project):
    """The project's fitted ``raw`` featurizer, loaded once per features version."""
    memo = store.__dict__.setdefault("_raw_featurizers", {})
    key = (project.id, project.features_version)
    if key not in memo:
        state = queries.featurizer_state(session, project.id)
        memo.clear()  # one project's state at a time: a few KB, but projects come and go
        memo[key] = load_featurizer(project.featurizer, state or b"")
    return memo[key]


def class_priors(
    store: Store, project_name: str, names: list[str], guidelines: dict[str, str]
) -> dict[str, np.ndarray]:
    """Each class's description as a row of the project's features (issue 18): the template
    of :mod:`annotator.zero_shot` filled with the name and guideline, through the project's
    own fitted featurizer, so the rows sit in the items' space."""
    from annotator import zero_shot

    with store.read() as session:
        project = queries.get_project(session, project_name)
        name = project.featurizer
        state = queries.featurizer_state(session, project.id)
    featurizer = load_featurizer(name, state or b"", progress=False)
    return zero_shot.prior_rows(featurizer, names, guidelines)


def load_features(store: Store, project_name: str) -> np.ndarray:
    """The project's feature matrix (memory-mapped), rebuilding a missing cache first."""
    with store.read() as session:
        project = queries.get_project(session, project_name)
        n_rows = queries.item_count(session, project.id)
        found = feature_cache.load_or_none(store, session, project, n_rows)
    if found is not None:
        return found
    pending = feature_cache.PendingFeatures()
    try:
        with store.write() as session:
            project = queries.get_project(session, project_name)
            matrix = rebuild_features(store, session, project)
            rows = feature_cache.spool(store, [(0, matrix)], len(matrix), matrix.shape[1])
            pending = feature_cache.stage(store, session, project, rows)
            queries.log_event(session, project.id, "features_rebuilt", rows=len(matrix))
    except BaseException:
        pending.abort()
        raise
    pending.commit()
    return load_features(store, project_name)


# --------------------------------------------------------------------------------------------
# Projects


@dataclass(frozen=True)
class ProjectSummary:
    name: str
    data_kind: str
    featurizer: str
    labels: list[str]
    items: int
    labelled: int
    skipped: int
    archived: bool

    @property
    def remaining(self) -> int:
        return self.items - self.labelled - self.skipped


def list_projects(
    store: Store,
    *,
    include_archived: bool = True,
    who: teams.Identity | None = None,
    role: str = "annotator",
) -> list[ProjectSummary]:
    """The projects with their counts; where a login is required, only those in which ``who``
    has at least ``role`` (nothing for nobody)."""
    with store.read() as session:
        out = []
        for p in _visible_projects(store, session, include_archived, who, role):
            counts = queries.project_counts(session, p.id)
            out.append(
                ProjectSummary(
                    name=p.name,
                    data_kind=p.data_kind,
                    featurizer=p.featurizer,
                    labels=list(p.labels),
                    items=counts.items,
                    labelled=counts.labelled,
                    skipped=counts.skipped,
                    archived=p.archived,
                )
            )
        return out


def project_names(
    store: Store,
    *,
    include_archived: bool = True,
    who: teams.Identity | None = None,
    role: str = "annotator",
) -> list[str]:
    """The names ``list_projects`` would list, without counting anything (a selector's
    options on every rerun)."""
    with store.read() as session:
        return [p.name for p in _visible_projects(store, session, include_archived, who, role)]


def _visible_projects(store, session, include_archived: bool, who, role: str) -> list[Project]:
    """The projects, by name, that ``who`` has at least ``role`` in (archived ones too with
    ``include_archived``): the one filter behind ``list_projects`` and ``project_names``."""
    return [
        p
        for p in queries.all_projects(session)
        if (include_archived or not p.archived) and teams.may(store, session, p, who, role)
    ]


def delete_project(store: Store, name: str, *, who: teams.Identity | None = None) -> int:
    """Delete a project with its items, decisions and models; return how many items went."""
    with store.write() as session:
        project = queries.get_project(session, name)
        teams.require(store, session, project, who, "owner", "delete the project")
        n_items = queries.item_count(session, project.id)
        project_id = project.id
        queries.log_event(session, project_id, "delete", name=name, items=n_items)
        session.delete(project)
    feature_cache.discard(store, project_id).commit()
    return n_items


# --------------------------------------------------------------------------------------------
# Export

EXPORT_FORMATS = ("csv", "jsonl", "parquet")


#: Items per chunk of a streamed export (bounded memory at any pool size).
EXPORT_CHUNK_ROWS = 20_000


@dataclass
class _ExportPlan:
    """What every chunk of one export shares, read in one transaction."""

    project: str
    project_id: int
    kind: str
    feature_names: list[str]
    n_rows: int
    decided: dict[int, queries.ItemLabel]
    annotations: dict[int, Annotation]
    model_state: bytes | None
    model_version: int | None
    include_all: bool


def _export_plan(
    store: Store, project_name: str, include_all: bool, who: teams.Identity | None
) -> _ExportPlan:
    with store.read() as session:
        project = queries.get_project(session, project_name)
        teams.require(store, session, project, who, "reviewer", "export the project")
        decided = queries.item_labels(session, project.id)
        wanted = {d.annotation_id or d.newest_id for d in decided.values()} - {0}
        annotations = queries.annotations_by_id(session, wanted)
        model = queries.latest_model(session, project.id) if include_all else None
        return _ExportPlan(
            project=project.name,
            project_id=project.id,
            kind=project.data_kind,
            feature_names=list(project.source_info.get("feature_names") or []),
            n_rows=queries.item_count(session, project.id),
            decided=decided,
            annotations=annotations,
            model_state=model.state if model is not None else None,
            model_version=model.version if model is not None else None,
            include_all=include_all,
        )


def export_chunks(
    store: Store, project_name: str, *, include_all: bool = False, who: teams.Identity | None = None
) -> Iterator[tuple[pd.DataFrame, list[bytes | None] | None]]:
    """The export table in chunks of at most ``EXPORT_CHUNK_ROWS`` items, in row order, each
    with its image bytes (image projects) aligned with its rows; at least one chunk. Columns:
    ``id``; ``text``, ``image_path`` or the feature values; the label columns
    (``_label_columns``); with ``include_all``, ``status`` and, once a model exists,
    ``prediction``, ``confidence`` and ``prediction_model_version``. Where a login is required,
    ``who`` must be a reviewer or owner of the project (checked before anything is read)."""
    plan = _export_plan(store, project_name, include_all, who)  # refused before any write
    return _export_chunks(store, plan)


def _export_chunks(store: Store, plan: _ExportPlan):
    project_name, include_all = plan.project, plan.include_all
    model = None
    if plan.model_state is not None:
        from meta import ProtoNetClassifier  # torch is heavy: import only when predicting

        model = ProtoNetClassifier.from_bytes(plan.model_state)
    features = raw = None
    if plan.kind == "features" or model is not None:
        features = load_features(store, project_name)
    if plan.kind == "features":
        with store.read() as session:
            raw = _raw_featurizer(store, session, session.get(Project, plan.project_id))
    if include_all:
        parts = [
            {"rows": (lo, lo + EXPORT_CHUNK_ROWS)}
            for lo in range(0, plan.n_rows, EXPORT_CHUNK_ROWS)
        ]
    else:
        labelled = sorted((d.row, i) for i, d in plan.decided.items() if d.label is not None)
        ids = [i for _, i in labelled]
        parts = [
            {"item_ids": ids[lo : lo + EXPORT_CHUNK_ROWS]}
            for lo in range(0, len(ids), EXPORT_CHUNK_ROWS)
        ]
    for part in parts or [{"item_ids": []}]:
        with store.read() as session:
            items = queries.export_items(
                session, plan.project_id, with_images=plan.kind == "image", **part
            )
        yield (
            _export_table(plan, items, features, raw, model),
            ([it.image for it in items] if plan.kind == "image" else None),
        )


def _export_table(plan: _ExportPlan, items, features, raw, model) -> pd.DataFrame:
    """One chunk of the export, built column by column: the chunk's feature rows are read
    once (for the values and the predictions), and only its decided items get label cells
    of their own (most items carry no label)."""
    n = len(items)
    # by position (export_items' order): a million rows' attribute lookups took seconds
    rows = np.fromiter((it[2] for it in items), dtype=np.int64, count=n)
    table: dict[str, Any] = {"id": [it[1] for it in items]}
    if plan.kind == "text":
        table["text"] = [it[3] for it in items]
    elif plan.kind == "image":
        table["image_path"] = [it[4] for it in items]
    columns = pd.DataFrame(table)
    block = _feature_rows(features, rows) if features is not None else None
    if plan.kind == "features":
        values = raw.inverse(block) if n else np.empty((0, features.shape[1]), np.float32)
        names = plan.feature_names
        if len(names) != values.shape[1]:
            names = [f"x{j}" for j in range(values.shape[1])]
        columns = pd.concat([columns, pd.DataFrame(values, columns=names, copy=False)], axis=1)
    labels = map(plan.decided.get, [it[0] for it in items])
    decided = [(k, d) for k, d in enumerate(labels) if d is not None]
    frame = pd.concat([columns, _label_frame(plan, n, decided)], axis=1)
    if plan.include_all:
        status = ["unlabelled"] * n
        for k, found in decided:
            status[k] = _status(found)
        frame["status"] = status
        if model is not None:
            proba = model.predict_proba(block) if n else np.empty((0, 1))
            best = proba.argmax(axis=1)
            classes = [str(c) for c in np.asarray(model.classes_)]
            frame["prediction"] = [classes[b] for b in best.tolist()]
            frame["confidence"] = proba[np.arange(n), best].astype(float)
            version = np.full(n, plan.model_version, dtype=np.int64)
            frame["prediction_model_version"] = pd.array(version, dtype="Int64")
    return frame


def _feature_rows(features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``features[rows]`` (``rows`` sorted, unique) as an array of its own. The pages of a
    memory-mapped matrix are let go of once copied (``MADV_DONTNEED``: they stay in the page
    cache, out of this process's RSS), so that a streamed export does not end up holding the
    whole matrix it has passed over (1.5 GB at 1M x 384)."""
    n = len(rows)
    if n and rows[-1] - rows[0] == n - 1:  # a run of rows: one slice, no index array
        block = np.array(features[rows[0] : rows[-1] + 1])
    else:
        block = np.asarray(features[rows])
    mapping = getattr(features, "_mmap", None)  # numpy's memmap keeps its mmap.mmap there
    if isinstance(mapping, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        mapping.madvise(mmap.MADV_DONTNEED)
    return block


def _label_frame(plan: _ExportPlan, n: int, decided) -> pd.DataFrame:
    """The label columns of ``n`` items, of which the ``(position, ItemLabel)`` pairs
    ``decided`` have a decision; the others get ``_label_columns(None, ...)``'s cells.
    Built in their ``LABEL_DTYPES`` from the start (missing: None, NA or NaN): inferring
    then converting the types of a million mostly empty cells took seconds."""
    blank = _label_columns(None, plan.annotations)
    found = [_label_columns(d, plan.annotations) for _, d in decided]
    at = np.array([k for k, _ in decided], dtype=np.int64)
    columns = {}
    for name in LABEL_COLUMNS:
        dtype = LABEL_DTYPES[name]
        if dtype == "Int64":
            values: Any = pd.array(np.full(n, np.nan), dtype="Int64")
        else:
            fill = np.nan if blank[name] is None and dtype == "float64" else blank[name]
            values = np.full(n, fill, dtype=dtype)
        if len(at):
            values[at] = [cells[name] for cells in found]  # None: NA, or NaN for floats
        columns[name] = pd.Series(values, dtype=dtype, copy=False)
    return pd.DataFrame(columns, copy=False)


def _status(found: queries.ItemLabel | None) -> str:
    if found is None:
        return "unlabelled"
    return "skipped" if found.label is None else "labelled"


def export_frame(
    store: Store, project_name: str, *, include_all: bool = False, who: teams.Identity | None = None
):
    """The whole export table and, for image projects, the image bytes aligned with its rows
    (``export_chunks`` joined; for tests and small projects)."""
    chunks = list(export_chunks(store, project_name, include_all=include_all, who=who))
    frame = pd.concat([c for c, _ in chunks], ignore_index=True)
    images = None if chunks[0][1] is None else [b for _, imgs in chunks for b in imgs]
    return frame, images


#: Export columns that say which label is final and where it came from (after the others).
FINAL_LABEL_COLUMNS = ("label_source", "n_annotators", "agreement", "reviewer", "reviewed_at")
#: Every label column, in order, and the types that keep them the same in every chunk.
LABEL_COLUMNS = (
    "label", "annotator", "created_at", "round", "strategy", "score", "model_version",
    *FINAL_LABEL_COLUMNS,
)  # fmt: skip
LABEL_DTYPES = {
    "label": object, "annotator": object, "created_at": object, "round": "Int64",
    "strategy": object, "score": "float64", "model_version": "Int64", "label_source": object,
    "n_annotators": "int64", "agreement": "float64", "reviewer": object, "reviewed_at": object,
}  # fmt: skip


def _label_columns(
    found: queries.ItemLabel | None, annotations: dict[int, Annotation]
) -> dict[str, Any]:
    """``label`` is the final label. ``annotator`` and ``created_at`` say who gave it and when
    (the reviewer for an adjudicated label); ``round`` to ``model_version`` describe how the
    item was selected. ``label_source`` is single, majority, adjudicated or split (a tie: no
    final label until a review); ``agreement`` the share of the item's annotators whose latest
    label equals the final one."""
    ann = None
    if found is not None:
        ann = annotations.get(found.annotation_id or found.newest_id)
    adj = found.adjudication if found is not None else None
    labelled = found is not None and found.label is not None
    who = adj.reviewer if adj is not None else (ann.annotator if ann is not None else None)
    when = adj.created_at if adj is not None else (ann.created_at if ann is not None else None)
    return {
        "label": found.label if found is not None else None,
        "annotator": who,
        "created_at": when.isoformat() if when is not None else None,
        "round": ann.round if ann is not None else None,
        "strategy": ann.strategy if ann is not None else None,
        "score": ann.score if ann is not None else None,
        "model_version": ann.model_version if ann is not None else None,
        "label_source": found.final.source if found is not None else None,
        "n_annotators": found.final.n_annotators if found is not None else 0,
        "agreement": found.final.agreement if labelled else None,
        "reviewer": adj.reviewer if adj is not None else None,
        "reviewed_at": adj.created_at.isoformat() if adj is not None else None,
    }


def export_project(
    store: Store,
    project_name: str,
    fmt: str,
    out: str | os.PathLike,
    *,
    include_all: bool = False,
    raw_cells: bool = False,
    who: teams.Identity | None = None,
) -> int:
    """Write the export file atomically; return the number of rows. CSV text cells that a
    spreadsheet would run as formulas get a leading apostrophe unless ``raw_cells``. Where a
    login is required, ``who`` must be a reviewer or owner of the project."""
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (choose {', '.join(EXPORT_FORMATS)})")
    chunks = export_chunks(store, project_name, include_all=include_all, who=who)
    return write_export_chunks(chunks, fmt, out, raw_cells=raw_cells)


# --------------------------------------------------------------------------------------------
# Backup


def backup(store: Store, out: str | os.PathLike) -> Path:
    """Copy an SQLite database with SQLite's online backup (safe while the app runs)."""
    if not store.settings.is_sqlite:
        raise ProtolabelError(
            f"backup copies SQLite files; for {store.dialect} use its own tool "
            "(PostgreSQL: pg_dump -Fc DBNAME > backup.dump)"
        )
    source = store.settings.sqlite_path
    if source is None:
        raise ProtolabelError("an in-memory database cannot be backed up")
    target = Path(out).expanduser()
    if target.is_dir():
        raise ProtolabelError(f"{target} is a folder; give a file name for the backup")
    if not target.parent.exists():
        raise ProtolabelError(f"folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".db", dir=target.parent)
    os.close(fd)
    try:
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    features = store.features_dir()
    if features is not None and features.exists() and store.settings.data_dir is None:
        copy = target.with_name(target.name + ".features")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(features, copy, ignore=shutil.ignore_patterns(".tmp-*"))
    return target
