"""Rounds under real use: a scripted card that presses ahead of the server, retrains landing
between its syncs, and the promises the Label page makes (SQLite and PostgreSQL).

``Card`` mirrors ``annotator/ui/label_card.js`` on the server functions the Label page calls
(``card_events.apply_events``, ``loop.lease``, ``card_events.TabSync``): it shows one item,
never changes it except on a press, draws the next item from the items it was given, and
tells the server what is on screen and which payload it applied last.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import func, select

from annotator import loop, model_report
from annotator.loop import card as card_events
from annotator.loop import worker
from annotator.store.db import Store
from annotator.store.models import Annotation, Item, ModelVersion, QueueEntry, Round
from tests.integration.helpers import blob_project

PROJECT = "blobs"
BATCH = 6


@pytest.fixture
def blobs(store: Store, tmp_path: Path) -> Store:
    """90 items in 3 well-separated classes, batch size 6."""
    return blob_project(store, tmp_path, PROJECT, per_class=30, batch_size=BATCH)


class Card:
    """One browser tab's label card, as the JavaScript behaves."""

    def __init__(self, store: Store, tab: str, annotator: str = "ann") -> None:
        self.store, self.tab, self.annotator = store, tab, annotator
        self.server = card_events.TabSync()  # the server's side, kept in session state
        self.done: set[str] = set()  # event ids the server applied in this browser session
        self.order: list[int] = []
        self.rounds: dict[int, int] = {}
        self.current: int | None = None
        self.pending: list[dict] = []
        self.decided: list[dict] = []
        self.gone: set[int] = set()
        self.seen = 0
        self.n = 0
        self.log: list[tuple[int, str | None]] = []  # (item on screen, label) per press

    def sync(self) -> None:
        """One run of the Label page's card fragment, and the card applying its payload."""
        applied = card_events.apply_events(
            self.store, PROJECT, self.pending, owner=self.tab, annotator=self.annotator,
            done=self.done,
        )  # fmt: skip
        state = card_events.CardSync(PROJECT, self.tab, self.seen, self.current, self.pending)
        lease = loop.lease(
            self.store, PROJECT, self.tab, annotator=self.annotator, shown=self.current,
            release=self.server.release(state), low_water=1,
        )  # fmt: skip
        seq = self.server.next_payload(lease.withdrawn)
        assert not applied.refused
        acked = set(applied.acked)
        for e in self.pending:
            if e["id"] in acked and e["type"] != "undo":
                self.gone.add(e["item"])
            elif e["id"] in acked:
                self.gone.discard(e["item"])
        self.pending = [e for e in self.pending if e["id"] not in acked]
        self.order = [it.item_id for it in lease.items]
        self.rounds.update({it.item_id: it.round for it in lease.items})
        self.seen = seq
        if self.current is None:
            self.current = self._next(None)

    def _next(self, exclude: int | None) -> int | None:
        gone = set(self.gone)
        for e in self.pending:
            (gone.discard if e["type"] == "undo" else gone.add)(e["item"])
        return next((i for i in self.order if i != exclude and i not in gone), None)

    def press(self, label: str | None) -> bool:
        """A label (None: skip) for the item on screen; False if nothing is on screen."""
        if self.current is None:
            return False
        self.n += 1
        event = {"id": f"{self.tab}-{self.n}", "type": "label" if label else "skip",
                 "item": self.current, "label": label}  # fmt: skip
        self.log.append((self.current, label))
        self.decided.append(event)
        self.pending.append(event)
        self.current = self._next(self.current)
        return True

    def undo(self) -> None:
        last = self.decided.pop()
        self.n += 1
        self.pending.append(
            {
                "id": f"{self.tab}-{self.n}",
                "type": "undo",
                "item": last["item"],
                "target": last["id"],
            }
        )
        self.log.append((last["item"], "undo"))
        self.current = last["item"]


def _truth(store: Store) -> dict[int, str]:
    with store.read() as s:
        return dict(s.execute(select(Item.id, Item.ground_truth)).all())


def _rounds(store: Store) -> list[Round]:
    with store.read() as s:
        return list(s.scalars(select(Round).order_by(Round.number)))


def _label_with_retrains(
    store: Store, card: Card, presses: int, seed: int, worker_chance: float = 0.5
) -> None:
    """Press 1-4 times between syncs; a worker pass (retrain, replan) lands at random moments,
    sometimes between a press and the sync that reports it."""
    rng = random.Random(seed)
    truth = _truth(store)
    card.sync()
    done = 0
    while done < presses:
        for _ in range(rng.randint(1, 4)):
            if card.current is not None and done < presses:
                card.press(truth[card.current])
                done += 1
        if rng.random() < worker_chance:
            worker.step(store, PROJECT)
        card.sync()
        if card.current is None:
            worker.step(store, PROJECT)
            card.sync()
    card.sync()


def test_rounds_have_the_batch_size_and_one_retrain_each(blobs: Store) -> None:
    card = Card(blobs, "tab-1")
    _label_with_retrains(blobs, card, 60, seed=1, worker_chance=1.0)
    worker.step(blobs, PROJECT)
    rounds = _rounds(blobs)
    completed = [r for r in rounds if r.completed_at is not None]
    assert len(completed) == 60 // BATCH
    assert all(r.batch_size == BATCH for r in rounds)
    with blobs.read() as s:
        per_round = dict(
            s.execute(
                select(Annotation.round, func.count()).group_by(Annotation.round)
            ).all()
        )  # fmt: skip
        models = s.scalars(select(ModelVersion).order_by(ModelVersion.version)).all()
    assert all(per_round[r.number] == BATCH for r in completed)
    # one retrain per completed round (the worker ran between every pair of syncs), each on
    # its round's labels and the few labels given since
    assert len(models) == len(completed)
    assert all(BATCH * (i + 1) <= m.n_labels < BATCH * (i + 2) for i, m in enumerate(models))


def test_rounds_keep_their_size_when_retrains_lag(blobs: Store) -> None:
    card = Card(blobs, "tab-1")
    _label_with_retrains(blobs, card, 60, seed=5, worker_chance=0.3)
    rounds = _rounds(blobs)
    assert all(r.batch_size == BATCH for r in rounds)
    with blobs.read() as s:
        assert s.scalar(select(func.count(ModelVersion.id))) <= 60 // BATCH


def test_each_press_is_one_decision_on_the_item_on_screen(blobs: Store) -> None:
    card = Card(blobs, "tab-1")
    _label_with_retrains(blobs, card, 45, seed=2)
    with blobs.read() as s:
        stored = s.execute(select(Annotation.item_id, Annotation.label).order_by(Annotation.id))
        assert list(stored) == card.log
        assert s.scalar(select(func.count(func.distinct(Annotation.item_id)))) == 45


def test_no_item_is_offered_again_in_a_later_round(blobs: Store) -> None:
    card = Card(blobs, "tab-1")
    shown_in: dict[int, int] = {}
    truth = _truth(blobs)
    rng = random.Random(3)
    card.sync()
    for _ in range(50):
        if card.current is not None:
            round_now = card.rounds[card.current]
            assert shown_in.setdefault(card.current, round_now) == round_now
            card.press(truth[card.current])
        if rng.random() < 0.4:
            worker.step(blobs, PROJECT)
        card.sync()
    with blobs.read() as s:
        decided = s.scalars(select(Annotation.item_id).where(Annotation.annotator == "ann"))
        decided = list(decided)
    assert len(decided) == len(set(decided))


def test_a_retrain_never_replaces_the_item_on_screen(blobs: Store) -> None:
    card, _ = _one_round(blobs)  # the card shows a round-2 item
    on_screen = card.current
    assert worker.step(blobs, PROJECT) == "trained v1"
    card.sync()
    assert card.current == on_screen and card.order[0] == on_screen
    with blobs.read() as s:
        entry = s.scalar(select(QueueEntry).where(QueueEntry.item_id == on_screen))
        assert entry.owner == "tab-1" and entry.withdrawn_at is None and entry.model_version is None


def test_items_chosen_by_an_older_model_are_marked_stale(blobs: Store) -> None:
    card = Card(blobs, "tab-1")
    truth = _truth(blobs)
    card.sync()
    for _ in range(BATCH + 1):  # round 1, then one item of round 2 before the retrain
        card.press(truth[card.current])
    card.sync()
    worker.step(blobs, PROJECT)  # trains v1 and replans round 2
    card.sync()
    for _ in range(BATCH - 1):
        card.press(truth[card.current])
    card.sync()
    with blobs.read() as s:
        rows = s.execute(
            select(Annotation.round, Annotation.model_version, Annotation.stale).order_by(
                Annotation.id
            )
        ).all()
        round2 = s.scalar(select(Round).where(Round.number == 2))
        assert not round2.stale  # planned before round 1 was complete: no retrain pending yet
    assert all(not stale for rnd, _, stale in rows if rnd == 1)
    # round 2: chosen before v1; the items served before the retrain landed, and the kept
    # ones, are stale; the replacements chosen by v1 are not
    second = [(version, stale) for rnd, version, stale in rows if rnd == 2]
    assert second[0] == (None, True)
    assert all(stale == (version is None) for version, stale in second)
    assert any(version == 1 for version, _ in second)
    assert round2.batch_size == BATCH
    report = model_report.build_report(blobs, PROJECT, cross_validate=False)
    counts = dict(zip(report.rounds["round"], report.rounds["stale items"], strict=True))
    assert counts[1] == 0 and counts[2] == sum(stale for _, stale in second) > 0


def _one_round(store: Store) -> tuple[Card, dict[int, str]]:
    """A card that labelled round 1 and told the server so (a retrain is due)."""
    card = Card(store, "tab-1")
    truth = _truth(store)
    card.sync()
    for _ in range(BATCH):
        card.press(truth[card.current])
    card.sync()
    return card, truth


def test_withdrawn_items_return_to_the_pool_only_when_the_card_drops_them(blobs: Store) -> None:
    card, _ = _one_round(blobs)
    held_before = list(card.order)
    worker.step(blobs, PROJECT)
    with blobs.read() as s:
        withdrawn = set(
            s.scalars(select(QueueEntry.item_id).where(QueueEntry.withdrawn_at.is_not(None)))
        )
    assert withdrawn and withdrawn <= set(held_before)
    assert not withdrawn & set(held_before[: loop.KEEP_AHEAD])
    other = loop.claim_next(blobs, PROJECT, "tab-2", annotator="bob")
    assert not withdrawn & {it.item_id for it in other}  # never served elsewhere meanwhile
    card.sync()  # the payload leaves them out; the card has not confirmed it applied it yet
    assert not withdrawn & set(card.order)
    with blobs.read() as s:
        assert withdrawn <= set(s.scalars(select(QueueEntry.item_id)))
    card.sync()  # this sync reports the payload applied: they go back to the pool
    with blobs.read() as s:
        assert not withdrawn & set(s.scalars(select(QueueEntry.item_id)))


def test_a_press_on_a_withdrawn_item_is_kept_and_the_round_keeps_its_size(blobs: Store) -> None:
    card, truth = _one_round(blobs)
    worker.step(blobs, PROJECT)  # withdraws the card's unseen round-2 items...
    for _ in range(BATCH):  # ...which the card keeps pressing through before it hears of it
        card.press(truth[card.current])
    card.sync()
    card.sync()
    with blobs.read() as s:
        stored = list(
            s.execute(select(Annotation.item_id, Annotation.label).order_by(Annotation.id))
        )
    assert stored == card.log
    rounds = _rounds(blobs)
    assert all(r.batch_size == BATCH for r in rounds)


def test_undo_brings_the_item_back_on_screen(blobs: Store) -> None:
    card = Card(blobs, "tab-1")
    truth = _truth(blobs)
    card.sync()
    first = card.current
    card.press(truth[first])
    card.sync()
    card.undo()
    card.sync()
    assert card.current == first and card.order[0] == first
    card.press("a")
    card.sync()
    with blobs.read() as s:
        rows = s.execute(
            select(Annotation.item_id, Annotation.label, Annotation.undone_at.is_not(None))
        ).all()
    assert rows == [(first, truth[first], True), (first, "a", False)]


def test_two_tabs_of_one_person_never_share_an_item(blobs: Store) -> None:
    one, two = Card(blobs, "tab-1"), Card(blobs, "tab-2")
    truth = _truth(blobs)
    one.sync()
    two.sync()
    for _ in range(15):
        for tab in (one, two):
            if tab.current is not None:
                tab.press(truth[tab.current])
            tab.sync()
        assert not set(one.order) & set(two.order)
    with blobs.read() as s:
        decided = list(s.scalars(select(Annotation.item_id)))
    assert len(decided) == len(set(decided)) == 30
