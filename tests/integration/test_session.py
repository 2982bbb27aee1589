"""The labelling loop on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from annotator import loop, services
from annotator.errors import LabelError, ProtolabelError
from annotator.loop import training, worker
from annotator.services import ImportOptions
from annotator.store.db import Store
from annotator.store.models import Annotation, QueueEntry, utcnow
from tests.integration.helpers import blob_project

PROJECT = "blobs"


@pytest.fixture
def blobs(store: Store, tmp_path: Path) -> Store:
    """60 items in 3 well-separated classes, batch size 6."""
    return blob_project(store, tmp_path, PROJECT, per_class=20, batch_size=6)


def _truth(store: Store, item_id: int) -> str:
    from annotator.store.models import Item

    with store.read() as s:
        return s.get(Item, item_id).ground_truth


def _label_batch(store: Store, owner: str, n: int) -> list[loop.SubmitResult]:
    results = []
    for _ in range(n):
        (item,) = loop.claim_next(store, PROJECT, owner, n=1)
        results.append(
            loop.submit(
                store,
                PROJECT,
                item.item_id,
                _truth(store, item.item_id),
                annotator="ann",
                owner=owner,
            )
        )
    return results


def test_first_round_is_cold_start_and_records_context(blobs: Store) -> None:
    items = loop.claim_next(blobs, PROJECT, "tab1")
    assert len(items) == loop.LOOKAHEAD
    assert [it.round for it in items[:6]] == [1] * 6  # then rounds planned ahead
    assert not any(it.stale for it in items)  # no retrain pending: prefetched, not stale
    assert all(it.strategy == "auto:typicality" and it.model_version is None for it in items)
    first = items[0]
    result = loop.submit(blobs, PROJECT, first.item_id, "a", annotator="ann", owner="tab1")
    with blobs.read() as s:
        ann = s.get(Annotation, result.annotation_id)
        assert (ann.round, ann.strategy, ann.label) == (1, "auto:typicality", "a")
        assert ann.score == pytest.approx(first.score)


def test_two_tabs_never_share_an_item(blobs: Store) -> None:
    a = {it.item_id for it in loop.claim_next(blobs, PROJECT, "tab-a")}
    b = {it.item_id for it in loop.claim_next(blobs, PROJECT, "tab-b")}
    assert a and b and not a & b


def test_round_completion_retrain_and_next_round(blobs: Store) -> None:
    results = _label_batch(blobs, "tab", 6)
    assert [r.round_completed for r in results] == [False] * 5 + [True]
    assert training.retrain_pending(blobs, PROJECT)
    version = training.train(blobs, PROJECT)
    assert version == 1 and not training.retrain_pending(blobs, PROJECT)
    number = loop.plan_round(blobs, PROJECT)
    with blobs.read() as s:
        entries = s.scalars(select(QueueEntry).where(QueueEntry.round == number)).all()
    assert len(entries) == 6 and all(e.model_version == 1 and not e.stale for e in entries)


def test_semi_supervised_projects_refine_prototypes_with_unlabelled_items(blobs: Store) -> None:
    from annotator.store import queries
    from meta import ProtoNetClassifier

    def latest():
        with blobs.read() as s:
            mv = queries.latest_model(s, queries.get_project(s, PROJECT).id)
            return ProtoNetClassifier.from_bytes(mv.state), mv.metrics

    _label_batch(blobs, "tab", 6)
    training.train(blobs, PROJECT)
    model, metrics = latest()
    assert model._unlabelled_counts is None and metrics["semi_supervised"] is False  # default
    loop.configure(blobs, PROJECT, strategy="auto", batch_size=6, semi_supervised=True)
    training.train(blobs, PROJECT)
    model, metrics = latest()
    # 6 labelled, the 54 others assigned to the classes by the constrained k-means.
    assert model._unlabelled_counts.sum() == 54 and metrics["semi_supervised"] is True
    loop.configure(blobs, PROJECT, strategy="margin", batch_size=6)  # None: unchanged
    with blobs.read() as s:
        assert queries.get_project(s, PROJECT).semi_supervised is True
    sample = training.unlabelled_sample(60, np.arange(6), 10, seed=1)
    assert len(sample) == 10 and not set(sample) & set(range(6))
    assert np.array_equal(sample, training.unlabelled_sample(60, np.arange(6), 10, seed=1))


def test_queue_running_dry_before_retrain_gives_a_stale_batch(blobs: Store) -> None:
    _label_batch(blobs, "tab", 6)
    (item,) = loop.claim_next(blobs, PROJECT, "tab", n=1)  # retrain still pending
    assert item.stale and item.round == 2


def test_worker_step_retrains_and_replaces_what_nobody_saw(blobs: Store) -> None:
    _label_batch(blobs, "tab", 6)
    loop.claim_next(blobs, PROJECT, "tab", n=1)  # a stale round 2, one item reserved
    assert worker.step(blobs, PROJECT) == "trained v1"
    with blobs.read() as s:
        entries = s.scalars(select(QueueEntry).where(QueueEntry.round == 2)).all()
    kept = [e for e in entries if e.model_version is None]
    assert [e.owner for e in kept] == ["tab"]  # the tab's next item stays (KEEP_AHEAD)
    assert len({e.item_id for e in entries}) == 6  # the round is refilled to its size
    assert sum(e.model_version == 1 for e in entries) == 5


def test_prefetched_items_are_replaced_after_a_retrain(blobs: Store) -> None:
    items = loop.claim_next(blobs, PROJECT, "tab", n=12)  # round 1, then 2 planned ahead
    assert [it.round for it in items] == [1] * 6 + [2] * 6
    for it in items[:6]:
        loop.submit(
            blobs, PROJECT, it.item_id, _truth(blobs, it.item_id), annotator="ann", owner="tab"
        )
    worker.step(blobs, PROJECT)
    again = loop.claim_next(blobs, PROJECT, "tab", n=12)
    head = loop.KEEP_AHEAD
    assert [it.model_version for it in again[:head]] == [None] * head
    assert [it.item_id for it in again[:head]] == [it.item_id for it in items[6 : 6 + head]]
    assert all(it.model_version == 1 for it in again[head:])
    assert [it.round for it in again[:6]] == [2] * 6  # round 2 keeps its size


def test_skip_counts_toward_the_batch(blobs: Store) -> None:
    results = []
    for _ in range(6):
        (item,) = loop.claim_next(blobs, PROJECT, "tab", n=1)
        results.append(
            loop.submit(blobs, PROJECT, item.item_id, None, annotator="ann", owner="tab")
        )
    assert results[-1].round_completed
    p = loop.progress(blobs, PROJECT)
    assert (p.labelled, p.skipped) == (0, 6)


def test_replayed_key_press_is_not_a_second_label(blobs: Store) -> None:
    (item,) = loop.claim_next(blobs, PROJECT, "tab", n=1)
    first = loop.submit(
        blobs, PROJECT, item.item_id, "b", annotator="ann", owner="tab", client_event="k1"
    )
    again = loop.submit(
        blobs, PROJECT, item.item_id, "b", annotator="ann", owner="tab", client_event="k1"
    )
    assert again.replayed and again.annotation_id == first.annotation_id
    with blobs.read() as s:
        assert len(s.scalars(select(Annotation)).all()) == 1


def test_undo_puts_the_item_first_again(blobs: Store) -> None:
    items = loop.claim_next(blobs, PROJECT, "tab")
    result = loop.submit(blobs, PROJECT, items[0].item_id, "a", annotator="ann", owner="tab")
    assert loop.progress(blobs, PROJECT).labelled == 1
    loop.undo(blobs, PROJECT, result.annotation_id, annotator="ann", owner="tab")
    assert loop.progress(blobs, PROJECT).labelled == 0
    assert loop.claim_next(blobs, PROJECT, "tab")[0].item_id == items[0].item_id


def test_undo_across_a_retrain(blobs: Store) -> None:
    results = _label_batch(blobs, "tab", 6)
    training.train(blobs, PROJECT)
    loop.undo(blobs, PROJECT, results[2].annotation_id, annotator="ann", owner="tab")
    assert loop.progress(blobs, PROJECT).labelled == 5


def test_history_and_relabel(blobs: Store) -> None:
    _label_batch(blobs, "tab", 3)
    entries = loop.history(blobs, PROJECT)
    assert len(entries) == 3 and entries[0].annotation_id > entries[-1].annotation_id
    new = loop.relabel(blobs, PROJECT, entries[0].annotation_id, "c", annotator="ann")
    entries = loop.history(blobs, PROJECT)
    assert entries[0].annotation_id == new and entries[0].label == "c" and len(entries) == 3


def test_release_and_expired_reservations_go_back(blobs: Store) -> None:
    mine = {it.item_id for it in loop.claim_next(blobs, PROJECT, "tab-a")}
    assert loop.release(blobs, PROJECT, "tab-a") == len(mine)
    loop.claim_next(blobs, PROJECT, "tab-a")
    with blobs.write() as s:
        s.execute(
            update(QueueEntry).values(claimed_at=utcnow() - loop.CLAIM_TTL - timedelta(seconds=1))
        )
    theirs = {it.item_id for it in loop.claim_next(blobs, PROJECT, "tab-b")}
    assert theirs & mine


def test_bad_decisions_are_refused(blobs: Store) -> None:
    (item,) = loop.claim_next(blobs, PROJECT, "tab", n=1)
    with pytest.raises(LabelError):
        loop.submit(blobs, PROJECT, item.item_id, "zzz", annotator="ann")
    with pytest.raises(ProtolabelError, match="annotator"):
        loop.submit(blobs, PROJECT, item.item_id, "a", annotator="  ")
    with pytest.raises(ProtolabelError, match="strategy"):
        loop.configure(blobs, PROJECT, strategy="magic", batch_size=5)


def test_most_recent_project_follows_labelling(blobs: Store, tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", X=np.eye(4), y=np.array(["a", "b", "a", "b"]))
    services.import_path(blobs, tmp_path / "other.npz", "other", ImportOptions())
    (item,) = loop.claim_next(blobs, "other", "tab", n=1)
    loop.submit(blobs, "other", item.item_id, "a", annotator="ann", owner="tab")
    assert loop.most_recent_project(blobs) == "other"


def test_pool_exhausts_cleanly(blobs: Store) -> None:
    seen = set()
    while items := loop.claim_next(blobs, PROJECT, "tab", n=1):
        seen.add(items[0].item_id)
        loop.submit(blobs, PROJECT, items[0].item_id, None, annotator="ann", owner="tab")
    assert len(seen) == 60
    assert loop.progress(blobs, PROJECT).remaining == 0


# ------------------------------------------------------------ zero-shot prototypes (issue 18)


def _named_text_project(store: Store, folder: Path, labels: list[str]) -> str:
    """30 short texts, 10 per class, each holding its class's name; tf-idf features."""
    import pandas as pd

    words = [["red", "green"], ["north", "south"], ["one", "two"]]
    rows = [
        {"id": f"t{i}", "text": f"{name} {words[k][i % 2]} note{i}", "label": name}
        for k, name in enumerate(labels)
        for i in range(10)
    ]
    path = folder / "named.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    options = ImportOptions(text_col="text", label_col="label", features="tfidf")
    services.import_path(store, path, "named", options)
    return "named"


def test_a_text_project_with_meaningful_names_has_a_model_before_any_label(
    store: Store, tmp_path: Path
) -> None:
    from annotator import project_admin
    from annotator.loop import card
    from annotator.store import queries
    from meta import ProtoNetClassifier

    name = _named_text_project(store, tmp_path, ["animal", "fruit", "vehicle"])
    assert training.retrain_pending(store, name)  # the first model comes from the names
    assert worker.step(store, name) == "trained v1"
    assert not training.retrain_pending(store, name)
    with store.read() as s:
        mv = queries.latest_model(s, queries.get_project(s, name).id)
        assert mv.n_labels == 0 and mv.metrics["descriptions"]
        model = ProtoNetClassifier.from_bytes(mv.state)
    assert sorted(model.classes_) == ["animal", "fruit", "vehicle"]
    # The card's suggestions come from it: each text holds its class's name.
    items = loop.claim_next(store, name, "tab", n=3)
    truth = [_truth(store, it.item_id) for it in items]
    suggested = card.suggestions(store, name, items)
    assert [label for label, _ in suggested] == truth
    # A new guideline is a new description: the prototypes are retrained from it.
    project_admin.set_guideline(store, name, "fruit", "apples, pears", "")
    assert training.retrain_pending(store, name)
    assert training.train(store, name) == 2
    # The project setting turns it off: no model from names alone after that.
    loop.configure(store, name, zero_shot=False)
    assert not training.retrain_pending(store, name)
    with store.read() as s:
        assert queries.get_project(s, name).zero_shot is False


def test_names_without_meaning_wait_for_labels(store: Store, tmp_path: Path) -> None:
    name = _named_text_project(store, tmp_path, ["1", "2", "3"])
    assert not training.retrain_pending(store, name)
    assert training.train(store, name) is None
