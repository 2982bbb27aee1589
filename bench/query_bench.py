"""Query-strategy benchmark (issue 4): seconds and extra peak memory per strategy and pool size.

    python bench/query_bench.py [--sizes 10000,100000,1000000] [--json PATH]

The pool is a synthetic 384-d float32 matrix taken as the embedding space (a 10-class Gaussian
mixture on a 32-d subspace plus isotropic noise), with class probabilities, 20 MC samples and a
5-member committee already computed, as the app computes them once per model version: ``seconds``
is the query alone. 10 classes, batch 100, 1,000 labelled items on top of the pool.

Inputs are generated once per size into a temporary folder of .npy files; every strategy then runs
in its own subprocess, which loads the inputs it reads into memory, warms up on a small pool,
resets the peak-RSS counter (/proc/self/clear_refs) and runs the query: ``peak_mb`` is the peak
RSS above that baseline, i.e. what the query itself allocates. A query under one second is run
three times and the fastest time kept (the box is shared).

Besides the strategies: ``coreset_naive`` (recompute every distance at each pick, as modAL /
small-text; on pools above 100k only the first picks run and the time is extrapolated, see the
notes), ``coreset_numpy`` (plain incremental numpy k-center: one full min-distance pass per pick),
``coreset_cuda`` (the coreset strategy's torch kernels on a GPU; skipped without one),
``entropy_numpy`` (plain numpy entropy + argpartition), and ``forward`` (``meta.ProtoNetClassifier``
predict_proba over the pool after fitting on the 1,000 labelled; skipped when not importable).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from strategies import NAMES, STRATEGIES, ModelView, get_strategy

N_CLASSES, DIM, BATCH, N_LABELLED, N_SAMPLES, N_MEMBERS = 10, 384, 100, 1000, 20, 5
LATENT = 32
NAIVE_FULL_MAX = 100_000  # coreset_naive runs all 100 picks up to this pool size
NAIVE_PICKS = 2  # ... and only this many picks (extrapolated) above it
BASELINES = ("coreset_naive", "coreset_numpy", "coreset_cuda", "entropy_numpy", "forward")
RUNS = NAMES + BASELINES

# What each run reads (loaded into memory before the baseline RSS is taken): a strategy's own
# declaration (``QueryStrategy.needs``), and for the baselines of this bench their inputs.
NEEDS = {name: STRATEGIES[name].needs for name in NAMES} | {
    "entropy_numpy": ("proba",),
    "coreset_naive": ("features",),
    "coreset_numpy": ("features",),
    "coreset_cuda": ("features",),
    "forward": ("features", "labels"),
}

# (strategy, pool) -> max seconds; from issue 4, on its 2-core reference box.
TIME_TARGETS = {
    ("margin", 1_000_000): 0.1,
    ("entropy", 1_000_000): 0.1,
    ("least_confidence", 1_000_000): 0.1,
    ("coreset", 100_000): 1.0,
    ("bald", 1_000_000): 1.5,
    ("qbc", 1_000_000): 0.5,
    ("typicality", 100_000): 10.0,
    ("badge", 100_000): 10.0,  # issue 14
    ("probcover", 100_000): 10.0,  # issue 14
}
RATIOS = {"coreset": ("coreset_naive", "coreset_numpy"), "entropy": ("entropy_numpy",)}


# -- inputs ----------------------------------------------------------------------------------------


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=-1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=-1, keepdims=True)
    return logits.astype(np.float32)


def generate(folder: Path, pool: int, seed: int = 0, chunk: int = 65_536) -> None:
    """Write features, labels, labelled rows, probabilities, MC and committee samples as .npy."""
    rng = np.random.default_rng(seed)
    n = pool + N_LABELLED
    centers = rng.standard_normal((N_CLASSES, DIM)).astype(np.float32)
    mixing = (rng.standard_normal((LATENT, DIM)) / np.sqrt(LATENT)).astype(np.float32)
    labels = rng.integers(N_CLASSES, size=n)
    np.save(folder / "labels.npy", labels)
    np.save(folder / "labelled.npy", np.sort(rng.choice(n, N_LABELLED, replace=False)))
    open_ = np.lib.format.open_memmap
    X = open_(folder / "features.npy", "w+", np.float32, (n, DIM))
    P = open_(folder / "proba.npy", "w+", np.float32, (n, N_CLASSES))
    MC = open_(folder / "mc.npy", "w+", np.float32, (N_SAMPLES, n, N_CLASSES))
    COM = open_(folder / "committee.npy", "w+", np.float32, (N_MEMBERS, n, N_CLASSES))
    c_sq = (centers**2).sum(axis=1)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        z = rng.standard_normal((stop - start, LATENT), dtype=np.float32)
        x = centers[labels[start:stop]] + 2 * z @ mixing
        x += 0.3 * rng.standard_normal(x.shape, dtype=np.float32)
        X[start:stop] = x
        logits = -((x**2).sum(axis=1)[:, None] - 2 * x @ centers.T + c_sq) / 40
        P[start:stop] = _softmax(logits)
        noise = rng.standard_normal((N_SAMPLES, stop - start, N_CLASSES), dtype=np.float32)
        MC[:, start:stop] = _softmax(logits + noise)
        COM[:, start:stop] = _softmax(logits + noise[:N_MEMBERS] * 0.5)
    for array in (X, P, MC, COM):
        array.flush()


def load(folder: Path, needed: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Every input as a memmap, except ``needed`` ones read into memory."""
    names = {"features": "features", "proba": "proba", "mc": "mc", "committee": "committee"}
    data = {key: np.load(folder / f"{file}.npy", mmap_mode="r") for key, file in names.items()}
    for key in needed:
        if key in data:
            data[key] = np.array(data[key])
    data["labels"] = np.load(folder / "labels.npy")
    data["labelled"] = np.load(folder / "labelled.npy")
    n = data["labels"].size
    data["pool"] = np.setdiff1d(np.arange(n), data["labelled"])
    return data


# -- the runs --------------------------------------------------------------------------------------


def coreset_numpy(X: np.ndarray, pool: np.ndarray, labelled: np.ndarray, k: int) -> np.ndarray:
    """Plain incremental k-center: chunked min-distance to the labelled, one full pass per pick."""
    sq = np.einsum("ij,ij->i", X, X)
    L = X[labelled]
    mind = np.empty(X.shape[0], dtype=np.float32)
    for start in range(0, X.shape[0], 4096):
        d = X[start : start + 4096] @ L.T
        mind[start : start + 4096] = (sq[labelled] - 2 * d).min(axis=1) + sq[start : start + 4096]
    outside = np.ones(X.shape[0], dtype=bool)
    outside[pool] = False
    mind[outside] = -np.inf
    chosen = []
    for _ in range(k):
        i = int(np.argmax(mind))
        chosen.append(i)
        np.minimum(mind, sq - 2 * (X @ X[i]) + sq[i], out=mind)
        mind[i] = -np.inf
    return np.array(chosen)


def coreset_naive(X, pool, labelled, k: int, picks: int) -> np.ndarray:
    """Recompute every pool-to-center distance at each pick (modAL / small-text style)."""
    sq = np.einsum("ij,ij->i", X, X)
    centers = list(labelled)
    chosen = []
    for _ in range(picks):
        C = X[centers]
        mind = np.empty(pool.size, dtype=np.float32)
        for start in range(0, pool.size, 4096):
            rows = pool[start : start + 4096]
            mind[start : start + 4096] = (sq[centers] - 2 * X[rows] @ C.T).min(axis=1) + sq[rows]
        mind[np.isin(pool, chosen)] = -np.inf
        i = int(pool[np.argmax(mind)])
        chosen.append(i)
        centers.append(i)
    return np.array(chosen)


def entropy_numpy(P: np.ndarray, pool: np.ndarray, k: int) -> np.ndarray:
    """Plain numpy: gather, ``-(p log p).sum(1)``, argpartition."""
    p = P[pool]
    h = -(p * np.log(np.clip(p, 1e-12, 1))).sum(axis=1)
    return pool[np.argpartition(-h, k)[:k]]


def make_run(name: str, data: dict):
    """``(run, note)``: ``run(pool)`` queries ``BATCH`` items of ``pool`` once; None if skipped."""
    X, P, labelled = data["features"], data["proba"], data["labelled"]
    if name in NAMES:
        view = ModelView(
            None,
            X,
            proba=P,
            mc_samples=data["mc"],
            committee=data["committee"],
            classes=np.arange(N_CLASSES),
        )
        strategy = get_strategy(name)
        rng = np.random.default_rng(0)
        return lambda pool: strategy.select(BATCH, pool, labelled, view, rng), ""
    if name == "entropy_numpy":
        return lambda pool: entropy_numpy(P, pool, BATCH), ""
    if name == "coreset_numpy":
        return lambda pool: coreset_numpy(X, pool, labelled, BATCH), ""
    if name == "coreset_cuda":
        return _coreset_cuda_run(data)
    if name == "coreset_naive":
        note = ""
        if data["pool"].size > NAIVE_FULL_MAX:
            note = (
                f"{NAIVE_PICKS} of {BATCH} picks timed, extrapolated (pick j costs |L| + j centers)"
            )
        return lambda pool: coreset_naive(X, pool, labelled, BATCH, _naive_picks(pool.size)), note
    if name == "forward":
        return _forward_run(data)
    raise ValueError(name)


def _naive_picks(pool: int) -> int:
    return BATCH if pool <= NAIVE_FULL_MAX else NAIVE_PICKS


def _coreset_cuda_run(data):
    try:
        import torch
    except ImportError:
        return None, "skipped: torch not importable"
    if not torch.cuda.is_available():
        return None, "skipped: no CUDA device"
    strategy = get_strategy("coreset", device="cuda")
    view = ModelView(None, data["features"], classes=np.arange(N_CLASSES))
    rng = np.random.default_rng(0)

    def run(pool):
        picks = strategy.select(BATCH, pool, data["labelled"], view, rng)
        torch.cuda.synchronize()
        return picks

    return run, "coreset's torch kernels on the GPU (features copied to the GPU per query, timed)"


def _forward_run(data):
    try:
        from meta import ProtoNetClassifier
    except ImportError as error:
        return None, f"skipped: meta.ProtoNetClassifier not importable ({error})"
    from strategies.base import pool_blocks

    X, labelled = data["features"], data["labelled"]
    model = ProtoNetClassifier(random_state=0).fit(X[labelled], data["labels"][labelled])

    def forward(pool):
        for _, _, block, _ in pool_blocks(pool, 65_536):
            model.predict_proba(X[block])

    return forward, "ProtoNetClassifier() defaults, fit on the 1,000 labelled (fit not timed)"


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def worker(name: str, folder: Path) -> dict:
    """Run ``name`` in this process: warm up, take the baseline RSS, time the query."""
    data = load(folder, NEEDS[name])
    pool = data["pool"]
    run, note = make_run(name, data)
    if run is None:
        return {"seconds": None, "peak_mb": None, "note": note}
    run(pool[:2500])  # imports, thread pools, first-call allocations
    baseline_kb = _rss_kb("VmRSS")
    exact_peak = _reset_peak()
    times: list[float] = []
    while not times or (len(times) < 3 and times[0] < 1):
        start = time.perf_counter()
        run(pool)
        times.append(time.perf_counter() - start)
    # Without clear_refs, the peak since the process started (an overestimate).
    peak_kb = _rss_kb("VmHWM") if exact_peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = min(times)
    if name == "coreset_naive" and _naive_picks(pool.size) < BATCH:
        seconds *= sum(N_LABELLED + j for j in range(BATCH))
        seconds /= sum(N_LABELLED + j for j in range(NAIVE_PICKS))
    return {"seconds": seconds, "peak_mb": max(0, peak_kb - baseline_kb) / 1024, "note": note}


# -- driver ----------------------------------------------------------------------------------------


def run_size(pool: int, notes: list[str], runs=RUNS) -> list[dict]:
    folder = Path(tempfile.mkdtemp(prefix="query_bench_"))
    try:
        start = time.perf_counter()
        generate(folder, pool)
        print(
            f"# pool {pool:,}: inputs generated in {time.perf_counter() - start:.1f} s", flush=True
        )
        results = []
        for name in runs:
            command = [sys.executable, __file__, "--worker", name, "--data", str(folder)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{name} at {pool}: {done.stderr[-2000:]}")
            out = json.loads(done.stdout.strip().splitlines()[-1])
            if out["note"]:
                notes.append(f"{name} @ {pool:,}: {out['note']}")
            results.append(
                {
                    "strategy": name,
                    "pool": pool,
                    "seconds": out["seconds"],
                    "peak_mb": out["peak_mb"],
                }
            )
            print(f"#   {name:<17} {_fmt(out['seconds'])} s  {_fmt(out['peak_mb'])} MB", flush=True)
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fmt(value, digits: int = 3) -> str:
    return "skipped" if value is None else f"{value:.{digits}f}"


def table(results: list[dict]) -> str:
    """One row per run and size: time, extra peak memory, ratios to baselines, targets."""
    by = {(r["strategy"], r["pool"]): r for r in results}
    lines = [
        f"{'strategy':<17} {'pool':>9} {'seconds':>9} {'peak_mb':>8} {'0.5x X':>8}  ratios, targets",
        "-" * 110,
    ]
    for pool in sorted({r["pool"] for r in results}):
        cap = 0.5 * pool * DIM * 4 / 2**20
        for name in [n for n in RUNS if (n, pool) in by]:
            r = by[(name, pool)]
            lines.append(
                f"{name:<17} {pool:>9,} {_fmt(r['seconds']):>9} {_fmt(r['peak_mb'], 1):>8} "
                f"{cap:>8.0f}  {'; '.join(_checks(name, pool, by, cap))}"
            )
        lines.append("")
    return "\n".join(lines)


def _checks(name: str, pool: int, by: dict, cap: float) -> list[str]:
    """Ratios to the baselines of the same run and the issue's targets for one row."""
    r, out = by[(name, pool)], []
    for base in [b for b in RATIOS.get(name, ()) if (b, pool) in by]:
        b = by[(base, pool)]["seconds"]
        extrapolated = base == "coreset_naive" and _naive_picks(pool) < BATCH
        out.append(
            f"{b / r['seconds']:.1f}x faster than {base}{' (extrap.)' if extrapolated else ''}"
        )
    if (name, pool) in TIME_TARGETS:
        target = TIME_TARGETS[(name, pool)]
        out.append(f"<= {target} s: {'met' if r['seconds'] <= target else 'MISSED'}")
    if name == "coreset" and ("coreset_numpy", pool) in by:
        numpy_s = by[("coreset_numpy", pool)]["seconds"]
        out.append(f"<= coreset_numpy: {'met' if r['seconds'] <= numpy_s else 'MISSED'}")
    if name in NAMES and pool >= 1_000_000:
        out.append(f"memory <= 0.5x features: {'met' if r['peak_mb'] <= cap else 'MISSED'}")
    elif name in NAMES and r["peak_mb"] > cap:
        out.append("memory above 0.5x features (fixed costs; the target is at 1M)")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="pool sizes, comma-separated"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--runs", default=",".join(RUNS), help="strategies and baselines to run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.data)))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    machine = f"{platform.machine()}, {os.cpu_count()} cpu, Python {platform.python_version()}"
    print(f"# {machine}; shared box: other jobs may run beside this one", flush=True)
    notes: list[str] = []
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in RUNS]
    if unknown:
        parser.error(f"unknown run {unknown[0]!r}; choose from {', '.join(RUNS)}")
    results = [r for size in sizes for r in run_size(size, notes, runs)]
    print()
    print(table(results))
    for note in notes:
        print(f"note: {note}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"results": results, "notes": notes, "machine": machine}
        args.json.write_text(json.dumps(payload, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
