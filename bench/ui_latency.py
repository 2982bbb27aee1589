"""Label page latency in a real browser (Debian Chromium + Playwright), not a timed test.

Starts a protolabel server on 127.0.0.1 with a fresh SQLite file (the digits demo), types
``--labels`` labels with the keyboard, ``--gap-ms`` apart (``--jitter-ms`` more at random),
starting as soon as the first item shows, and reports:

- key -> next item: from the keydown to the animation frame after the card shows the next
  item (median, p95), overall and for the presses made while a retrain ran (the card said
  "Retraining in the background");
- key -> committed: from the keydown to the server's acknowledgement of the event (the label
  is in the database), median and p95;
- labels per retrain: labels given during the run / model versions trained during it;
- the fast-typing check: ``--burst`` keys 50 ms apart must give that many labels on as many
  distinct items, in the order and with the values pressed.

    python bench/ui_latency.py [--data digits|text] [--labels 200] [--gap-ms 150]
                               [--jitter-ms 0] [--burst 20] [--json bench/results/ui_latency.json]

``--data text``: a project of 600 support e-mails of about 5 KB each (headers, then the body),
labels ``billing`` and ``support`` (keys 1 and 2), instead of the digits demo.

Targets (issues 12 and 19): key -> next median <= 50 ms and p95 <= 120 ms, retrains included,
for a 5 KB text as for a digit.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness import launch_chromium, open_label_page, start_server, stop_server  # noqa: E402

PROBE = """
(card) => {
  const host = card.getRootNode().host || card.parentNode;
  const root = card.getRootNode();
  const log = (window.__pl_log = { presses: [], acked: {} });
  const shown = () => root.querySelector("[data-testid=pl-item]")?.dataset.itemId ?? null;
  const retraining = () => !!root.querySelector(".pl-retrain");
  window.addEventListener("keydown", (ev) => {
    log.presses.push({ t: ev.timeStamp, from: shown(), retraining: retraining(), render: null, id: null });
  }, true);
  window.addEventListener("protolabel:event", (e) => {
    const p = log.presses[log.presses.length - 1];
    if (p && p.id === null) p.id = e.detail.id;
  });
  window.addEventListener("protolabel:acked", (e) => {
    for (const id of e.detail) if (!(id in log.acked)) log.acked[id] = performance.now();
  });
  let last = shown();
  new MutationObserver(() => {
    const now = shown();
    if (now !== last) {
      last = now;
      const p = log.presses[log.presses.length - 1];
      if (p && p.render === null && now !== null && now !== p.from) {
        requestAnimationFrame(() => { if (p.render === null) p.render = performance.now(); });
      }
    }
  }).observe(root, { childList: true, subtree: true, attributes: true });
}
"""


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def stats(values: list[float]) -> dict:
    return {
        "median": statistics.median(values) if values else None,
        "p95": percentile(values, 0.95) if values else None,
        "n": len(values),
    }


#: The keys pressed in turn and the label each gives, per data set.
KEYS = {
    "digits": {str(d): str(d) for d in range(10)},
    "text": {"1": "billing", "2": "support"},
}


def text_project(db: Path, folder: Path, n: int = 600) -> str:
    """A database holding ``n`` e-mails of about 5 KB (the ``emails`` project)."""
    import pandas as pd

    from annotator import services
    from annotator.config import Settings
    from annotator.store.db import Store

    rng = random.Random(0)
    words = [
        "invoice", "refund", "charge", "card", "payment", "account", "login", "password",
        "crash", "error", "update", "screen", "app", "help", "please", "thanks", "order",
        "shipping", "late", "broken", "sync",
    ]  # fmt: skip
    rows = []
    for i in range(n):
        body = " ".join(rng.choice(words) for _ in range(800))  # ~5 KB
        mail = (f"From: customer{i}@example.com\nTo: help@example.com\nDate: Mon, 1 Dec 2026\n"
                f"Subject: ticket {i}\n\nHello,\n\n{body}\n\nThanks")  # fmt: skip
        rows.append({"id": f"t{i}", "text": mail, "label": rng.choice(["billing", "support"])})
    path = folder / "emails.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    store = Store.open(Settings.from_env(str(db)))
    services.import_path(store, path, "emails", services.ImportOptions())
    store.dispose()
    return "emails"


def type_labels(page, keys: list[str], n: int, gap_ms: int, jitter_ms: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(n):
        page.keyboard.press(keys[i % len(keys)])
        page.wait_for_timeout(gap_ms + (rng.randint(0, jitter_ms) if jitter_ms else 0))


def wait_all_saved(page, timeout_ms: int = 120_000) -> None:
    """Until the card holds no unacknowledged press."""
    from playwright.sync_api import expect

    expect(page.locator("[data-testid=pl-card]")).to_have_attribute(
        "data-pending", "0", timeout=timeout_ms
    )


def burst_check(page, db: Path, n: int, before: int, keymap: dict[str, str]) -> dict:
    keys = [list(keymap)[i % len(keymap)] for i in range(n)]
    for key in keys:
        page.keyboard.press(key)
        page.wait_for_timeout(50)
    deadline = time.monotonic() + 60
    rows: list = []
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT item_id, label FROM annotations WHERE id > ? ORDER BY id", (before,)
            ).fetchall()
        if len(rows) >= n:
            break
        time.sleep(0.2)
    return {
        "pressed": n,
        "labels": len(rows),
        "distinct_items": len({r[0] for r in rows}),
        "in_order_with_values": [r[1] for r in rows] == [keymap[k] for k in keys],
    }


def summarise(log: dict) -> dict:
    presses = log["presses"]
    render = [p["render"] - p["t"] for p in presses if p["render"] is not None]
    during = [p["render"] - p["t"] for p in presses if p["render"] is not None and p["retraining"]]
    commit = [log["acked"][p["id"]] - p["t"] for p in presses if p["id"] in log["acked"]]
    return {
        "key_to_next_ms": stats(render),
        "key_to_next_during_retrain_ms": stats(during),
        "key_to_committed_ms": stats(commit),
        "presses": len(presses),
        "presses_without_next_item": sum(p["render"] is None for p in presses),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", choices=list(KEYS), default="digits")
    ap.add_argument("--labels", type=int, default=200)
    ap.add_argument("--gap-ms", type=int, default=150, help="pause between key presses")
    ap.add_argument("--jitter-ms", type=int, default=0, help="up to this much more, at random")
    ap.add_argument("--burst", type=int, default=20, help="keys pressed 50 ms apart (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="protolabel-ui-bench-"))
    path = "/label"
    if args.data == "text":
        path = f"/label?project={text_project(tmp / 'bench.db', tmp)}"
    keymap = KEYS[args.data]
    server = start_server(tmp / "bench.db", tmp / "server.log")
    try:
        with sync_playwright() as p:
            ctx = launch_chromium(p, tmp / "profile")
            page = ctx.new_page()
            open_label_page(page, server.url, click=False, path=path)
            page.locator("[data-testid=pl-card]").evaluate(PROBE)
            t0 = time.time()
            type_labels(page, list(keymap), args.labels, args.gap_ms, args.jitter_ms, args.seed)
            wait_all_saved(page)
            seconds = time.time() - t0
            log = page.evaluate("window.__pl_log")
            with sqlite3.connect(server.db) as conn:
                before = conn.execute("SELECT max(id) FROM annotations").fetchone()[0] or 0
                models = conn.execute(
                    "SELECT version, n_labels, train_seconds FROM model_versions ORDER BY version"
                ).fetchall()
                rounds = [
                    r[0]
                    for r in conn.execute(
                        "SELECT batch_size FROM rounds WHERE completed_at IS NOT NULL"
                    )
                ]
            burst = burst_check(page, server.db, args.burst, before, keymap) if args.burst else None
            ctx.close()
    finally:
        stop_server(server)

    result = {
        "data": args.data,
        "labels": args.labels,
        "gap_ms": args.gap_ms,
        "jitter_ms": args.jitter_ms,
        "seconds": round(seconds, 1),
        **summarise(log),
        "retrains": [{"version": v, "labels": n, "seconds": s} for v, n, s in models],
        "labels_per_retrain": round(before / len(models), 2) if models else None,
        "completed_round_sizes": sorted(set(rounds)),
        "burst": burst,
        "targets_ms": {"key_to_next_median": 50, "key_to_next_p95": 120},
        "load_average": os.getloadavg(),
    }
    print(f"{'metric':<40}{'median':>10}{'p95':>10}{'n':>6}")
    for name, key in (
        ("key -> next item (ms)", "key_to_next_ms"),
        ("key -> next item, retrain running (ms)", "key_to_next_during_retrain_ms"),
        ("key -> committed (ms)", "key_to_committed_ms"),
    ):
        r = result[key]
        med = f"{r['median']:.1f}" if r["median"] is not None else "-"
        p95 = f"{r['p95']:.1f}" if r["p95"] is not None else "-"
        print(f"{name:<40}{med:>10}{p95:>10}{r['n']:>6}")
    print(
        f"{before} labels in {result['seconds']} s, {len(models)} retrains: "
        f"{result['labels_per_retrain']} labels per retrain; completed rounds of "
        f"{result['completed_round_sizes']}; presses with no next item: "
        f"{result['presses_without_next_item']}"
    )
    if burst:
        print(
            f"burst: {burst['pressed']} keys 50 ms apart -> {burst['labels']} labels on "
            f"{burst['distinct_items']} items, order and values kept: {burst['in_order_with_values']}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
