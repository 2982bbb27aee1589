"""Decisions for a test's set-up, recorded on the path the Label page takes: the items are
served to the annotator (``loop.lease``), decided (``loop.submit``) and the rest given back
(``loop.release``). There is no second way to write a label."""

from __future__ import annotations

from collections.abc import Mapping

from annotator import loop
from annotator.store import queries
from annotator.store.db import Store

#: The most items one planned round holds (``loop.configure``'s bound).
_MAX_BATCH = 1000


def decide(
    store: Store,
    project: str,
    annotator: str,
    labels: Mapping[str, str | None],
    *,
    authenticated: bool = False,
) -> dict[str, int]:
    """Serve the named items (external ids) to ``annotator`` and record ``labels`` (None =
    skip) in that order; returns each item's annotation id.

    Items are queued by one random round over the pool (the project's strategy and batch size
    are put back afterwards). An item already decided by the annotator, or whose slots other
    annotators used up (raise the overlap with ``loop.configure``), is never served again:
    that fails here, as it would in the browser.
    """
    ids, pool = _item_ids(store, project, labels)
    settings = loop.project_settings(store, project)
    owner = f"tests:{annotator}"
    loop.configure(store, project, strategy="random", batch_size=min(pool, _MAX_BATCH))
    try:
        served = loop.lease(
            store, project, owner, annotator=annotator, n=pool, authenticated=authenticated
        ).items
    finally:
        loop.configure(store, project, strategy=settings.strategy, batch_size=settings.batch_size)
    held = {q.item_id for q in served}
    missing = [e for e in labels if ids[e] not in held]
    assert not missing, f"{missing} were not served to {annotator!r} in project {project!r}"
    out = {}
    for external_id, label in labels.items():
        result = loop.submit(
            store, project, ids[external_id], label, annotator=annotator, owner=owner,
            authenticated=authenticated,
        )  # fmt: skip
        out[external_id] = result.annotation_id
    loop.release(store, project, owner)
    return out


def decide_one(store: Store, project: str, annotator: str, external_id: str, label) -> int:
    """``decide`` for one item; returns its annotation id."""
    return decide(store, project, annotator, {external_id: label})[external_id]


def _item_ids(store: Store, project: str, wanted) -> tuple[dict[str, int], int]:
    with store.read() as s:
        items = queries.items_in_order(s, queries.get_project(s, project).id)
        ids = {it.external_id: it.id for it in items}
    unknown = [e for e in wanted if e not in ids]
    assert not unknown, f"project {project!r} has no items {unknown}"
    return ids, len(ids)
