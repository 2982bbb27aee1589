"""Two runs of ``bench/label_efficiency.py`` compared seed by seed: AULC of B minus A per set,
arm and budget, with the paired t-test over seeds (the runs share their splits per seed).

    python bench/paired_diff.py bench/results/RUN_A bench/results/RUN_B [--budgets 50,200]
        [--json PATH]

Used to measure one switch (``--no-zero-shot`` against the default, say) on the same sets.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import ttest_rel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from label_efficiency import aulc_at  # noqa: E402


def load(folder: str) -> dict:
    return json.loads((Path(folder) / "suite.json").read_text())


def differences(a: dict, b: dict, budgets: list[int]) -> list[dict]:
    rows = []
    for variant in b["curves"]:
        for arm, runs_b in b["curves"][variant].items():
            runs_a = a["curves"].get(variant, {}).get(arm)
            if runs_a is None:
                continue
            for budget in budgets:
                xa = np.array([aulc_at(r, budget) for r in runs_a])
                xb = np.array([aulc_at(r, budget) for r in runs_b])
                same = np.allclose(xa, xb)
                p = None if same else float(ttest_rel(xb, xa).pvalue)
                rows.append({
                    "set": variant, "arm": arm, "budget": budget, "a": round(xa.mean(), 4),
                    "b": round(xb.mean(), 4), "b_minus_a": round(float((xb - xa).mean()), 4),
                    "p": None if p is None else round(p, 4), "seeds": len(xa),
                })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--budgets", default="50,200")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    budgets = [int(x) for x in args.budgets.split(",")]
    rows = differences(load(args.a), load(args.b), budgets)
    print(f"| set | arm | budget | A | B | B - A | paired p |  (A {args.a}, B {args.b})")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        p = "-" if r["p"] is None else f"{r['p']:.3f}"
        print(f"| {r['set']} | {r['arm']} | {r['budget']} | {r['a']:.3f} | {r['b']:.3f} "
              f"| {r['b_minus_a']:+.3f} | {p} |")  # fmt: skip
    if args.json:
        record = {"a": args.a, "b": args.b, "budgets": budgets, "rows": rows}
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
