"""Teams on one database: leases, overlap, roles, the trainer lock (SQLite and PostgreSQL)."""

from __future__ import annotations

import fcntl
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, update

from annotator import loop, review, services, teams
from annotator.config import Settings
from annotator.errors import NotServedError, PermissionDeniedError, ProtolabelError
from annotator.loop import card as card_events
from annotator.loop import training, worker
from annotator.services import ImportOptions
from annotator.store import locks, queries
from annotator.store.db import Store
from annotator.store.models import (
    Annotation,
    Item,
    QueueEntry,
    Round,
    Served,
    TrainerLock,
    utcnow,
)
from tests.integration.helpers import snapshot

PROJECT = "team"


def make_project(store: Store, tmp_path: Path, n: int = 60, *, batch_size: int = 6) -> Store:
    """``n`` items in 3 separated classes with ground truth; random strategy (cheap)."""
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0, 0], [8, 8, 0, 0], [0, 8, 8, 8]], dtype=float)
    k = np.arange(n) % 3
    path = tmp_path / "team.npz"
    np.savez(path, X=centers[k] + rng.normal(size=(n, 4)), y=np.array(["a", "b", "c"])[k])
    services.import_path(store, path, PROJECT, ImportOptions())
    loop.configure(store, PROJECT, strategy="random", batch_size=batch_size)
    return store


@pytest.fixture
def team(store: Store, tmp_path: Path) -> Store:
    return make_project(store, tmp_path)


def _truth(store: Store, item_id: int) -> str:
    with store.read() as s:
        return s.get(Item, item_id).ground_truth


def _label(store: Store, item_id: int, who: str, owner: str | None = None) -> int:
    owner = owner or who
    label = _truth(store, item_id)
    return loop.submit(store, PROJECT, item_id, label, annotator=who, owner=owner).annotation_id


def _ids(items: list[loop.QueuedItem]) -> set[int]:
    return {it.item_id for it in items}


def _expire(store: Store, owner: str) -> None:
    ttl = timedelta(seconds=store.settings.lease_ttl_seconds)
    with store.write() as s:
        s.execute(
            update(QueueEntry)
            .where(QueueEntry.owner == owner)
            .values(claimed_at=utcnow() - ttl - timedelta(seconds=1))
        )


# --------------------------------------------------------------------------------------------
# Leases


def test_a_lease_returns_to_the_pool_after_the_ttl(team: Store) -> None:
    alice = _ids(loop.claim_next(team, PROJECT, "alice", n=6))
    assert len(alice) == 6
    assert not alice & _ids(loop.claim_next(team, PROJECT, "bob", n=6))
    _expire(team, "alice")
    bob = _ids(loop.claim_next(team, PROJECT, "bob", n=12))
    assert alice <= bob  # the expired leases were handed on
    assert not alice & _ids(loop.claim_next(team, PROJECT, "alice", n=6, plan=False))


def _age(store: Store, owner: str, seconds: float) -> None:
    """Make ``owner``'s leases ``seconds`` old (instead of sleeping that long)."""
    with store.write() as s:
        s.execute(
            update(QueueEntry)
            .where(QueueEntry.owner == owner)
            .values(claimed_at=utcnow() - timedelta(seconds=seconds))
        )


def test_the_ttl_is_a_setting(settings: Settings, tmp_path: Path) -> None:
    """Leases of a store whose TTL is 1,000 s are kept at 990 s and handed on at 1,010 s (the
    clock moved by rewriting the claim times, so no sleep decides the outcome)."""
    store = Store.open(replace(settings, lease_ttl_seconds=1000))
    try:
        make_project(store, tmp_path)
        alice = _ids(loop.claim_next(store, PROJECT, "alice", n=3))
        _age(store, "alice", 990)
        assert not alice & _ids(loop.claim_next(store, PROJECT, "bob", n=20))
        _age(store, "alice", 1010)
        assert alice <= _ids(loop.claim_next(store, PROJECT, "carol", n=30))
    finally:
        store.dispose()


def test_a_late_decision_after_the_lease_moved_on_is_kept(team: Store) -> None:
    (item,) = loop.claim_next(team, PROJECT, "alice", n=1)
    _expire(team, "alice")
    assert item.item_id in _ids(loop.claim_next(team, PROJECT, "bob", n=6))
    late = _label(team, item.item_id, "alice")  # acknowledged: never refused, never lost
    with team.read() as s:
        held = s.scalar(select(QueueEntry).where(QueueEntry.item_id == item.item_id))
        assert held is not None and held.owner == "bob"  # bob's lease is untouched
        assert s.get(Annotation, late).label == _truth(team, item.item_id)
    _label(team, item.item_id, "bob")
    with team.read() as s:
        n = s.scalar(select(func.count()).where(Annotation.item_id == item.item_id))
    assert n == 2  # an extra decision beyond the overlap, kept and countable


def test_a_late_decision_never_breaks_a_tie(team: Store) -> None:
    (item,) = loop.claim_next(team, PROJECT, "alice", n=1)
    _expire(team, "alice")
    assert item.item_id in _ids(loop.claim_next(team, PROJECT, "bob", n=6))
    loop.submit(team, PROJECT, item.item_id, "a", annotator="bob", owner="bob")
    loop.submit(team, PROJECT, item.item_id, "b", annotator="alice", owner="alice")  # late
    with team.read() as s:
        pid = queries.get_project(s, PROJECT).id
        final = queries.item_labels(s, pid)[item.item_id].final
    assert (final.label, final.source) == (None, "split")  # waits for a reviewer
    (entry,) = [e for e in review.review_queue(team, PROJECT) if e.item_id == item.item_id]
    assert "split" in entry.reasons[0]


def test_a_decision_on_an_item_never_served_is_refused_and_writes_nothing(team: Store) -> None:
    (item,) = loop.claim_next(team, PROJECT, "alice", n=1)
    before = snapshot(team)
    with pytest.raises(NotServedError, match="never given to 'mallory'"):
        loop.submit(team, PROJECT, item.item_id, "a", annotator="mallory")
    with pytest.raises(NotServedError):  # nor through someone else's tab
        loop.submit(team, PROJECT, item.item_id, "a", annotator="mallory", owner="tab-x")
    assert snapshot(team) == before
    # the label card's route: an event for an item the tab was never given is refused, with why
    applied = card_events.apply_events(
        team, PROJECT, [{"id": "m1", "type": "label", "item": item.item_id, "label": "a"}],
        owner="tab-m", annotator="mallory", done=set(),
    )  # fmt: skip
    assert applied.stored == [] and "never given" in applied.refused[0][1]
    assert snapshot(team) == before


def test_what_was_served_is_remembered_after_the_decision(team: Store) -> None:
    (item,) = loop.claim_next(team, PROJECT, "alice", n=1)
    first = _label(team, item.item_id, "alice")
    loop.undo(team, PROJECT, first, annotator="alice")  # back in alice's queue
    _label(team, item.item_id, "alice")
    with team.read() as s:
        served = s.execute(select(Served.item_id, Served.annotator)).all()
    assert served == [(item.item_id, "alice")]


def test_two_tabs_of_one_annotator_never_share_an_item(team: Store) -> None:
    loop.configure(team, PROJECT, overlap=2)
    one = _ids(loop.claim_next(team, PROJECT, "tab1", n=6, annotator="ann"))
    two = _ids(loop.claim_next(team, PROJECT, "tab2", n=6, annotator="ann"))
    assert len(one) == len(two) == 6 and not one & two


# --------------------------------------------------------------------------------------------
# Overlap


def test_overlap_two_serves_each_item_to_two_annotators_once(team: Store) -> None:
    loop.configure(team, PROJECT, overlap=2, batch_size=6)
    a = loop.claim_next(team, PROJECT, "a", n=6)
    b = loop.claim_next(team, PROJECT, "b", n=6)
    assert _ids(a) == _ids(b)  # the same batch: each item's two slots
    c = loop.claim_next(team, PROJECT, "c", n=6)
    assert not _ids(c) & _ids(a)  # no third annotator while two hold them
    for it in a:
        _label(team, it.item_id, "a")
    again = loop.claim_next(team, PROJECT, "a", n=6)
    assert not _ids(again) & _ids(a)  # never twice to the same annotator
    _expire(team, "b")  # b walks away: its slots go back to the pool, but not to a
    assert not _ids(loop.claim_next(team, PROJECT, "a", n=12)) & _ids(a)
    d = loop.claim_next(team, PROJECT, "d", n=6)
    assert _ids(d) == _ids(a)  # d takes b's expired slots
    for it in d:
        _label(team, it.item_id, "d")
    with team.read() as s:
        per_item = dict(
            s.execute(
                select(Annotation.item_id, func.count(func.distinct(Annotation.annotator)))
                .where(Annotation.item_id.in_(_ids(a)))
                .group_by(Annotation.item_id)
            ).all()
        )
        left = s.scalar(select(func.count()).where(QueueEntry.item_id.in_(_ids(a))))
    assert set(per_item.values()) == {2} and left == 0


def test_undo_with_overlap_gives_the_item_a_slot_back(team: Store) -> None:
    loop.configure(team, PROJECT, overlap=2)
    (item,) = loop.claim_next(team, PROJECT, "a", n=1)
    first = _label(team, item.item_id, "a")
    loop.claim_next(team, PROJECT, "b", n=6)
    _label(team, item.item_id, "b")
    loop.undo(team, PROJECT, first, annotator="a", owner="a")
    assert item.item_id in _ids(loop.claim_next(team, PROJECT, "a", n=6, plan=False))


def test_overlap_is_checked(team: Store) -> None:
    with pytest.raises(ProtolabelError, match="overlap"):
        loop.configure(team, PROJECT, overlap=0)


# --------------------------------------------------------------------------------------------
# Roles


def test_an_authenticated_annotator_cannot_change_anothers_labels(team: Store) -> None:
    for user in ("alice", "bob"):
        teams.set_role(team, PROJECT, user, "annotator")
    (item,) = loop.claim_next(team, PROJECT, "alice", n=1)
    ann = _label(team, item.item_id, "alice")
    with pytest.raises(PermissionDeniedError, match="may change 'alice''s decisions"):
        loop.undo(team, PROJECT, ann, annotator="bob", authenticated=True)
    with pytest.raises(PermissionDeniedError):
        loop.relabel(team, PROJECT, ann, "a", annotator="bob", authenticated=True)
    new = loop.relabel(team, PROJECT, ann, "a", annotator="alice", authenticated=True)
    teams.set_role(team, PROJECT, "rita", "reviewer")
    loop.undo(team, PROJECT, new, annotator="rita", authenticated=True)  # a reviewer may
    loop.undo(team, PROJECT, ann, annotator="bob")  # trust mode: no checks


def test_only_owners_change_settings_and_members(team: Store) -> None:
    teams.set_role(team, PROJECT, "olga", "owner")
    teams.set_role(team, PROJECT, "rita", "reviewer")
    for user in ("rita", "bob"):
        with pytest.raises(PermissionDeniedError, match="only owners|not a member"):
            loop.configure(team, PROJECT, overlap=3, user=user, authenticated=True)
        with pytest.raises(PermissionDeniedError):
            teams.set_role(team, PROJECT, "bob", "owner", by=user, authenticated=True)
    loop.configure(team, PROJECT, overlap=3, user="olga", authenticated=True)
    teams.set_role(team, PROJECT, "bob", "reviewer", by="olga", authenticated=True)
    assert teams.members(team, PROJECT) == [("bob", "reviewer"), ("olga", "owner"),
                                            ("rita", "reviewer")]  # fmt: skip
    assert teams.role_in(team, PROJECT, "nobody") is None  # not a member: no role at all
    teams.set_role(team, PROJECT, "bob", None)
    assert ("bob", "reviewer") not in teams.members(team, PROJECT)
    with pytest.raises(ProtolabelError, match="unknown role"):
        teams.set_role(team, PROJECT, "bob", "admin")


# --------------------------------------------------------------------------------------------
# The trainer lock


def test_one_trainer_at_a_time(team: Store) -> None:
    pid = loop.project_id(team, PROJECT)
    other = Store.open(team.settings)  # a second app instance
    try:
        with locks.trainer_lock(team, pid) as first:
            assert first
            with locks.trainer_lock(other, pid) as second:
                assert not second
            for _ in range(2):  # complete a round so a retrain is pending
                items = loop.claim_next(other, PROJECT, "w", n=6)
                for it in items:
                    _label(other, it.item_id, "w")
            assert training.retrain_pending(other, PROJECT)
            assert worker.step(other, PROJECT) == "locked"
        assert worker.step(other, PROJECT).startswith("trained v")
        with locks.trainer_lock(other, pid) as again:
            assert again  # released after training
    finally:
        other.dispose()


def test_a_trainer_without_a_database_file_holds_a_row_until_it_expires(tmp_path: Path) -> None:
    store = Store.open(Settings(db_url="sqlite://"))  # in memory: no file to lock
    try:
        make_project(store, tmp_path)
        pid = loop.project_id(store, PROJECT)
        with store.write() as s:
            s.add(
                TrainerLock(project_id=pid, holder="gone", expires_at=utcnow() + timedelta(hours=1))
            )
        with locks.trainer_lock(store, pid) as got:
            assert not got
        with store.write() as s:
            s.get(TrainerLock, pid).expires_at = utcnow() - timedelta(seconds=1)
        with locks.trainer_lock(store, pid) as got:
            assert got
    finally:
        store.dispose()


# A worker process whose retrain hangs (its training replaced by a long sleep), as a worker
# killed mid-retrain would be: the real worker loop, signal handling and trainer lock.
_HANGING_WORKER = """
import os, sys, time
from annotator.loop import training
from annotator.loop import worker
from annotator.config import Settings
def hang(*args, **kwargs):
    print("training", flush=True)
    time.sleep(600)
training.train = hang
worker.run_worker(Settings.from_env(sys.argv[1]), sys.argv[2], os.getppid())
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_worker_killed_mid_retrain_does_not_block_the_next_one(team: Store, sig) -> None:
    for _ in range(6):  # a completed round: a retrain is due
        (item,) = loop.claim_next(team, PROJECT, "ann", n=1)
        _label(team, item.item_id, "ann")
    assert training.retrain_pending(team, PROJECT)
    hanging = subprocess.Popen(
        [sys.executable, "-c", _HANGING_WORKER, team.settings.db_url, PROJECT],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert hanging.stdout.readline().strip() == "training"  # it holds the trainer lock
        assert worker.step(team, PROJECT) == "locked"
        hanging.send_signal(sig)
        hanging.wait(10)
        started = time.monotonic()
        while (did := worker.step(team, PROJECT)) == "locked":
            assert time.monotonic() - started < 5, "the dead trainer's lock is still held"
            time.sleep(0.1)
        assert did == "trained v1"
    finally:
        hanging.kill()
        hanging.wait()


# --------------------------------------------------------------------------------------------
# The planner lock


def _sqlite_file(store: Store) -> None:
    if store.dialect != "sqlite" or store.settings.sqlite_path is None:
        pytest.skip("the file lock is SQLite's; PostgreSQL uses an advisory lock")


def test_claimers_who_run_dry_together_plan_one_full_round_each(team: Store) -> None:
    """Four claimers with an empty queue at once: each waits for the planner before it, claims
    what that one queued or plans the next round; no round is cut short by a lost race."""
    stores = [Store.open(team.settings) for _ in range(4)]
    got: dict[str, set[int]] = {}

    def claim(i: int) -> None:
        got[f"w{i}"] = _ids(loop.claim_next(stores[i], PROJECT, f"w{i}", n=6))

    try:
        threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for s in stores:
            s.dispose()
    assert [len(v) for v in got.values()] == [6, 6, 6, 6]
    assert len(set().union(*got.values())) == 24  # nobody shares an item (overlap 1)
    with team.read() as s:
        sizes = s.scalars(select(Round.batch_size).order_by(Round.number)).all()
    assert sizes == [6, 6, 6, 6]


def test_the_sqlite_planner_lock_excludes_a_second_planner(team: Store) -> None:
    _sqlite_file(team)
    pid = loop.project_id(team, PROJECT)
    other = Store.open(team.settings)
    trying, entered = threading.Event(), threading.Event()
    order: list[str] = []

    def second() -> None:
        trying.set()
        with locks.planner_lock(other, pid):
            order.append("second entered")
            entered.set()

    try:
        with locks.planner_lock(team, pid):
            assert _flock_held(locks.planner_lock_path(team, pid))
            waiter = threading.Thread(target=second)
            waiter.start()
            assert trying.wait(10)
            assert not entered.is_set()
            order.append("first left")
        assert entered.wait(10)
        waiter.join(10)
    finally:
        other.dispose()
    assert order == ["first left", "second entered"]
    assert not _flock_held(locks.planner_lock_path(team, pid))


def _flock_held(path) -> bool:
    """Whether some open file holds the exclusive lock on ``path`` (asked without waiting)."""
    with open(path, "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False


def test_a_crashed_sqlite_planner_does_not_wedge_the_others(team: Store) -> None:
    _sqlite_file(team)
    pid = loop.project_id(team, PROJECT)
    path = locks.planner_lock_path(team, pid)
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a+b'); "
            "fcntl.flock(f.fileno(), fcntl.LOCK_EX); print('held', flush=True); time.sleep(600)",
            str(path),
        ],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _flock_held(path)
        trying, entered = threading.Event(), threading.Event()

        def plan() -> None:
            trying.set()
            with locks.planner_lock(team, pid):
                entered.set()

        waiter = threading.Thread(target=plan, daemon=True)
        waiter.start()
        assert trying.wait(10)
        assert not entered.is_set()
        holder.kill()  # the kernel drops a dead process's flock
        assert entered.wait(10)
    finally:
        holder.kill()
        holder.wait()


def test_a_locked_database_refuses_in_one_line_and_the_press_lands_later(
    team: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sqlite_file(team)
    from annotator.errors import DatabaseUnavailableError
    from annotator.store import db

    (item,) = loop.claim_next(team, PROJECT, "ann", n=1)
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    impatient = Store.open(team.settings)  # its connections wait 0.3 s for a lock
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
         "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(60)",
         str(team.settings.sqlite_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        event = [{"id": "k1", "type": "label", "item": item.item_id, "label": "a"}]
        with pytest.raises(DatabaseUnavailableError) as caught:
            card_events.apply_events(impatient, PROJECT, event, owner="ann", annotator="ann",
                                   done=set())  # fmt: skip
        message = str(caught.value)
        assert "database is locked" in message and "\n" not in message
        assert "INSERT" not in message and "SELECT" not in message
        assert training.projects_pending_retrain(impatient) == []  # reading still works
        holder.kill()
        holder.wait()
        applied = card_events.apply_events(
            impatient, PROJECT, event, owner="ann", annotator="ann", done=set()
        )
        assert applied.stored == ["k1"] and not applied.refused
    finally:
        holder.kill()
        holder.wait()
        impatient.dispose()
