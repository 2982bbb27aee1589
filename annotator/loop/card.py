"""What the Label page does, without Streamlit: key map, the card's sync protocol, its payload.

The label card runs in the browser with the tab's reserved items (``loop.LOOKAHEAD``), so a
key press shows the next item at once, without a round trip. The card and the server talk in
two messages:

- the card's *sync* state (``CardSync``): its tab id (kept across a reload), the payload it
  applied last (``seen``), the item on screen (``shown``) and every event the server has not
  acknowledged. Each event names the item it was shown for and carries a unique id; the
  server applies each id once (``loop.submit``'s ``client_event``), so fast typing loses
  nothing, labels nothing twice, and never puts a label on the wrong item, whatever order
  reruns happen in.
- the server's *payload* (``card_payload``): the tab's items, the acknowledged event ids, the
  counters, and a sequence number.

After a retrain the server may withdraw reserved items that were never on screen
(``loop.lease``). A withdrawn item is left out of the next payload; the card, which never
changes the item on screen by itself, drops it unless it is on screen, and once the card
reports that it applied that payload (``TabSync.release``), the item goes back to the pool.
"""

from __future__ import annotations

import base64
import re
import string
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator import loop
from annotator.errors import DatabaseUnavailableError, ProtolabelError
from annotator.store import queries
from annotator.store.db import Store

#: Keys tried in turn for Skip and for Undo: the first that no label has and that starts no
#: label (someone pressing "s" for "support" must never skip). Backspace always undoes.
SKIP_CANDIDATES = ("s", "x", "q", "-", ".", ";")
UNDO_CANDIDATES = ("z", "u", "=", ",", "'")
#: The key that opens the card's search for labels beyond the keys.
SEARCH_KEY = "/"
#: Keys given to labels in turn (after one-character labels and the project's own keys).
LABEL_KEYS = "1234567890" + string.ascii_lowercase
#: The most events one sync may carry (a card offline for a long while sends them in turns).
MAX_EVENTS = 500
_TAB_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_MODEL_CACHE: OrderedDict[tuple[str, int, int], Any] = OrderedDict()
_MODEL_CACHE_SIZE = 4
_MODEL_CACHE_LOCK = threading.Lock()  # Streamlit runs each browser session on its own thread


@dataclass(frozen=True)
class KeyMap:
    """The label card's keys: one per label while keys last (None: found by typing its name
    in the card's search), Skip (None when every candidate is taken) and Undo."""

    labels: dict[str, str | None]
    skip: str | None
    undo: tuple[str, ...]


def keymap(labels: list[str], custom: dict[str, str] | None = None) -> KeyMap:
    """The keys for ``labels``: the project's own choices (``custom``, label -> key) first,
    then a one-character label's own character, then 1-9, 0 and the letters in turn. Skip and
    Undo take the first of their candidates that no label has and that starts no label."""
    keys: dict[str, str | None] = {}
    taken: set[str] = set()
    for label, key in (custom or {}).items():
        if label in labels and key and key.lower() not in taken:
            keys[label] = key.lower()
            taken.add(key.lower())
    for label in labels:
        own = label.lower()
        single = len(label) == 1 and label.isprintable() and label != " "
        if label not in keys and single and own not in taken:
            keys[label] = own
            taken.add(own)
    initials = {label[:1].lower() for label in labels}
    skip = _control_key(SKIP_CANDIDATES, taken | initials)  # None: Skip is a click only
    taken |= {skip} if skip else set()
    undo = _control_key(UNDO_CANDIDATES, taken | initials)
    taken |= {undo} if undo else set()
    spare = [k for k in LABEL_KEYS if k not in taken and k != SEARCH_KEY]
    for label in labels:
        if label not in keys:
            keys[label] = spare.pop(0) if spare else None
    return KeyMap({label: keys[label] for label in labels}, skip,
                  (undo, "Backspace") if undo else ("Backspace",))  # fmt: skip


def _control_key(candidates: tuple[str, ...], avoid: set[str]) -> str | None:
    return next((k for k in candidates if k not in avoid), None)


def check_custom_keys(labels: list[str], custom: dict[str, str]) -> dict[str, str]:
    """The project's own label keys, checked: each one printable character (stored in lower
    case), used once, for a label of the set; Backspace stays Undo's. Empty keys are dropped."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for label, raw in custom.items():
        key = (raw or "").strip().lower()
        if not key:
            continue
        if label not in labels:
            raise ProtolabelError(f"label {label!r} is not in the label set")
        if len(key) != 1 or not key.isprintable():
            raise ProtolabelError(f"the key for {label!r} must be one character, got {raw!r}")
        if key == SEARCH_KEY:
            raise ProtolabelError(f"{SEARCH_KEY!r} opens the card's search; choose another key")
        if key in seen:
            raise ProtolabelError(f"key {key!r} is given to both {seen[key]!r} and {label!r}")
        seen[key] = label
        out[label] = key
    return out


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


@dataclass(frozen=True)
class CardSync:
    """What the card last told the server (its component state ``sync``): events and the item
    on screen are those of ``project`` only; ``have`` are the items whose content it holds."""

    project: str
    tab: str
    seen: int
    shown: int | None
    events: list[Any]
    have: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, raw: Any) -> CardSync | None:
        """None until the card has mounted and reported its tab id."""
        if not isinstance(raw, dict) or not isinstance(raw.get("tab"), str):
            return None
        if not _TAB_ID.fullmatch(raw["tab"]):
            raise ProtolabelError(f"malformed card tab id {raw['tab'][:80]!r}")
        events = raw.get("events") or []
        if not isinstance(events, list):
            raise ProtolabelError("malformed card events: not a list")
        try:
            seen = int(raw.get("seen") or 0)
            shown = None if raw.get("shown") is None else int(raw["shown"])
            have = frozenset(int(i) for i in (raw.get("have") or [])[:MAX_EVENTS])
        except (TypeError, ValueError) as exc:
            raise ProtolabelError(f"malformed card sync: {exc}") from None
        project = str(raw.get("project") or "")
        return cls(project, raw["tab"], seen, shown, events[:MAX_EVENTS], have)


@dataclass
class Applied:
    """The outcome of ``apply_events``: ids stored (or found stored), and ids refused with
    the reason (a label no longer in the label set, an item that is gone)."""

    stored: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def acked(self) -> list[str]:
        return self.stored + [i for i, _ in self.refused]


def apply_events(
    store: Store,
    project: str,
    events: list[Any],
    *,
    owner: str,
    annotator: str,
    done: set[str],
    authenticated: bool = False,
) -> Applied:
    """Apply the events not in ``done`` (ids applied earlier in this browser session), in
    order. Each decision commits before the next. ``done`` is updated in place.

    An event the project refuses for good (``LabelError``, a deleted item, an undo the
    annotator may not make) is acknowledged as refused, so the card stops sending it and shows
    why; an ``authenticated`` annotator's undo is role-checked (``annotator.teams``). A
    malformed event fails the whole sync (``ProtolabelError``): the card is not ours.
    """
    out = Applied()
    parsed = [Event.parse(raw) for raw in events or []]
    for event in parsed:
        if event.id in done:
            out.stored.append(event.id)
            continue
        try:
            if event.type == "undo":
                _undo(store, project, event, owner=owner, annotator=annotator, auth=authenticated)
            else:
                label = event.label if event.type == "label" else None
                loop.submit(
                    store, project, event.item, label,
                    annotator=annotator, owner=owner, client_event=event.id,
                    authenticated=authenticated,
                )  # fmt: skip
        except DatabaseUnavailableError:
            raise  # passing: the card keeps the event and sends it again
        except ProtolabelError as exc:  # any other is final for this event
            out.refused.append((event.id, str(exc)))
            done.add(event.id)
            continue
        done.add(event.id)
        out.stored.append(event.id)
    return out


def _undo(
    store: Store, project: str, event: Event, *, owner: str, annotator: str, auth: bool
) -> None:
    annotation_id = loop.annotation_for_event(store, project, event.target or "")
    if annotation_id is None:
        return  # the decision it takes back never reached the server: nothing to undo
    loop.undo(store, project, annotation_id, annotator=annotator, owner=owner, authenticated=auth)


@dataclass
class TabSync:
    """The server's side of one card (kept in the browser session's state).

    ``seq`` numbers the payloads; ``excluded`` maps a withdrawn item to the first payload that
    left it out; ``project`` is the project the tab's items were reserved in.
    """

    seq: int = 0
    excluded: dict[int, int] = field(default_factory=dict)
    project: str | None = None
    last_payload: dict[str, Any] | None = None  # sent again while the database is unavailable

    def release(self, sync: CardSync) -> set[int]:
        """Withdrawn items the card has dropped: left out of a payload it has applied (the
        card applies only the newest payload it is given, which leaves them out too)."""
        return {i for i, n in self.excluded.items() if n <= sync.seen and i != sync.shown}

    def next_payload(self, withdrawn: frozenset[int]) -> int:
        """Record that the next payload leaves ``withdrawn`` out; return its number."""
        self.seq += 1
        self.excluded = {i: self.excluded.get(i, self.seq) for i in withdrawn}
        return self.seq


def _model(store: Store, project: str):
    """The newest model of the project, deserialised once per version (small LRU)."""
    with store.read() as s:
        p = queries.get_project(s, project)
        latest = queries.latest_model(s, p.id)
        if latest is None:
            return None, None
        key = (store.url_for_humans, p.id, latest.version)
        with _MODEL_CACHE_LOCK:
            cached = _MODEL_CACHE.get(key)
            if cached is not None:
                _MODEL_CACHE.move_to_end(key)
                return cached, latest.version
        state = latest.state
    from meta import ProtoNetClassifier

    model = ProtoNetClassifier.from_bytes(state, device="cpu")
    with _MODEL_CACHE_LOCK:
        _MODEL_CACHE[key] = model
        while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
    return model, latest.version


def suggestions(
    store: Store, project: str, items: list[loop.QueuedItem]
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
    items: list[loop.QueuedItem],
    *,
    acked: list[str],
    seq: int = 0,
    refused: list[tuple[str, str]] | None = None,
    have: frozenset[int] = frozenset(),
    feature_names: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON the label card renders: items (with suggestions), keys, acknowledged event
    ids, the counters, and the payload's number. Items in ``have`` (the card holds their
    content) go without it."""
    with store.read() as s:
        p = queries.get_project(s, project)
        labels, kind, custom = list(p.labels), p.data_kind, dict(p.keys or {})
    progress = loop.progress(store, project)
    keys = keymap(labels, custom)
    newest = progress.model_version or 0
    out_items = []
    for it, hint in zip(items, suggestions(store, project, items), strict=True):
        entry: dict[str, Any] = {
            "id": it.item_id,
            "ext": it.external_id,
            "round": it.round,
            "strategy": it.strategy,
            "score": None if it.score is None else round(float(it.score), 4),
            "model_version": it.model_version,
            "stale": progress.retrain_pending or (it.model_version or 0) < newest,
            "suggestion": hint[0] if hint else None,
            "confidence": round(hint[1], 3) if hint else None,
        }
        if it.item_id not in have:
            entry.update(_content(kind, it, feature_names))
        out_items.append(entry)
    return {
        "project": project,
        "seq": seq,
        "kind": kind,
        "labels": [{"label": label, "key": keys.labels[label]} for label in labels],
        "skip_key": keys.skip,
        "undo_keys": list(keys.undo),
        "items": out_items,
        "acked": acked,
        "refused": [{"id": i, "reason": why} for i, why in refused or []],
        "progress": {
            "items": progress.items,
            "labelled": progress.labelled,
            "skipped": progress.skipped,
            "round": progress.round,
            "round_done": progress.round_done,
            "round_size": progress.round_size,
            "model_version": progress.model_version,
            "retrain_pending": progress.retrain_pending,
        },
    }


def _content(kind: str, it: loop.QueuedItem, feature_names: list[str] | None) -> dict:
    if kind == "text":
        return {"text": it.text or ""}
    if kind == "image":
        return {"image": _image_uri(it.image)}
    values = it.features.tolist() if it.features is not None else []
    names = (
        feature_names
        if feature_names and len(feature_names) == len(values)
        else [f"x{j}" for j in range(len(values))]
    )
    return {"features": [[n, _short(v)] for n, v in zip(names, values, strict=True)]}


def _short(value: float) -> str:
    return f"{value:.4g}"
