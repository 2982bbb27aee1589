"""The Label page soak, long: a scripted person presses 1,000+ times in Chromium (not a test).

The same person and audit as ``tests/e2e/test_soak_browser.py`` (see ``tests/e2e/soak.py``):
a name, then presses starting within 100 ms of the first item, 0-800 ms apart, with skips and
undos, a reload at one third and a second tab at two thirds, retrains landing throughout, on a
fresh SQLite database with the digits demo. Prints a table and writes JSON:

- presses, accepted (an event was sent), ignored (no item on screen: shown and ignored),
  stored decisions, mismatches (a press not stored once on the item on screen, in order, or
  anything else written), items swapped on screen without a key press;
- retrains, labels per retrain, decisions marked stale, sizes of the completed rounds.

    python bench/soak_bench.py [--presses 1000] [--runs 1] [--seed 0]
                               [--json bench/results/soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e import soak  # noqa: E402
from tests.e2e.harness import launch_chromium, start_server, stop_server  # noqa: E402


def one_run(presses: int, seed: int) -> dict:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="protolabel-soak-"))
    server = start_server(tmp / "soak.db", tmp / "server.log")
    t0 = time.time()
    try:
        with sync_playwright() as p:
            context = launch_chromium(p, tmp / "profile")
            try:
                run = soak.run(context, server.url, presses, seed=seed, second_tab=presses // 10)
            finally:
                context.close()
    finally:
        stop_server(server)
    result = soak.audit(server.db, run)
    stored = result.stored
    return {
        "seed": seed,
        "seconds": round(time.time() - t0, 1),
        "presses": result.presses,
        "accepted": result.accepted,
        "ignored": result.ignored,
        "stored": stored,
        "undone": result.undone,
        "mismatches": len(result.mismatches),
        "mismatch_examples": result.mismatches[:5],
        "swaps": result.swaps,
        "retrains": result.models,
        "labels_per_retrain": round(stored / result.models, 2) if result.models else None,
        "stale_decisions": result.stale,
        "completed_round_sizes": dict(Counter(result.rounds)),
        "first_press_ms": [round(x) for x in run.first_press_ms],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presses", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    runs = [one_run(args.presses, args.seed + i) for i in range(args.runs)]
    cols = ("seed", "presses", "accepted", "ignored", "stored", "undone", "mismatches", "swaps",
            "retrains", "labels_per_retrain", "stale_decisions", "seconds")  # fmt: skip
    print("".join(f"{c:>19}" for c in cols))
    for r in runs:
        print("".join(f"{r[c]!s:>19}" for c in cols))
    for r in runs:
        print(f"seed {r['seed']}: completed rounds by size {r['completed_round_sizes']}")
        for example in r["mismatch_examples"]:
            print("  mismatch:", example)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs, "load_average": os.getloadavg()}, indent=2))
    return 0 if all(r["mismatches"] == 0 and r["swaps"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
