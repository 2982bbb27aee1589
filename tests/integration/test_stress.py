"""``protolabel stress`` end to end, and an annotator killed with SIGKILL mid-batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from sqlalchemy import select

from annotator import loop, stress
from annotator.config import Settings
from annotator.store.db import Store
from annotator.store.models import Annotation
from tests.integration.test_teams import PROJECT, make_project

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, db: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "annotator.cli", "stress", "--db", db, *args],
        capture_output=True, text=True, env=env, timeout=300, cwd=ROOT,
    )  # fmt: skip


def _check(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert list(result) == list(stress.KEYS)
    return result


@pytest.mark.slow
def test_stress_cli_eight_annotators(settings: Settings, tmp_path: Path) -> None:
    store = Store.open(settings)
    try:
        make_project(store, tmp_path, n=400, batch_size=20)
    finally:
        store.dispose()
    n = 8 if not settings.is_sqlite else 3
    result = _check(
        _cli("--project", PROJECT, "--annotators", str(n), "--items", "300", "--seconds", "20",
             db=settings.db_url)
    )  # fmt: skip
    assert result["acknowledged"] > 0
    assert result["in_db"] == result["acknowledged"]
    assert (result["double_served"], result["lost"], result["errors"]) == (0, 0, 0)


@pytest.mark.slow
def test_stress_cli_overlap_two(settings: Settings, tmp_path: Path) -> None:
    store = Store.open(settings)
    try:
        make_project(store, tmp_path, n=60, batch_size=10)
    finally:
        store.dispose()
    result = _check(
        _cli("--project", PROJECT, "--annotators", "3", "--items", "30", "--seconds", "180",
             "--overlap", "2", db=settings.db_url)
    )  # fmt: skip
    # 30 items, two annotators each; the run ends when they run out (180 s is a bound only)
    assert result["acknowledged"] == 60
    assert (result["double_served"], result["lost"], result["errors"]) == (0, 0, 0)
    store = Store.open(settings)
    try:
        with store.read() as s:
            from annotator.store import queries

            assert queries.get_project(s, PROJECT).overlap == 1  # restored after the run
    finally:
        store.dispose()


def test_stress_refuses_a_missing_project_or_one_without_ground_truth(
    settings: Settings, tmp_path: Path
) -> None:
    proc = _cli("--project", "nope", "--seconds", "1", db=settings.db_url)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "no project named 'nope'" in proc.stderr
    store = Store.open(settings)
    try:
        path = tmp_path / "nolabels.csv"
        path.write_text("text\nhello\nworld\n")
        from annotator import services

        services.import_path(
            store, path, "bare", services.ImportOptions(text_col="text", labels="x,y")
        )
        proc = _cli("--project", "bare", "--seconds", "1", db=settings.db_url)
        assert proc.returncode == 2 and "no ground truth" in proc.stderr
        with store.read() as s:
            assert s.scalar(select(Annotation.id).limit(1)) is None  # nothing written
    finally:
        store.dispose()


def test_a_killed_annotator_loses_no_acknowledged_label_and_its_leases_expire(
    settings: Settings, tmp_path: Path
) -> None:
    ttl = 8.0  # long enough that a loaded CI box claims again well before the leases expire
    settings = replace(settings, lease_ttl_seconds=ttl)
    store = Store.open(settings)
    try:
        make_project(store, tmp_path, n=60, batch_size=6)
        log = tmp_path / "victim.jsonl"
        spec = stress.AnnotatorSpec(
            db_url=settings.db_url, lease_ttl_seconds=ttl, project=PROJECT, name="victim",
            log_path=str(log), seconds=120, hold_after=7,
        )  # fmt: skip
        # A plain subprocess, not multiprocessing: spawn would re-run this process's __main__,
        # which an earlier AppTest in the same session may have replaced.
        code = (
            "import json, sys; from annotator import stress; "
            "stress.annotator_main(stress.AnnotatorSpec(**json.loads(sys.argv[1])))"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(asdict(spec))],
            env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT,
        )  # fmt: skip
        deadline = time.time() + 120
        while not any(e["e"] == "holding" for e in stress.read_log(log)):
            assert proc.poll() is None and time.time() < deadline, stress.read_log(log)
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)  # mid-batch: leases held, nothing released
        proc.wait()
        events = stress.read_log(log)
        acked = {e["annotation"] for e in events if e["e"] == "ack"}
        held = next(e for e in events if e["e"] == "holding")
        holding = set(held["items"])
        assert len(acked) == 7 and holding
        with store.read() as s:
            found = set(s.scalars(select(Annotation.id).where(Annotation.id.in_(acked))))
        assert found == acked  # every acknowledged label is in the database
        assert time.time() < held["t"] + ttl, "too slow to check the leases before they expire"
        assert not holding & {it.item_id for it in loop.claim_next(store, PROJECT, "next")}
        time.sleep(max(0.0, held["t"] + ttl + 0.5 - time.time()))  # leased before "holding"
        back = {it.item_id for it in loop.claim_next(store, PROJECT, "later", n=40)}
        assert holding <= back  # after the TTL the killed annotator's items are in the pool
    finally:
        store.dispose()


def _write_log(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_the_audit_catches_a_double_serve_and_a_lost_ack(store: Store, tmp_path: Path) -> None:
    """The audit is only worth its zeros if it reports what it is there to catch: logs that
    show an item served twice and an acknowledged decision the database does not hold."""
    make_project(store, tmp_path, n=30, batch_size=6)
    (item,) = loop.claim_next(store, PROJECT, "ann", n=1)
    real = loop.submit(store, PROJECT, item.item_id, "a", annotator="ann", owner="ann")
    other = item.item_id + 1

    clean = _write_log(tmp_path / "ann.log", [
        {"t": 0.0, "e": "claim", "item": item.item_id},
        {"t": 1.0, "e": "ack", "item": item.item_id, "annotation": real.annotation_id},
    ])  # fmt: skip
    assert stress.audit(store, PROJECT, [clean], overlap=1) == {
        "acknowledged": 1, "in_db": 1, "double_served": 0, "lost": 0, "errors": 0,
    }  # fmt: skip
    lost = _write_log(tmp_path / "bob.log", [
        {"t": 0.0, "e": "claim", "item": other},
        {"t": 0.5, "e": "ack", "item": other, "annotation": real.annotation_id + 1000},
    ])  # fmt: skip
    assert stress.audit(store, PROJECT, [clean, lost], overlap=1)["lost"] == 1
    # The same item served twice to one annotator...
    twice = _write_log(tmp_path / "cat.log", [
        {"t": 0.0, "e": "claim", "item": other},
        {"t": 0.2, "e": "claim", "item": other},
    ])  # fmt: skip
    assert stress.audit(store, PROJECT, [twice], overlap=1)["double_served"] == 1
    # ...or held by two annotators at once where one may hold it (fine with overlap 2).
    held = _write_log(tmp_path / "dan.log", [
        {"t": 0.1, "e": "claim", "item": other},  # while bob held it; dan holds it to his end
        {"t": 2.0, "e": "claim", "item": other + 1},
    ])  # fmt: skip
    assert stress.audit(store, PROJECT, [lost, held], overlap=1)["double_served"] == 1
    assert stress.audit(store, PROJECT, [lost, held], overlap=2)["double_served"] == 0
    cut = tmp_path / "eve.log"  # a last line cut short by a kill is not an event
    cut.write_text('{"t": 0.0, "e": "error", "msg": "x"}\n{"t": 1.0, "e": "ack", "ite')
    assert stress.audit(store, PROJECT, [cut], overlap=1)["errors"] == 1
