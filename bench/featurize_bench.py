"""What a featurizer costs at import (issue 18): items per second, per featurizer and data kind.

    python bench/featurize_bench.py [--sets fine_foods,foldoc,austen,fashion,letters]
        [--items 1000] [--device cpu|cuda] [--json PATH]

Data: the suite's sets (``bench/suite_data.py``, their small variants), read with the app's
importer, as an import reads them. For each set and each featurizer that applies to its kind,
one timed fit + transform of ``--items`` items spread over the file (the models are loaded and warmed on
a few items beforehand, so ``items_per_s`` is the steady rate a long import sees; the one-off
load is reported apart as ``load_s``). The cheap featurizer of each kind (tfidf for text, pixels
for images), measured in the same run, is the baseline: ``x_baseline`` is how many times slower
a featurizer is than it. ``minutes_per_100k`` is 100,000 items at the measured rate: the figure
behind ``--embed-limit`` at import.

Prints a table and writes JSON (default ``bench/results/featurize_bench.json``; a GPU run
names its own, e.g. ``--json bench/results/featurize_bench_gpu.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import suite_data  # noqa: E402

from annotator.io import read_input  # noqa: E402
from annotator.io.featurizers import VALID, featurizer_available, make_featurizer  # noqa: E402

DEFAULT_SETS = ("fine_foods", "foldoc", "austen", "wordnet", "fashion", "letters")
BASELINE = {"text": "tfidf", "image": "pixels"}
WARM_ITEMS = 8


def measure(data, name: str, device: str | None) -> dict:
    """Load (and warm) the featurizer, then time one fit + transform of ``data``."""
    opts = {"device": device} if device and name not in ("tfidf", "pixels") else {}
    start = time.perf_counter()
    make_featurizer(name, **opts).fit_transform(data.take(range(WARM_ITEMS)), progress=False)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    matrix = make_featurizer(name, **opts).fit_transform(data, progress=False)
    seconds = time.perf_counter() - start
    rate = len(data) / seconds
    return {
        "featurizer": name,
        "items": len(data),
        "dim": int(matrix.shape[1]),
        "seconds": round(seconds, 3),
        "load_s": round(load_s, 3),
        "items_per_s": round(rate, 1),
        "minutes_per_100k": round(100_000 / rate / 60, 1),
    }


def spread(n: int, k: int) -> list[int]:
    """``k`` row numbers spread evenly over ``n`` rows (files are often sorted by class)."""
    return sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(min(n, k))})


def bench_set(name: str, items: int, device: str | None) -> list[dict]:
    variant = suite_data.variants(name)[0]
    suite_data.build(variant)
    data = read_input(str(variant.path), **variant.import_args)
    data = data.take(spread(len(data), items))
    lengths = [len(t) for t in data.texts] if data.kind == "text" else None
    rows = []
    for featurizer in VALID[data.kind]:
        if not featurizer_available(featurizer):
            print(f"{name}: {featurizer} skipped (extra not installed)", file=sys.stderr)
            continue
        row = {"set": variant.name, "kind": data.kind, **measure(data, featurizer, device)}
        if lengths:
            row["mean_chars"] = round(sum(lengths) / len(lengths))
        rows.append(row)
        print(f"{name}: {featurizer} {row['items_per_s']} items/s", file=sys.stderr)
    base = next((r for r in rows if r["featurizer"] == BASELINE[data.kind]), None)
    for row in rows:
        if base is not None:
            row["x_baseline"] = round(base["items_per_s"] / row["items_per_s"], 1)
    return rows


def table(rows: list[dict]) -> str:
    head = "| set | featurizer | dim | items | items/s | min per 100k | x baseline | load s |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['featurizer']} | {r['dim']} | {r['items']} | {r['items_per_s']} "
            f"| {r['minutes_per_100k']} | {r.get('x_baseline', '')} | {r['load_s']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(DEFAULT_SETS))
    parser.add_argument("--items", type=int, default=1000, help="items timed per set")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--json", default="bench/results/featurize_bench.json")
    args = parser.parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    rows = [r for name in args.sets.split(",") for r in bench_set(name, args.items, device)]
    print(table(rows))
    record = {
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "rows": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
