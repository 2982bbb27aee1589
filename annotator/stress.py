"""``protolabel stress``: many annotators labelling one project at once, then an audit.

Each annotator is a separate process that loops: lease a batch with ``loop.claim_next``
(the app's own claim), label each item with its hidden ground truth (the oracle) through
``loop.submit`` (the app's own submit), until the ``--items`` budget or the ``--seconds``
run out, or nothing is left to claim (not an error). Every process appends what happened to
its own log, one JSON line per event, flushed at once, so a killed process leaves a true
record of what the service acknowledged:

    {"e": "claim", "item": 17, "t": 1700000000.1}   a slot of the item was leased to it
    {"e": "ack", "item": 17, "annotation": 5, "t": ...}   submit returned annotation 5
    {"e": "error", "msg": "...", "t": ...}   an exception (the loop goes on)

The audit (``audit``) reads the logs and the database:

- ``acknowledged``: annotations that submit returned; ``in_db``: those found in the database;
  ``lost``: acknowledged and not found (must be 0).
- ``double_served``: items served to more distinct annotators at once than the overlap
  allows, or served twice to the same annotator, seen in the claim logs (lease intervals from
  claim to acknowledgement, or to the process's end) or in the database (this run's decisions
  on an item by more annotators than the overlap, or two by one annotator). Must be 0.
- ``errors``: exceptions in the annotators, plus processes that died or had to be killed.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from annotator.config import Settings
from annotator.errors import ProtolabelError

KEYS = ("acknowledged", "in_db", "double_served", "lost", "errors")
#: Items an annotator leases at a time.
BATCH = 10
#: How long the annotators may take to start (imports, connecting) before the clock starts.
STARTUP_SECONDS = 120.0
#: How long the parent waits past the deadline before killing an annotator (counted an error).
GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class AnnotatorSpec:
    """What one annotator process needs (picklable, for spawn)."""

    db_url: str
    lease_ttl_seconds: float
    project: str
    name: str
    log_path: str
    seconds: float  # how long to label, from the start signal
    hold_after: int | None = None  # tests: after this many acks, lease a batch and hang


@dataclass
class Shared:
    """What the parent shares with its annotators: the decision budget (None: no cap), how
    many are ready, and the start signal (all start the clock together, after start-up)."""

    budget: Any = None
    ready: Any = None
    go: Any = None

    @classmethod
    def make(cls, ctx: Any, budget: int | None) -> Shared:
        return cls(
            budget=None if budget is None else ctx.Value("i", budget),
            ready=ctx.Value("i", 0),
            go=ctx.Event(),
        )


# --------------------------------------------------------------------------------------------
# The annotator process


def annotator_main(spec: AnnotatorSpec, shared: Shared | None = None) -> None:
    """One annotator's loop (a spawned process); see ``Shared``."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # eight annotators on a few cores: no thread oversubscription
    from annotator import loop
    from annotator.store.db import Store

    settings = Settings(db_url=spec.db_url, lease_ttl_seconds=spec.lease_ttl_seconds)
    with open(spec.log_path, "a", buffering=1, encoding="utf-8") as log:

        def note(kind: str, **fields: Any) -> None:
            log.write(json.dumps({"e": kind, "t": time.time(), **fields}) + "\n")
            log.flush()

        store = Store.open(settings)
        try:
            if shared is not None and shared.go is not None:
                with shared.ready.get_lock():
                    shared.ready.value += 1
                shared.go.wait()
            deadline = time.time() + spec.seconds
            budget = shared.budget if shared is not None else None
            _label_loop(store, spec, deadline, budget, note)
        except BaseException as exc:
            note("error", msg=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            try:
                loop.release(store, spec.project, spec.name)  # a clean exit returns leases
            finally:
                store.dispose()
                note("done")


def _label_loop(store, spec: AnnotatorSpec, deadline: float, budget, note) -> None:
    from annotator import loop

    held: set[int] = set()
    acks = 0
    while time.time() < deadline:
        try:
            items = loop.claim_next(store, spec.project, spec.name, n=BATCH, annotator=spec.name)
        except Exception as exc:  # noqa: BLE001 - counted and reported by the audit
            note("error", msg=f"claim: {type(exc).__name__}: {exc}")
            time.sleep(0.1)
            continue
        for it in items:
            if it.item_id not in held:
                held.add(it.item_id)
                note("claim", item=it.item_id)
        if spec.hold_after is not None and acks >= spec.hold_after and items:
            note("holding", items=[it.item_id for it in items])
            time.sleep(3600)  # the crash test kills us here, mid-batch
        if not items:
            if loop.nothing_left_for(store, spec.project, spec.name):
                return  # the pool ran out: not an error
            time.sleep(0.05)  # another annotator is planning the next batch
            continue
        truth = _oracle(store, spec.project, [it.item_id for it in items])
        for it in items:
            if time.time() >= deadline or not _take_budget(budget):
                return
            try:
                result = loop.submit(
                    store, spec.project, it.item_id, truth[it.item_id],
                    annotator=spec.name, owner=spec.name,
                    client_event=f"{spec.name}:{it.item_id}",
                )  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - counted and reported by the audit
                note("error", msg=f"submit: {type(exc).__name__}: {exc}")
                continue
            note("ack", item=it.item_id, annotation=result.annotation_id)
            held.discard(it.item_id)
            acks += 1
            if spec.hold_after is not None and acks >= spec.hold_after:
                break


def _take_budget(budget: Any) -> bool:
    if budget is None:
        return True
    with budget.get_lock():
        if budget.value <= 0:
            return False
        budget.value -= 1
        return True


def _oracle(store, project: str, item_ids: list[int]) -> dict[int, str]:
    """item id -> ground truth of the claimed items (per batch: a 1M pool's would take
    seconds to read whole)."""
    from annotator.store import queries

    with store.read() as s:
        return queries.ground_truth(s, queries.get_project(s, project).id, item_ids)


# --------------------------------------------------------------------------------------------
# The run


def check_project(store, project: str) -> int:
    """The project's overlap; a missing project or one without ground truth is a user error."""
    from annotator.store import queries

    with store.read() as s:
        p = queries.get_project(s, project)
        if not queries.has_ground_truth(s, p.id):
            raise ProtolabelError(
                f"project {project!r} has no ground truth: stress labels with it as the oracle "
                "(import with --label-col or --label-from-folder)"
            )
        return p.overlap


def run(
    settings: Settings,
    project: str,
    *,
    annotators: int = 8,
    items: int = 2000,
    seconds: float = 60.0,
    overlap: int | None = None,
    log_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Run the stress test; return the audit (``KEYS``) plus ``seconds`` and ``per_second``.

    The annotators are spawned processes: call this from a normal ``__main__`` (the CLI), not
    from inside Streamlit or AppTest, whose main script spawn would re-run.

    ``items`` caps the decisions at ``items * overlap`` (each item is labelled ``overlap``
    times). ``overlap`` sets the project's overlap for the run (restored afterwards).
    """
    from annotator import loop
    from annotator.store.db import Store

    if annotators < 1 or items < 1 or seconds <= 0:
        raise ProtolabelError("--annotators and --items must be at least 1, --seconds above 0")
    if overlap is not None and not 1 <= overlap <= annotators:
        raise ProtolabelError(f"--overlap must be between 1 and --annotators ({annotators})")
    store = Store.open(settings)
    try:
        before = check_project(store, project)
        effective = overlap or before
        if overlap is not None and overlap != before:
            loop.configure(store, project, overlap=overlap)
        try:
            with tempfile.TemporaryDirectory(prefix="protolabel-stress-") as tmp:
                logs = Path(log_dir or tmp)
                logs.mkdir(parents=True, exist_ok=True)
                specs, killed, elapsed = _run_processes(
                    settings, project, annotators, items * effective, seconds, logs
                )
                result = audit(store, project, [Path(s.log_path) for s in specs], effective)
        finally:
            if overlap is not None and overlap != before:
                loop.configure(store, project, overlap=before)
    finally:
        store.dispose()
    result["errors"] += killed
    result["seconds"] = round(elapsed, 2)
    result["per_second"] = round(result["acknowledged"] / elapsed, 1) if elapsed else 0.0
    return result


def _run_processes(settings, project, annotators, budget_n, seconds, logs: Path):
    """Start the annotators, start their clocks together once all are up, wait for them;
    return (specs, processes that died or were killed, seconds from start to last exit)."""
    ctx = mp.get_context("spawn")
    shared = Shared.make(ctx, budget_n)
    run_id = uuid.uuid4().hex[:6]
    specs = [
        AnnotatorSpec(
            db_url=settings.db_url,
            lease_ttl_seconds=settings.lease_ttl_seconds,
            project=project,
            name=f"stress{k}-{run_id}",
            log_path=str(logs / f"stress{k}-{run_id}.jsonl"),
            seconds=seconds,
        )
        for k in range(1, annotators + 1)
    ]
    procs = [ctx.Process(target=annotator_main, args=(spec, shared)) for spec in specs]
    for proc in procs:
        proc.start()
    up_by = time.time() + STARTUP_SECONDS
    while shared.ready.value < annotators and time.time() < up_by:
        if not any(p.is_alive() for p in procs):
            break
        time.sleep(0.05)
    started = time.time()
    shared.go.set()
    failed = 0
    for proc in procs:
        proc.join(max(0.0, started + seconds + GRACE_SECONDS - time.time()))
        if proc.is_alive():
            proc.kill()
            proc.join()
            failed += 1
        elif proc.exitcode != 0:
            failed += 1  # its exception is in its log too; count the process once more
    return specs, failed, time.time() - started


# --------------------------------------------------------------------------------------------
# The audit


def read_log(path: Path) -> list[dict[str, Any]]:
    """A log's events; a last line cut short by a kill is ignored."""
    events = []
    if not path.exists():
        return events
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def audit(store, project: str, logs: list[Path], overlap: int) -> dict[str, int]:
    """The figures of ``KEYS`` from the annotators' logs and the database."""

    from annotator.store import queries

    acked: dict[int, tuple[str, int]] = {}  # annotation id -> (annotator, item)
    errors = 0
    intervals: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
    double: set[int] = set()
    for path in logs:
        name = path.stem
        events = read_log(path)
        end = events[-1]["t"] if events else 0.0
        open_claims: dict[int, float] = {}
        claimed: set[int] = set()
        for ev in events:
            kind = ev["e"]
            if kind == "claim":
                if ev["item"] in claimed:
                    double.add(ev["item"])  # served twice to the same annotator
                claimed.add(ev["item"])
                open_claims[ev["item"]] = ev["t"]
            elif kind == "ack":
                acked[ev["annotation"]] = (name, ev["item"])
                start = open_claims.pop(ev["item"], None)
                if start is not None:
                    intervals[ev["item"]].append((start, ev["t"], name))
            elif kind == "error":
                errors += 1
        for item, start in open_claims.items():  # held until the process ended
            intervals[item].append((start, end, name))
    for item, spans in intervals.items():
        if _max_concurrent(spans) > overlap:
            double.add(item)
    with store.read() as s:
        p = queries.get_project(s, project)
        found = {}
        ids = list(acked)
        for start in range(0, len(ids), 5000):
            found.update(queries.annotators_and_items(s, p.id, ids[start : start + 5000]))
    by_item: dict[int, list[str]] = defaultdict(list)
    for annotator, item in found.values():
        by_item[item].append(annotator)
    for item, names in by_item.items():
        if len(names) != len(set(names)) or len(set(names)) > overlap:
            double.add(item)
    return {
        "acknowledged": len(acked),
        "in_db": len(found),
        "double_served": len(double),
        "lost": len(acked) - len(found),
        "errors": errors,
    }


def _max_concurrent(spans: list[tuple[float, float, str]]) -> int:
    """Most distinct annotators holding the item at one instant (ends before starts at a tie)."""
    points = sorted([(a, 1, n) for a, _, n in spans] + [(b, -1, n) for _, b, n in spans])
    holders: dict[str, int] = defaultdict(int)
    best = 0
    for _, step, name in points:
        holders[name] += step
        best = max(best, sum(1 for v in holders.values() if v > 0))
    return best


def print_result(result: dict[str, Any]) -> None:
    """The one line of JSON on stdout; the throughput on stderr."""
    print(json.dumps({k: result[k] for k in KEYS}), flush=True)
    print(
        f"protolabel stress: {result['acknowledged']} decisions in {result['seconds']} s "
        f"({result['per_second']}/s)",
        file=sys.stderr,
    )


def with_ttl(settings: Settings, seconds: float | None) -> Settings:
    return settings if seconds is None else replace(settings, lease_ttl_seconds=seconds)
