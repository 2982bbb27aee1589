"""Large pools on one machine (issue #16): import, storage, first item, retrain, planning and
export, through the functions the app uses, at several pool sizes and dimensions.

Each (items, dims) point runs in a fresh process (its peak memory is its own) on a fresh
SQLite database: Gaussian blobs of 10 classes as float32 ``.npz``, imported with
``services.import_path``; the first item is ``loop.claim_next`` on the new project with its
default settings (the cold start plans inline, as a new tab's first item does); 200 labels are
given with ``loop.submit`` from the ground truth; then one retrain (``training.train``), one
round planned with the new model (``loop.plan_round``) against the model's bare
``predict_proba`` over the pool, the export of every item with predictions
(``services.export_project``, CSV) and ``protolabel stress --annotators 1 --items 10`` as a
fresh process.

    python bench/scale_bench.py [--sizes 10000,100000] [--dims 64] [--pg URL] [--json FILE]

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
           "first_item_s", "retrain_s", "plan_s", "predict_proba_s", "export_parquet_s",
           "export_csv_s", "stress_s")  # fmt: skip
PG_COLUMNS = ("pg_import_s", "pg_db_mb", "pg_local_copy_mb")


def _blobs(path: Path, n: int, dims: int, seed: int = 0) -> None:
    """Gaussian blobs as float32 .npz, made in float32 chunks (called in its own process, so
    making the data never counts in the import's peak memory)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(10, dims)).astype(np.float32)
    y = rng.integers(0, 10, size=n)
    X = np.empty((n, dims), dtype=np.float32)
    for start in range(0, n, 100_000):
        part = slice(start, min(start + 100_000, n))
        X[part] = centres[y[part]] + rng.standard_normal((part.stop - start, dims), np.float32)
    np.savez(path, X=X, y=np.array([f"c{k}" for k in range(10)])[y])


def _size_mb(paths: list[Path]) -> float:
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total / 2**20


def _bare_predict_proba(store) -> float:
    """Seconds for the newest model's ``predict_proba`` over the unlabelled pool, in the
    blocks the strategies use: the floor a planned round is measured against."""
    import numpy as np

    from annotator import loop
    from meta import ProtoNetClassifier
    from strategies.view import BATCH_ROWS

    inputs = loop.selection_inputs(store, "scale")
    features, pool = inputs.features, inputs.pool
    model = ProtoNetClassifier.from_bytes(inputs.model_state)
    model.predict_proba(np.asarray(features[pool[:BATCH_ROWS]]))  # warm: first-call set-up
    start = time.perf_counter()
    for first in range(0, len(pool), BATCH_ROWS):
        model.predict_proba(np.asarray(features[pool[first : first + BATCH_ROWS]]))
    return round(time.perf_counter() - start, 2)


def measure(n: int, dims: int, folder: Path) -> dict:
    """One point, in this process (called by the worker subprocess)."""
    # torch (meta) and the strategies load before any timing, as the app's server loads them
    # while its first page renders
    import meta  # noqa: F401
    import strategies  # noqa: F401
    from annotator import loop, services
    from annotator.config import Settings
    from annotator.loop import training
    from annotator.store.db import Store
    from annotator.store.models import Item

    data = folder / "pool.npz"
    db = folder / "scale.db"
    store = Store.open(Settings(db_url=f"sqlite:///{db}"))
    row: dict = {"items": n, "dims": dims}
    start = time.perf_counter()
    services.import_path(store, data, "scale", services.ImportOptions())
    row["import_s"] = round(time.perf_counter() - start, 2)
    row["peak_import_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    store.dispose()  # at rest: the last connection's close checkpoints and removes the WAL
    store = Store.open(Settings(db_url=f"sqlite:///{db}"))
    row["storage_mb"] = round(_size_mb([db, db.with_name(db.name + "-wal"),
                                        db.with_name(db.name + ".features")]), 1)  # fmt: skip
    row["features_mb"] = round(n * dims * 4 / 2**20, 1)
    row["storage_over_features"] = round(row["storage_mb"] / row["features_mb"], 2)
    start = time.perf_counter()  # with the project's default settings, as a new user has them
    first = loop.claim_next(store, "scale", "bench", n=1)
    row["first_item_s"] = round(time.perf_counter() - start, 2)
    loop.configure(store, "scale", batch_size=LABELS)
    given = 0
    while given < LABELS:  # the first round has the default batch size: claim until 200
        items = loop.claim_next(store, "scale", "bench", n=LABELS - given, plan=True)
        if not items:
            break
        with store.read() as s:
            truth = {i.id: i.ground_truth for i in s.query(Item).filter(Item.id.in_(
                [it.item_id for it in items]))}  # fmt: skip
        for it in items:
            loop.submit(store, "scale", it.item_id, truth[it.item_id], annotator="bench",
                           owner="bench")  # fmt: skip
        given += len(items)
    start = time.perf_counter()
    training.train(store, "scale")
    row["retrain_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    loop.plan_round(store, "scale")
    row["plan_s"] = round(time.perf_counter() - start, 2)
    row["predict_proba_s"] = _bare_predict_proba(store)
    row["plan_over_predict"] = round(row["plan_s"] / row["predict_proba_s"], 2)
    for fmt in ("parquet", "csv"):  # Parquet is the format for large pools; CSV for reference
        start = time.perf_counter()
        services.export_project(store, "scale", fmt, folder / f"all.{fmt}", include_all=True)
        row[f"export_{fmt}_s"] = round(time.perf_counter() - start, 2)
        (folder / f"all.{fmt}").unlink()
    row["labels"] = given if first else 0
    store.dispose()
    row["stress_s"] = _stress_wall(db)
    return row


def _stress_wall(db: Path) -> float:
    """Wall seconds of ``protolabel stress --annotators 1 --items 10`` on the project, its
    process start-up included (the issue's measure of a fresh process's first labels)."""
    command = [sys.executable, "-m", "annotator.cli", "stress", "--db", str(db),
               "--project", "scale", "--annotators", "1", "--items", "10"]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = round(time.perf_counter() - start, 2)
    audit = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}
    if done.returncode != 0 or audit.get("acknowledged") != 10 or audit.get("lost"):
        raise RuntimeError(f"stress failed ({done.returncode}): {done.stdout}{done.stderr}")
    return wall


def measure_postgres(n: int, dims: int, folder: Path, server: str) -> dict:
    """The same pool imported into a new PostgreSQL database on ``server`` (features held in
    the database): import time, the database's size (tables, indexes and TOAST, against
    the features' bytes) and the one local copy a machine makes to memory-map them."""
    import sqlalchemy as sa

    from annotator import services
    from annotator.config import Settings, normalize_db_url
    from annotator.store.db import Store

    name = f"protolabel_scale_{n}_{dims}_{os.getpid()}"
    admin = sa.create_engine(normalize_db_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    url = normalize_db_url(server).rsplit("/", 1)[0] + f"/{name}"
    os.environ["XDG_CACHE_HOME"] = str(folder / "cache")  # the machine's local copy, here
    store = Store.open(Settings(db_url=url))
    try:
        start = time.perf_counter()
        services.import_path(store, folder / "pool.npz", "scale", services.ImportOptions())
        row = {"pg_import_s": round(time.perf_counter() - start, 2)}
        with store.read() as session:
            size = session.execute(sa.text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace s ON s.oid = c.relnamespace "
                "WHERE s.nspname = 'public' AND c.relkind = 'r'"
            )).scalar()  # fmt: skip
        row["pg_db_mb"] = round(int(size) / 2**20, 1)
        row["pg_db_over_features"] = round(row["pg_db_mb"] / (n * dims * 4 / 2**20), 2)
        services.load_features(store, "scale")
        row["pg_local_copy_mb"] = round(_size_mb([folder / "cache"]), 1)
    finally:
        store.dispose()
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()
    return row


def _point(n: int, dims: int, pg: str | None) -> dict:
    """One point: data, SQLite and (with ``pg``) PostgreSQL, each in its own process."""
    with tempfile.TemporaryDirectory(prefix="protolabel-scale-") as tmp:
        steps = [["--generate"], ["--worker"]] + ([["--pg-worker", pg]] if pg else [])
        row: dict = {}
        for step in steps:
            subprocess.run([sys.executable, __file__, *step, "--point", str(n), str(dims), tmp],
                           check=True, cwd=ROOT)  # fmt: skip
            out = Path(tmp) / "row.json"
            if out.exists():
                row |= json.loads(out.read_text())
                out.unlink()
        return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="pool sizes, comma-separated")
    ap.add_argument("--dims", default="64", help="feature dimensions, comma-separated")
    ap.add_argument("--pg", metavar="URL",
                    help="also import each pool into a new database on this PostgreSQL server "
                         "(its user must be allowed to create databases)")  # fmt: skip
    ap.add_argument("--json", type=Path)
    hidden = argparse.SUPPRESS
    ap.add_argument("--point", nargs=3, metavar=("N", "DIMS", "DIR"), help=hidden)
    ap.add_argument("--generate", action="store_true", help=hidden)
    ap.add_argument("--worker", action="store_true", help=hidden)
    ap.add_argument("--pg-worker", metavar="URL", help=hidden)
    args = ap.parse_args(argv)
    if args.point:
        n, dims, folder = int(args.point[0]), int(args.point[1]), Path(args.point[2])
        if args.generate:
            _blobs(folder / "pool.npz", n, dims)
            return 0
        row = measure(n, dims, folder) if args.worker else measure_postgres(
            n, dims, folder, args.pg_worker
        )  # fmt: skip
        (folder / "row.json").write_text(json.dumps(row))
        return 0
    rows = []
    for dims in (int(d) for d in args.dims.split(",")):
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(_point(n, dims, args.pg))
            print(json.dumps(rows[-1]), file=sys.stderr)
    columns = COLUMNS + (PG_COLUMNS if args.pg else ())
    print("  ".join(f"{c:>14}" for c in columns))
    for row in rows:
        print("  ".join(f"{row[c]!s:>14}" for c in columns))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "load_average": os.getloadavg()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
