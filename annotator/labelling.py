"""What the Label page does, without Streamlit: key map, card payload, and key-press events.

The label card runs in the browser with a few items reserved ahead (``session.LOOKAHEAD``), so a
key press shows the next item at once, without a round trip. Each press becomes an *event* that
names the item it was shown for and carries a unique id; the browser keeps sending every event
the server has not acknowledged, and the server applies each id once (``session.submit``'s
``client_event``). So fast typing loses nothing, labels nothing twice, and never puts a label on
the wrong item, whatever order reruns happen in.
"""

from __future__ import annotations

import base64
import string
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotator import session
from annotator.errors import ProtolabelError
from annotator.store import queries
from annotator.store.db import Store

SKIP_KEY = "s"
UNDO_KEYS = ("z", "Backspace")
RESERVED = {SKIP_KEY, "z"}
_MODEL_CACHE: OrderedDict[tuple[str, int, int], Any] = OrderedDict()
_MODEL_CACHE_SIZE = 4


def keymap(labels: list[str]) -> dict[str, str]:
    """label -> key. A one-character label gets that key (digit 0 is key 0); the others get
    1-9, then letters, skipping keys already taken and the Skip (s) and Undo (z) keys."""
    keys: dict[str, str] = {}
    taken = set(RESERVED)
    for label in labels:
        if len(label) == 1 and label.lower() not in taken and label.isprintable() and label != " ":
            keys[label] = label.lower()
            taken.add(label.lower())
    spare = [k for k in "123456789" + string.ascii_lowercase if k not in taken]
    for label in labels:
        if label not in keys:
            if not spare:
                raise ProtolabelError(f"too many labels for keyboard shortcuts: {len(labels)}")
            keys[label] = spare.pop(0)
    return keys


@dataclass(frozen=True)
class Event:
    """A key press or click from the label card."""

    id: str
    type: str  # "label" | "skip" | "undo"
    item: int
    label: str | None = None
    target: str | None = None  # for undo: the id of the event it takes back

    @classmethod
    def parse(cls, raw: Any) -> Event:
        if not isinstance(raw, dict):
            raise ProtolabelError(f"malformed card event: {raw!r}")
        try:
            event = cls(
                id=str(raw["id"])[:100],
                type=str(raw["type"]),
                item=int(raw["item"]),
                label=None if raw.get("label") is None else str(raw["label"]),
                target=None if raw.get("target") is None else str(raw["target"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtolabelError(f"malformed card event {raw!r}: {exc}") from None
        if event.type not in ("label", "skip", "undo"):
            raise ProtolabelError(f"unknown card event type {event.type!r}")
        return event


def apply_events(
    store: Store,
    project: str,
    events: list[Any],
    *,
    owner: str,
    annotator: str,
    done: set[str],
    authenticated: bool = False,
) -> list[str]:
    """Apply the events not in ``done`` (ids applied earlier), in order; return applied ids.

    ``done`` is updated in place. Each decision commits before this returns. An
    ``authenticated`` annotator's undo is role-checked (``annotator.teams``).
    """
    applied = []
    for raw in events or []:
        event = Event.parse(raw)
        if event.id in done:
            continue
        if event.type == "undo":
            _undo(store, project, event, owner=owner, annotator=annotator, auth=authenticated)
        else:
            label = event.label if event.type == "label" else None
            session.submit(
                store, project, event.item, label,
                annotator=annotator, owner=owner, client_event=event.id,
            )  # fmt: skip
        done.add(event.id)
        applied.append(event.id)
    return applied


def _undo(
    store: Store, project: str, event: Event, *, owner: str, annotator: str, auth: bool
) -> None:
    annotation_id = session.annotation_for_event(store, project, event.target or "")
    if annotation_id is None:
        return  # the decision it takes back never reached the server: nothing to undo
    session.undo(
        store, project, annotation_id, annotator=annotator, owner=owner, authenticated=auth
    )


def _model(store: Store, project: str):
    """The newest model of the project, deserialised once per version (small LRU)."""
    with store.read() as s:
        p = queries.get_project(s, project)
        latest = queries.latest_model(s, p.id)
        if latest is None:
            return None, None
        key = (store.url_for_humans, p.id, latest.version)
        if key in _MODEL_CACHE:
            _MODEL_CACHE.move_to_end(key)
            return _MODEL_CACHE[key], latest.version
        state = latest.state
    from meta import ProtoNetClassifier

    model = ProtoNetClassifier.from_bytes(state, device="cpu")
    _MODEL_CACHE[key] = model
    while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
        _MODEL_CACHE.popitem(last=False)
    return model, latest.version


def suggestions(
    store: Store, project: str, items: list[session.QueuedItem]
) -> list[tuple[str, float] | None]:
    """The newest model's (label, confidence) for each item; None before the first model."""
    if not items:
        return []
    model, _version = _model(store, project)
    if model is None:
        return [None] * len(items)
    from annotator.services import load_features

    features = load_features(store, project)
    rows = np.array([it.row for it in items], dtype=np.int64)
    proba = model.predict_proba(np.asarray(features[rows]))
    best = proba.argmax(axis=1)
    classes = np.asarray(model.classes_)
    return [(str(classes[b]), float(proba[i, b])) for i, b in enumerate(best)]


def _image_uri(data: bytes | None) -> str | None:
    if not data:
        return None
    mime = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def card_payload(
    store: Store,
    project: str,
    items: list[session.QueuedItem],
    *,
    applied: list[str],
    feature_names: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON the label card renders: items (with suggestions), keys and acknowledged ids."""
    with store.read() as s:
        p = queries.get_project(s, project)
        labels, kind = list(p.labels), p.data_kind
    keys = keymap(labels)
    out_items = []
    for it, hint in zip(items, suggestions(store, project, items), strict=True):
        entry: dict[str, Any] = {
            "id": it.item_id,
            "ext": it.external_id,
            "round": it.round,
            "strategy": it.strategy,
            "score": None if it.score is None else round(float(it.score), 4),
            "model_version": it.model_version,
            "stale": it.stale,
            "suggestion": hint[0] if hint else None,
            "confidence": round(hint[1], 3) if hint else None,
        }
        if kind == "text":
            entry["text"] = it.text or ""
        elif kind == "image":
            entry["image"] = _image_uri(it.image)
        else:
            values = it.features.tolist() if it.features is not None else []
            names = (
                feature_names
                if feature_names and len(feature_names) == len(values)
                else [f"x{j}" for j in range(len(values))]
            )
            entry["features"] = [[n, _short(v)] for n, v in zip(names, values, strict=True)]
        out_items.append(entry)
    return {
        "project": project,
        "kind": kind,
        "labels": [{"label": label, "key": keys[label]} for label in labels],
        "skip_key": SKIP_KEY,
        "undo_keys": list(UNDO_KEYS),
        "items": out_items,
        "acked": applied,
    }


def _short(value: float) -> str:
    return f"{value:.4g}"
