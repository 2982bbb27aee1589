"""What the cold start's sample costs in label efficiency (issue #16): on Fashion-MNIST's 60,000
training items, a new project's default strategy (``auto``, whose cold start is TypiClust on a
sample of at most ``max_points`` pool items) against the same strategy on the whole pool.

Protocol of ``protolabel simulate --init-size 0`` (the app's own cold start from no label),
batch 10, budget 100, test 500 (drawn from the 60,000 per seed), the pixels featurizer (the
default for images), 10 seeds; the two arms see the same splits. The items are the Debian
``dataset-fashion-mnist`` train split (see bench/suite_data.py), as PNGs read by the app's
featurizer.

    python bench/coldstart_sample.py [--seeds 10] [--budget 100] [--jobs 2] [--json FILE]

Prints a table (AULC per arm, the paired difference and its p-value) and writes the JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

ARMS = {
    "sample (default)": "auto",
    "whole pool": 'auto:cold_params={"max_points":null}',
}


def fashion_data():
    """The 60,000 training items as an image ``ImportedData`` (PNG bytes, labels)."""
    import suite_data
    from PIL import Image

    from annotator.io.dataset import ImportedData

    table = suite_data.SETS["fashion"].load()
    images = []
    for image in table["image"]:
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(buffer, format="PNG")
        images.append(buffer.getvalue())
    ids = [f"fashion-{i:05d}" for i in range(len(table))]
    return ImportedData(
        kind="image", source="fashion-mnist-train", ids=ids, images=images,
        image_paths=[f"{i}.png" for i in ids], labels=list(table["label"]),
    )  # fmt: skip


def _run(args: tuple) -> list[dict]:
    """Both arms on one seed's split (featurized once)."""
    seed, budget = args
    import torch

    from annotator import simulation

    torch.set_num_threads(1)
    data = fashion_data()
    config = simulation.SimulationConfig(
        data="fashion-mnist-train", strategies=tuple(ARMS.values()), seeds=1, init_size=0,
        batch=10, budget=budget, test_size=500, features="pixels",
    )  # fmt: skip
    split = simulation.prepare_seed(data, "pixels", 500, seed)
    runs = []
    for arm, strategy in ARMS.items():
        start = time.perf_counter()
        run = simulation.simulate_run(split, strategy, config)
        run |= {"arm": arm, "seconds": round(time.perf_counter() - start, 1)}
        runs.append(run)
    return runs


def main(argv: list[str] | None = None) -> int:
    from annotator import simulation

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, default=ROOT / "bench/results/coldstart_sample.json")
    args = ap.parse_args(argv)
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = [
            r for rs in pool.map(_run, [(s, args.budget) for s in range(args.seeds)]) for r in rs
        ]
    aulc = {arm: [simulation.aulc(r["accuracy"]) for r in runs if r["arm"] == arm] for arm in ARMS}
    seconds = {arm: [r["seconds"] for r in runs if r["arm"] == arm] for arm in ARMS}
    sample, whole = aulc["sample (default)"], aulc["whole pool"]
    diff = float(np.mean(np.subtract(sample, whole)))
    result = {
        "set": "fashion-mnist train (60,000), pixels", "budget": args.budget, "seeds": args.seeds,
        "protocol": "init-size 0, batch 10, test 500, strategy auto",
        "arms": {arm: {"strategy": ARMS[arm], "aulc_mean": float(np.mean(v)),
                       "aulc_std": float(np.std(v)), "aulc": v,
                       "seconds_mean": float(np.mean(seconds[arm]))} for arm, v in aulc.items()},
        "sample_minus_whole": diff,
        "p_value": simulation.paired_p_value(sample, whole),
        "target": "|sample - whole| <= 0.01", "met": bool(abs(diff) <= 0.01),
        "load_average": os.getloadavg(),
    }  # fmt: skip
    print(f"{'arm':<18} {'AULC':>7} {'std':>6} {'s/run':>6}")
    for arm, row in result["arms"].items():
        print(
            f"{arm:<18} {row['aulc_mean']:7.3f} {row['aulc_std']:6.3f} {row['seconds_mean']:6.0f}"
        )
    print(f"sample - whole: {diff:+.4f} (p = {result['p_value']})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
