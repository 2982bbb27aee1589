"""Running a project from the app: rename, archive, and evolve its label set (add, rename,
merge classes) with per-class guidelines and examples. Creating one from an upload or a
server path is :mod:`annotator.uploads`.

Every action validates its input before it writes, writes in one transaction and records itself
in the event log; a bad input raises a :class:`ProtolabelError` naming what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotator import services
from annotator.errors import LabelError, ProjectExistsError
from annotator.io.labels import check_label_name
from annotator.loop.card import check_custom_keys
from annotator.store import queries
from annotator.store.db import Store
from annotator.store.models import Project
from annotator.teams import Identity, require

# --------------------------------------------------------------------------------------------
# Projects


def rename_project(store: Store, name: str, new_name: str, *, who: Identity | None = None) -> str:
    new = services.check_project_name(new_name)
    with store.write() as session:
        project = queries.get_project(session, name)
        require(store, session, project, who, "owner", "rename the project")
        if new == project.name:
            return new
        if queries.find_project(session, new) is not None:
            raise ProjectExistsError(f"project {new!r} already exists; choose another name")
        project.name = new
        queries.log_event(session, project.id, "rename", old=name, new=new)
    return new


def set_archived(store: Store, name: str, archived: bool, *, who: Identity | None = None) -> None:
    """Archive (hidden from the Label page, kept whole) or restore a project."""
    with store.write() as session:
        project = queries.get_project(session, name)
        require(store, session, project, who, "owner", "archive or restore the project")
        if project.archived == archived:
            return
        project.archived = archived
        queries.log_event(session, project.id, "archive" if archived else "unarchive")


# --------------------------------------------------------------------------------------------
# The label set


def _in_set(project: Project, label: str) -> None:
    if label not in project.labels:
        raise LabelError(
            f"label {label!r} is not in project {project.name!r}'s label set "
            f"({', '.join(project.labels)})"
        )


def add_label(
    store: Store, project_name: str, label: str, *, who: Identity | None = None
) -> list[str]:
    """Add a class; the model learns it from its first labelled example (next retrain)."""
    name = check_label_name(label)
    with store.write() as session:
        project = queries.get_project(session, project_name)
        require(store, session, project, who, "owner", "change the label set")
        if name in project.labels:
            raise LabelError(f"label {name!r} is already in project {project.name!r}'s label set")
        project.labels = [*project.labels, name]
        queries.log_event(session, project.id, "label_added", label=name)
        return list(project.labels)


def rename_label(
    store: Store, project_name: str, old: str, new: str, *, who: Identity | None = None
) -> int:
    """Rename a class; its annotations (and hidden ground truth) follow. Returns how many."""
    name = check_label_name(new)
    with store.write() as session:
        project = queries.get_project(session, project_name)
        require(store, session, project, who, "owner", "change the label set")
        _in_set(project, old)
        if name == old:
            return 0
        if name in project.labels:
            raise LabelError(
                f"label {name!r} is already in project {project.name!r}'s label set "
                f"(to join {old!r} into it, merge the two)"
            )
        project.labels = [name if label == old else label for label in project.labels]
        if project.keys and old in project.keys:
            project.keys = {name if k == old else k: v for k, v in project.keys.items()}
        guides = dict(project.guidelines or {})
        if old in guides:
            guides[name] = guides.pop(old)
            project.guidelines = guides
        moved = queries.rename_label_everywhere(session, project.id, old, name)
        queries.log_event(
            session, project.id, "label_renamed", old=old, new=name, annotations=moved
        )
        return moved


def merge_labels(
    store: Store, project_name: str, source: str, target: str, *, who: Identity | None = None
) -> int:
    """Merge class ``source`` into ``target``: its annotations become ``target``'s; ``source``
    leaves the label set. Returns the number of annotations moved."""
    with store.write() as session:
        project = queries.get_project(session, project_name)
        require(store, session, project, who, "owner", "change the label set")
        _in_set(project, source)
        _in_set(project, target)
        if source == target:
            raise LabelError(f"cannot merge label {source!r} into itself")
        if len(project.labels) <= 2:
            raise LabelError(
                f"project {project.name!r} has only {len(project.labels)} labels; a label set "
                "needs at least 2 (add a label first)"
            )
        project.labels = [label for label in project.labels if label != source]
        if project.keys and source in project.keys:
            project.keys = {k: v for k, v in project.keys.items() if k != source}
        guides = dict(project.guidelines or {})
        if source in guides:
            merged = guides.pop(source)
            into = dict(guides.get(target) or {"text": "", "examples": []})
            into["examples"] = list(
                dict.fromkeys([*into.get("examples", []), *merged.get("examples", [])])
            )
            if merged.get("text"):
                into["text"] = "\n\n".join(t for t in (into.get("text"), merged["text"]) if t)
            guides[target] = into
            project.guidelines = guides
        moved = queries.rename_label_everywhere(session, project.id, source, target)
        queries.log_event(
            session, project.id, "labels_merged", source=source, target=target, annotations=moved
        )
        return moved


def custom_keys(store: Store, project_name: str) -> dict[str, str]:
    """The label card's keys an owner chose (label -> key)."""
    with store.read() as session:
        return dict(queries.get_project(session, project_name).keys or {})


def set_keys(
    store: Store, project_name: str, keys: dict[str, str], *, who: Identity | None = None
) -> dict[str, str]:
    """Choose the label card's key per label (label -> one character; empty: the default).
    Returns the keys stored; Skip and Undo then take keys no label has."""
    with store.write() as session:
        project = queries.get_project(session, project_name)
        require(store, session, project, who, "owner", "change the label set")
        checked = check_custom_keys(list(project.labels), keys)
        project.keys = checked or None
        queries.log_event(session, project.id, "keys", keys=checked)
        return checked


# --------------------------------------------------------------------------------------------
# Guidelines and example items


MAX_GUIDELINE = 20_000
MAX_EXAMPLES = 20


@dataclass(frozen=True)
class Example:
    external_id: str
    text: str | None
    image: bytes | None
    features: np.ndarray | None
    feature_names: list[str] | None = None


@dataclass(frozen=True)
class ClassGuide:
    label: str
    text: str
    examples: list[Example]
    labelled: int


def set_guideline(
    store: Store,
    project_name: str,
    label: str,
    text: str,
    examples: list[str] | str,
    *,
    who: Identity | None = None,
) -> None:
    """Set a class's guideline and its example items (external ids, comma-separated or a list)."""
    text = (text or "").strip()
    if len(text) > MAX_GUIDELINE:
        raise LabelError(f"the guideline is longer than {MAX_GUIDELINE} characters")
    ids = examples.split(",") if isinstance(examples, str) else [str(e) for e in examples]
    ids = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if len(ids) > MAX_EXAMPLES:
        raise LabelError(f"at most {MAX_EXAMPLES} example items per label, got {len(ids)}")
    with store.write() as session:
        project = queries.get_project(session, project_name)
        require(store, session, project, who, "owner", "change the guidelines")
        _in_set(project, label)
        known = queries.existing_external_ids(session, project.id, ids)
        missing = [i for i in ids if i not in known]
        if missing:
            raise LabelError(
                f"project {project.name!r} has no item with id {missing[0]!r}"
                + (f" ({len(missing)} example ids are unknown)" if len(missing) > 1 else "")
            )
        guides = dict(project.guidelines or {})
        guides[label] = {"text": text, "examples": ids}
        project.guidelines = guides
        queries.log_event(session, project.id, "guideline", label=label, examples=len(ids))


def class_guides(store: Store, project_name: str) -> list[ClassGuide]:
    """Each class in label-set order with its guideline, example items and label count."""
    with store.read() as session:
        project = queries.get_project(session, project_name)
        guides = dict(project.guidelines or {})
        wanted = {e for g in guides.values() for e in g.get("examples", [])}
        items = queries.items_by_external_id(session, project.id, wanted)
        counts: dict[str, int] = {}
        for found in queries.item_labels(session, project.id).values():
            if found.label is not None:
                counts[found.label] = counts.get(found.label, 0) + 1
        labels = list(project.labels)
        names = list(project.source_info.get("feature_names") or []) or None
        values = services.feature_values_by_id(store, session, project, items.values())
    out = []
    for label in labels:
        guide = guides.get(label) or {}
        examples = [
            Example(it.external_id, it.text, it.image, values.get(it.id), names)
            for it in (items.get(e) for e in guide.get("examples", []))
            if it is not None
        ]
        out.append(ClassGuide(label, guide.get("text", ""), examples, counts.get(label, 0)))
    return out
