"""Label page latency in a real browser (Debian Chromium + Playwright), not a timed test.

Starts a protolabel server on 127.0.0.1 with a fresh SQLite file (the digits demo), types
``--labels`` labels with the keyboard ``--gap-ms`` apart, and reports:

- key -> next item rendered: from the keydown event to the animation frame after the card
  shows another item (median, p95), overall and for presses made while a retrain ran;
- key -> committed: from the keydown to the server's acknowledgement of the event (the label
  is in the database), median and p95;
- retrain seconds of each round (from the database) and whether labelling went on meanwhile;
- the fast-typing check: ``--burst`` keys 50 ms apart must give that many labels on as many
  distinct items, in the order and with the values pressed.

    python bench/ui_latency.py [--labels 50] [--gap-ms 150] [--burst 20] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
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
  const host = card.parentNode;
  const log = (window.__pl_log = { keys: [], renders: [], sent: {}, acked: {} });
  window.addEventListener("keydown", () => log.keys.push(performance.now()), true);
  window.addEventListener("protolabel:event", (e) => { log.sent[e.detail.id] = performance.now(); });
  window.addEventListener("protolabel:acked", (e) => {
    for (const id of e.detail) log.acked[id] = performance.now();
  });
  const seen = () => host.querySelector("[data-testid=pl-item]")?.dataset.itemId ?? null;
  let last = seen();
  new MutationObserver(() => {
    const now = seen();
    if (now !== last) {
      last = now;
      requestAnimationFrame(() => log.renders.push(performance.now()));
    }
  }).observe(host, { childList: true, subtree: true, attributes: true });
}
"""


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def ack_latencies(sent: dict[str, float], acked: dict[str, float]) -> list[float]:
    """For each event, from its key press to the server's acknowledgement (committed)."""
    return [acked[i] - t for i, t in sent.items() if i in acked]


def type_labels(page, n: int, gap_ms: int) -> list[float]:
    wall = []
    for i in range(n):
        page.keyboard.press(str(i % 10))
        wall.append(time.time())
        page.wait_for_timeout(gap_ms)
    return wall


def wait_all_saved(page, timeout_ms: int = 60_000) -> None:
    """Until the card says every press is committed."""
    from playwright.sync_api import expect

    expect(page.locator("[data-testid=pl-saved]")).to_have_text(" · all saved", timeout=timeout_ms)


def burst_check(page, db: Path, n: int, before: int) -> dict:
    keys = "".join(str(i % 10) for i in range(n))
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
    got = "".join(r[1] or "" for r in rows)
    return {
        "pressed": n,
        "labels": len(rows),
        "distinct_items": len({r[0] for r in rows}),
        "in_order_with_values": got == keys,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", type=int, default=50)
    ap.add_argument("--gap-ms", type=int, default=150, help="pause between key presses")
    ap.add_argument("--burst", type=int, default=20, help="keys pressed 50 ms apart (0: skip)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="protolabel-ui-bench-"))
    server = start_server(tmp / "bench.db", tmp / "server.log")
    try:
        with sync_playwright() as p:
            ctx = launch_chromium(p, tmp / "profile")
            page = ctx.new_page()
            open_label_page(page, server.url)
            page.locator("[data-testid=pl-card]").evaluate(PROBE)
            type_labels(page, args.labels, args.gap_ms)
            wait_all_saved(page)
            log = page.evaluate("window.__pl_log")
            with sqlite3.connect(server.db) as conn:
                before = conn.execute("SELECT max(id) FROM annotations").fetchone()[0] or 0
            burst = burst_check(page, server.db, args.burst, before) if args.burst else None
            ctx.close()
        with sqlite3.connect(server.db) as conn:
            models = conn.execute(
                "SELECT version, n_labels, train_seconds FROM model_versions ORDER BY version"
            ).fetchall()
    finally:
        stop_server(server)

    keys, renders = log["keys"], log["renders"]
    render_lat = [next((r - k for r in renders if r >= k), float("nan")) for k in keys]
    render_lat = [x for x in render_lat if x == x]
    ack_lat = ack_latencies(log["sent"], log["acked"])
    result = {
        "labels": args.labels,
        "gap_ms": args.gap_ms,
        "render_ms": {
            "median": statistics.median(render_lat),
            "p95": percentile(render_lat, 0.95),
            "n": len(render_lat),
        },
        "commit_ms": {
            "median": statistics.median(ack_lat) if ack_lat else None,
            "p95": percentile(ack_lat, 0.95),
            "n": len(ack_lat),
        },
        "retrains": [{"version": v, "labels": n, "seconds": s} for v, n, s in models],
        "burst": burst,
        "target_render_median_ms": 60,
    }
    print(f"{'metric':<34}{'median':>10}{'p95':>10}{'n':>6}")
    for name, key in (
        ("key -> next item rendered (ms)", "render_ms"),
        ("key -> label committed (ms)", "commit_ms"),
    ):
        r = result[key]
        med = f"{r['median']:.1f}" if r["median"] is not None else "-"
        print(f"{name:<34}{med:>10}{r['p95']:>10.1f}{r['n']:>6}")
    for m in result["retrains"]:
        print(
            f"retrain v{m['version']}: {m['labels']} labels, {m['seconds']:.2f} s (labelling went on)"
        )
    if burst:
        print(
            f"burst: {burst['pressed']} keys 50 ms apart -> {burst['labels']} labels on "
            f"{burst['distinct_items']} items, order and values kept: {burst['in_order_with_values']}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
