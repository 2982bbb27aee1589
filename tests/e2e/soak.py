"""A scripted person at the Label page, and the audit of what the database then holds.

Used by ``tests/e2e/test_soak_browser.py`` (CI, about 150 presses) and ``bench/soak_bench.py``
(1,000 and more). The person types a name, starts pressing within 100 ms of the first item,
waits 0 to 800 ms between presses, skips and undoes now and then, reloads the page once and
labels in a second tab for a while, and keeps pressing while retrains land.

A probe in every page records, at each key press and before the card sees it, which item was
on screen, and then the event the card sent for it (``protolabel:event``); a mutation
observer counts items that changed on screen without a key press. ``audit`` compares that
log with the ``annotations`` table: each label or skip press must be exactly one decision on
the item that was on screen, in order; each undo must have withdrawn its target; nothing
else may be written.
"""

from __future__ import annotations

import random
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

# Runs before any page script (context.add_init_script). Keydown on window in the capture
# phase fires before the card's own listener on document.
PROBE = """
(() => {
  const log = (window.__pl_soak = { presses: [], swaps: 0, changes: 0 });
  let host = null;
  const item = () => {
    if (!host || !host.isConnected) {
      host = null;
      for (const el of document.querySelectorAll("*")) {
        if (el.shadowRoot && el.shadowRoot.querySelector("[data-testid=pl-card]")) { host = el; break; }
      }
    }
    const node = host && host.shadowRoot.querySelector("[data-testid=pl-item]");
    return node ? Number(node.dataset.itemId) : null;
  };
  let keyed = false;
  let last = null;
  window.addEventListener("keydown", (ev) => {
    keyed = true;
    log.presses.push({ key: ev.key, shown: item(), t: performance.now(), event: null });
  }, true);
  window.addEventListener("protolabel:event", (ev) => {
    const press = log.presses[log.presses.length - 1];
    if (press && press.event === null) press.event = ev.detail;
  });
  const watch = () => {
    const now = item();
    if (now !== last) {
      log.changes += 1;
      if (last !== null && now !== null && !keyed) log.swaps += 1;
      last = now;
    }
    keyed = false;
  };
  new MutationObserver(watch).observe(document, { childList: true, subtree: true });
  setInterval(watch, 50);
})();
"""

LABEL_KEYS = "0123456789"


@dataclass
class Soak:
    """What the scripted person did: the probe's logs, one per page load."""

    logs: list[dict] = field(default_factory=list)
    first_press_ms: list[float] = field(default_factory=list)  # first item shown -> first key

    @property
    def presses(self) -> list[dict]:
        return [p for log in self.logs for p in log["presses"]]


def _first_item(page, timeout_ms: int = 90_000) -> float:
    """Wait until the card shows an item; return the time (ms) from then to the next press."""
    page.wait_for_selector("[data-testid=pl-item]", timeout=timeout_ms)
    return time.monotonic()


def _collect(page, soak: Soak) -> None:
    soak.logs.append(page.evaluate("window.__pl_soak"))


def _press(page, rng: random.Random, undo_rate: float, skip_rate: float) -> None:
    roll = rng.random()
    if roll < undo_rate:
        key = "z"
    elif roll < undo_rate + skip_rate:
        key = "s"
    else:
        key = rng.choice(LABEL_KEYS)
    page.keyboard.press(key)


def _type_for(page, n: int, rng: random.Random, gaps_ms: tuple[int, int], rates) -> None:
    for _ in range(n):
        _press(page, rng, *rates)
        page.wait_for_timeout(rng.randint(*gaps_ms))


def wait_saved(page, timeout_ms: int = 120_000) -> None:
    from playwright.sync_api import expect

    expect(page.locator("[data-testid=pl-card]")).to_have_attribute(
        "data-pending", "0", timeout=timeout_ms
    )


def run(
    context,
    url: str,
    presses: int,
    *,
    seed: int = 0,
    name: str = "alice",
    gaps_ms: tuple[int, int] = (0, 800),
    undo_rate: float = 0.06,
    skip_rate: float = 0.08,
    second_tab: int = 20,
) -> Soak:
    """Press ``presses`` times: a reload at one third, ``second_tab`` presses in a second tab
    at two thirds. Returns the probe logs; leaves both pages open."""
    from tests.e2e.harness import enter_name

    rng = random.Random(seed)
    rates = (undo_rate, skip_rate)
    soak = Soak()
    context.add_init_script(PROBE)
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(url + "/label")
    enter_name(page, name)
    shown_at = _first_item(page)
    page.wait_for_timeout(rng.randint(0, 100))  # a hurried person: no click, no pause
    soak.first_press_ms.append((time.monotonic() - shown_at) * 1000)
    third = presses // 3
    _type_for(page, third, rng, gaps_ms, rates)
    _collect(page, soak)
    page.reload()  # mid-typing: unsaved presses come back from localStorage
    shown_at = _first_item(page)
    soak.first_press_ms.append((time.monotonic() - shown_at) * 1000)
    _type_for(page, third, rng, gaps_ms, rates)
    other = context.new_page()  # the same person in a second tab (the name is remembered)
    other.goto(url + "/label")
    shown_at = _first_item(other)
    soak.first_press_ms.append((time.monotonic() - shown_at) * 1000)
    _type_for(other, second_tab, rng, gaps_ms, rates)
    page.bring_to_front()
    _type_for(page, presses - 2 * third - second_tab, rng, gaps_ms, rates)
    for tab in (page, other):
        wait_saved(tab)
    _collect(page, soak)
    _collect(other, soak)
    return soak


@dataclass
class Audit:
    presses: int
    accepted: int  # label, skip or undo presses that produced an event
    ignored: int  # pressed with no item on screen (the card showed it and did nothing)
    stored: int  # annotations in the database
    mismatches: list[str]
    swaps: int  # items that changed on screen without a key press
    undone: int
    models: int
    stale: int  # decisions on items chosen while a retrain was pending or by an older model
    rounds: list[int]  # sizes of the completed rounds

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.swaps == 0


def audit(db: Path, soak: Soak) -> Audit:
    """Compare what the person pressed with what the database holds."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id, item_id, label, annotator, client_event, undone_at IS NOT NULL, stale"
            " FROM annotations ORDER BY id"
        ).fetchall()
        models = conn.execute("SELECT count(*) FROM model_versions").fetchone()[0]
        rounds = [
            r[0]
            for r in conn.execute(
                "SELECT batch_size FROM rounds WHERE completed_at IS NOT NULL ORDER BY number"
            )
        ]
    by_event = {r[4]: r for r in rows}
    problems: list[str] = []
    decisions = 0
    undos = 0
    ignored = 0
    accepted = 0
    for press in soak.presses:
        event = press["event"]
        if event is None:
            if press["key"] != "z":  # undo with nothing to undo is a no-op too
                ignored += 1
                if press["shown"] is not None:
                    problems.append(f"key {press['key']!r} on item {press['shown']} made no event")
            continue
        accepted += 1
        if event["type"] == "undo":
            undos += 1
            target = by_event.get(event["target"])
            if target is None or not target[5] or target[1] != event["item"]:
                problems.append(f"undo {event['id']} did not withdraw {event['target']}")
            continue
        decisions += 1
        row = by_event.get(event["id"])
        label = None if press["key"] == "s" else press["key"]
        if event["item"] != press["shown"]:
            problems.append(f"event {event['id']} on {event['item']}, screen {press['shown']}")
        if row is None:
            problems.append(f"press {event['id']} ({press['key']}) is not in the database")
        elif (row[1], row[2], row[3]) != (press["shown"], label, "alice"):
            problems.append(f"press {event['id']}: stored {row[1:4]}, pressed {press['shown']}")
    if len(rows) != decisions:
        problems.append(f"{len(rows)} decisions stored for {decisions} accepted presses")
    if sum(r[5] for r in rows) != undos:
        problems.append(f"{sum(r[5] for r in rows)} decisions undone for {undos} undos")
    # in order: each page load's decisions were stored in the order pressed
    for log in soak.logs:
        ids = [
            p["event"]["id"] for p in log["presses"] if p["event"] and p["event"]["type"] != "undo"
        ]
        stored_order = [by_event[i][0] for i in ids if i in by_event]
        if stored_order != sorted(stored_order):
            problems.append("decisions of one page were stored out of order")
    return Audit(
        presses=len(soak.presses), accepted=accepted, ignored=ignored, stored=len(rows),
        mismatches=problems, swaps=sum(log["swaps"] for log in soak.logs), undone=undos,
        models=models, stale=sum(r[6] for r in rows), rounds=rounds,
    )  # fmt: skip
