"""Large pools on one machine (issue #16): import, storage, first item, retrain, planning and
export, through the functions the app uses, at several pool sizes and dimensions.

Each (items, dims) point runs in a fresh process (its peak memory is its own) on a fresh
SQLite database: Gaussian blobs of 10 classes as float32 ``.npz``, imported with
``services.import_path``; the first item is ``session.claim_next`` on the new project (the
cold start plans inline, as a new tab's first item does); 200 labels are given with
``session.submit`` from the ground truth; then one retrain (``session.train``), one round
planned with the new model (``session.plan_round``) and the export of every item with
predictions (``services.export_project``, CSV).

    python bench/scale_bench.py [--sizes 10000,100000] [--dims 64] [--json FILE]

Prints a table and, with ``--json``, writes the figures (the ratios a target needs, such as
storage / feature bytes, are in each row). Not a test: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LABELS = 200
COLUMNS = ("items", "dims", "import_s", "peak_import_mb", "storage_mb", "features_mb",
           "first_item_s", "retrain_s", "plan_s", "export_all_s")  # fmt: skip


def _blobs(path: Path, n: int, dims: int, seed: int = 0) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(10, dims)).astype(np.float32)
    y = rng.integers(0, 10, size=n)
    X = centres[y] + rng.normal(size=(n, dims)).astype(np.float32)
    np.savez(path, X=X, y=np.array([f"c{k}" for k in range(10)])[y])


def _size_mb(paths: list[Path]) -> float:
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total / 2**20


def measure(n: int, dims: int, folder: Path) -> dict:
    """One point, in this process (called by the worker subprocess)."""
    # torch (meta) and the strategies load before any timing, as the app's server loads them
    # while its first page renders
    import meta  # noqa: F401
    import strategies  # noqa: F401
    from annotator import services, session
    from annotator.config import Settings
    from annotator.store.db import Store
    from annotator.store.models import Item

    data = folder / "pool.npz"
    _blobs(data, n, dims)
    db = folder / "scale.db"
    store = Store.open(Settings(db_url=f"sqlite:///{db}"))
    row: dict = {"items": n, "dims": dims}
    start = time.perf_counter()
    services.import_path(store, data, "scale", services.ImportOptions())
    row["import_s"] = round(time.perf_counter() - start, 2)
    row["peak_import_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    row["storage_mb"] = round(_size_mb([db, db.with_name(db.name + "-wal"),
                                        db.with_name(db.name + ".features")]), 1)  # fmt: skip
    row["features_mb"] = round(n * dims * 4 / 2**20, 1)
    row["storage_over_features"] = round(row["storage_mb"] / row["features_mb"], 2)
    session.configure(store, "scale", batch_size=LABELS)
    start = time.perf_counter()
    first = session.claim_next(store, "scale", "bench", n=1)
    row["first_item_s"] = round(time.perf_counter() - start, 2)
    items = session.claim_next(store, "scale", "bench", n=LABELS, plan=True)
    with store.read() as s:
        truth = {i.id: i.ground_truth for i in s.query(Item).filter(Item.id.in_(
            [it.item_id for it in items]))}  # fmt: skip
    for it in items[:LABELS]:
        session.submit(store, "scale", it.item_id, truth[it.item_id], annotator="bench",
                       owner="bench")  # fmt: skip
    start = time.perf_counter()
    session.train(store, "scale")
    row["retrain_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    session.plan_round(store, "scale")
    row["plan_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    services.export_project(store, "scale", "csv", folder / "all.csv", include_all=True)
    row["export_all_s"] = round(time.perf_counter() - start, 2)
    row["labels"] = len(items[:LABELS]) if first else 0
    store.dispose()
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="pool sizes, comma-separated")
    ap.add_argument("--dims", default="64", help="feature dimensions, comma-separated")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", nargs=3, metavar=("N", "DIMS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        n, dims, out = int(args.worker[0]), int(args.worker[1]), Path(args.worker[2])
        with tempfile.TemporaryDirectory(prefix="protolabel-scale-") as tmp:
            out.write_text(json.dumps(measure(n, dims, Path(tmp))))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="protolabel-scale-out-") as tmp:
        for dims in (int(d) for d in args.dims.split(",")):
            for n in (int(s) for s in args.sizes.split(",")):
                out = Path(tmp) / f"{n}-{dims}.json"
                subprocess.run([sys.executable, __file__, "--worker", str(n), str(dims), str(out)],
                               check=True, cwd=ROOT)  # fmt: skip
                rows.append(json.loads(out.read_text()))
                print(json.dumps(rows[-1]), file=sys.stderr)
    print("  ".join(f"{c:>14}" for c in COLUMNS))
    for row in rows:
        print("  ".join(f"{row[c]!s:>14}" for c in COLUMNS))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "load_average": os.getloadavg()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
