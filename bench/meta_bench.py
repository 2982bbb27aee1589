"""ProtoNetClassifier benchmark (issue 3): prints one table per part and writes JSON.

    python bench/meta_bench.py [--parts abcd] [--quick] [--json PATH]

a) Speed on synthetic 384-d features (10 classes, a Gaussian mixture on a 32-d subspace plus
   isotropic noise): retrain after a round for 100 / 500 / 1,000 labels, fresh and warm-started
   from the previous round's bytes (shrink-and-perturb), median of 3; predict_proba over a
   1M x 384 pool; mc_proba T=20 over 50k. Targets: <= 1 s, <= 2 s, <= 2 s on 2 CPU cores.
b) Digits (load_digits; stratified 1,297 pool / 500 test): nested random labelled sets of 10, 20,
   50, 100 (5 seeds), test accuracy mean +- std of ProtoNetClassifier variants and
   LogisticRegression(max_iter=1000) on the same features and labelled sets. The variant with the
   best mean accuracy at 10 and 20 labels is the one the estimator's defaults must match. One
   more row fits the defaults with the rest of the pool as ``unlabelled`` (refined prototypes,
   as the app fits; LogisticRegression stays supervised).
c) Fashion-MNIST (Debian dataset-fashion-mnist): pretrain on classes 0-4 (train split), then
   600 5-way 1-shot and 5-shot episodes (15 queries per class) on classes 5-9 (test split),
   with and without pretraining; accuracy mean +- 95% CI.
d) Committee designs on digits: AUROC of the committee's disagreement (mean KL from members to
   their consensus) for the errors of the model, and seconds of committee_proba (M=5) over the
   pool of (a), including the training the design needs.

Absolute times drift on a shared box: the JSON records the load average at the start and end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from meta import ProtoNetClassifier, pretrain

FASHION_DIR = Path(os.environ.get("PROTOLABEL_FASHION_DIR", "/usr/share/datasets/fashion-mnist"))
N_CLASSES, DIM, LATENT = 10, 384, 32
# Class overlap of the synthetic features, so that a retrain does not stop after a few steps.
CENTRE_SCALE = 0.8
BUDGETS = (10, 20, 50, 100)

# Part (b) variants: the knobs they set, on top of the estimator's other defaults.
VARIANTS = {
    "episodic, hidden (256,)": {"training": "episodic", "hidden_sizes": (256,)},
    "episodic, hidden (128,)": {"training": "episodic", "hidden_sizes": (128,)},
    "ce, hidden (256,)": {"training": "ce", "hidden_sizes": (256,)},
    "ce, hidden (128,)": {"training": "ce", "hidden_sizes": (128,)},
    "ce+episodic, hidden (128,)": {"training": "ce+episodic", "hidden_sizes": (128,)},
    "episodic, hidden (128,), no skip": {
        "training": "episodic",
        "hidden_sizes": (128,),
        "skip": False,
    },
    "ce, hidden (128,), no skip": {"training": "ce", "hidden_sizes": (128,), "skip": False},
    "episodic, hidden (128,), max_steps=100": {
        "training": "episodic",
        "hidden_sizes": (128,),
        "max_steps": 100,
    },
}
# Warm starts along the rounds 10 -> 20 -> 50 -> 100 (defaults otherwise).
# The defaults with the rest of the pool passed as ``unlabelled`` (semi-supervised prototypes,
# as the app fits); LogisticRegression sees the labelled items only.
SEMI = "defaults + unlabelled pool (refined prototypes)"

WARM = {
    "defaults, warm start (shrink-perturb)": {},
    "defaults, warm start (no shrink-perturb)": {"shrink": 1.0, "perturb": 0.0},
    "defaults, warm start (shrink 0.3, perturb 0.1)": {"shrink": 0.3, "perturb": 0.1},
}


# ---------------------------------------------------------------- helpers
def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    out = [title, line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]]
    return "\n".join(out)


def mean_std(values) -> str:
    return f"{np.mean(values):.3f} +- {np.std(values):.3f}"


def synthetic(n: int, rng: np.random.Generator, centres: np.ndarray, basis: np.ndarray):
    """(n, 384) float32 features of a 10-class mixture on a 32-d subspace, and labels (n,)."""
    y = rng.integers(0, N_CLASSES, size=n)
    latent = centres[y] + rng.standard_normal((n, LATENT), dtype=np.float32)
    X = latent @ basis + 0.5 * rng.standard_normal((n, DIM), dtype=np.float32)
    return X.astype(np.float32, copy=False), y


# ---------------------------------------------------------------- part a
def _device_name(device: torch.device) -> str:
    """What ``device="auto"`` chose: the GPU's name, or CPU."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return "CPU"


def part_a(args) -> dict:
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=CENTRE_SCALE, size=(N_CLASSES, LATENT)).astype(np.float32)
    basis = np.linalg.qr(rng.normal(size=(DIM, LATENT)))[0].T.astype(np.float32)
    X_lab, y_lab = synthetic(1000, rng, centres, basis)
    X_test, y_test = synthetic(5000, rng, centres, basis)
    cold = timed(ProtoNetClassifier(random_state=0).fit, X_lab[:100], y_lab[:100])[1]
    rows, results = [], {"cold_first_fit_s": cold, "retrain": []}
    for n in (100, 500, 1000):
        prev = ProtoNetClassifier(random_state=1).fit(X_lab[: int(n * 0.9)], y_lab[: int(n * 0.9)])
        blob = prev.to_bytes()
        for mode in ("fresh", "warm"):
            times, steps, acc = [], [], []
            for rep in range(3):
                model = ProtoNetClassifier(random_state=rep)
                kw = {"warm_start_from": blob} if mode == "warm" else {}
                _, dt = timed(model.fit, X_lab[:n], y_lab[:n], **kw)
                times.append(dt)
                steps.append(model.n_steps_)
                acc.append(model.score(X_test, y_test))
            rec = {
                "labels": n,
                "mode": mode,
                "seconds": statistics.median(times),
                "steps": statistics.median(steps),
                "accuracy": float(np.mean(acc)),
            }
            results["retrain"].append(rec)
            rows.append(
                [
                    f"retrain {n} labels ({mode})",
                    f"{rec['seconds']:.3f}",
                    f"{rec['steps']:.0f} steps, acc {rec['accuracy']:.3f}",
                    "<= 1 s" if n == 1000 else "",
                ]
            )
    unlabelled, _ = synthetic(20_000, rng, centres, basis)
    times, acc = [], []
    for rep in range(3):
        model = ProtoNetClassifier(random_state=rep)
        _, dt = timed(model.fit, X_lab, y_lab, unlabelled=unlabelled)
        times.append(dt)
        acc.append(model.score(X_test, y_test))
    results["retrain_1000_semi_supervised"] = {
        "seconds": statistics.median(times),
        "unlabelled": len(unlabelled),
        "accuracy": float(np.mean(acc)),
    }
    rows.append(
        [
            "retrain 1000 labels + 20,000 unlabelled (semi-supervised)",
            f"{statistics.median(times):.3f}",
            f"refined prototypes, acc {np.mean(acc):.3f}",
            "<= 1 s",
        ]
    )
    full = ProtoNetClassifier(random_state=0, n_iter_no_change=10**6)  # no early stop
    _, dt = timed(full.fit, X_lab, y_lab)
    results["retrain_1000_full_budget"] = {"seconds": dt, "steps": full.n_steps_}
    rows.append(
        [
            "retrain 1000 labels, whole step budget",
            f"{dt:.3f}",
            f"{full.n_steps_} steps (early stop off)",
            "<= 1 s",
        ]
    )
    model = ProtoNetClassifier(random_state=0).fit(X_lab, y_lab)
    pool, _ = synthetic(args.pool_size, rng, centres, basis)
    mc_pool = pool[: args.mc_size]
    results["forward"], results["mc"] = {}, {}
    for n_threads in (1, None):  # one thread, then the default (a chunk thread per core)
        model.set_params(n_threads=n_threads)
        label = f"n_threads={n_threads}" if n_threads else f"n_threads=None ({os.cpu_count()})"
        model.predict_proba(pool[:20000])  # warm up
        _, dt = timed(model.predict_proba, pool)
        results["forward"][label] = {"rows": len(pool), "seconds": dt}
        rows.append(
            [
                f"predict_proba {len(pool):,} x {DIM}, {label}",
                f"{dt:.3f}",
                "encoder + prototype head + softmax",
                "<= 2 s",
            ]
        )
        model.mc_proba(mc_pool[:1000], T=20)
        _, dt = timed(model.mc_proba, mc_pool, T=20)
        results["mc"][label] = {"rows": len(mc_pool), "T": 20, "seconds": dt}
        rows.append(
            [
                f"mc_proba T=20 on {len(mc_pool):,}, {label}",
                f"{dt:.3f}",
                f"hidden {model.hidden_sizes}, dropout {model.dropout}",
                "<= 2 s",
            ]
        )
    del pool, mc_pool
    results["device"] = _device_name(model.device_)
    rows.insert(
        0,
        ["first fit in a fresh process (100 labels)", f"{cold:.3f}", "one-off torch start-up", ""],
    )
    print(
        table(
            f"a) speed on {_device_name(model.device_)} ({os.cpu_count()} CPU cores; n_threads = chunk "
            "threads of inference, default one per core; training runs one torch thread)",
            ["what", "seconds", "notes", "target"],
            rows,
        )
    )
    return results


# ---------------------------------------------------------------- part b
def digits_split():
    X, y = load_digits(return_X_y=True)
    X_pool, X_test, y_pool, y_test = train_test_split(
        X, y, test_size=500, stratify=y, random_state=0
    )
    return X_pool.astype(np.float32), X_test.astype(np.float32), y_pool, y_test


def part_b(args) -> dict:
    X_pool, X_test, y_pool, y_test = digits_split()
    names = [
        *VARIANTS,
        "untrained (max_steps=0)",
        "defaults",
        SEMI,
        *WARM,
        "LogisticRegression",
    ]
    acc = {name: {n: [] for n in BUDGETS} for name in names}
    secs = dict.fromkeys(names, 0.0)

    def run(name, model, X_l, y_l, **fit_kw):
        _, dt = timed(model.fit, X_l, y_l, **fit_kw)
        acc[name][len(y_l)].append(model.score(X_test, y_test))
        secs[name] += dt
        return model

    for seed in range(args.seeds):
        order = np.random.default_rng(seed).permutation(len(X_pool))
        previous = dict.fromkeys(WARM)
        for n in BUDGETS:
            X_l, y_l = X_pool[order[:n]], y_pool[order[:n]]
            for name, kw in VARIANTS.items():
                run(name, ProtoNetClassifier(random_state=seed, **kw), X_l, y_l)
            run(
                "untrained (max_steps=0)",
                ProtoNetClassifier(random_state=seed, max_steps=0),
                X_l,
                y_l,
            )
            run("defaults", ProtoNetClassifier(random_state=seed), X_l, y_l)
            unlabelled = X_pool[order[n:]]
            run(SEMI, ProtoNetClassifier(random_state=seed), X_l, y_l, unlabelled=unlabelled)
            for name, kw in WARM.items():
                model = run(
                    name,
                    ProtoNetClassifier(random_state=seed, **kw),
                    X_l,
                    y_l,
                    warm_start_from=previous[name],
                )
                previous[name] = model.to_bytes()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run("LogisticRegression", LogisticRegression(max_iter=1000), X_l, y_l)
    few_shot = {name: float(np.mean(acc[name][10] + acc[name][20])) for name in VARIANTS}
    best = max(few_shot, key=few_shot.get)
    defaults = ProtoNetClassifier().get_params()
    matches = all(defaults[k] == v for k, v in VARIANTS[best].items())
    fits = args.seeds * len(BUDGETS)
    rows = [
        [name, *(mean_std(acc[name][n]) for n in BUDGETS), f"{secs[name] / fits:.2f}"]
        for name in names
    ]
    print(
        table(
            f"b) digits test accuracy, {args.seeds} seeds, nested random labelled sets (mean +- std over seeds)",
            ["model", *(f"{n} labels" for n in BUDGETS), "s/fit"],
            rows,
        )
    )
    print(
        f"   best variant by mean accuracy at 10 and 20 labels: {best!r} ({few_shot[best]:.3f}); estimator defaults {'match' if matches else 'DO NOT match'} it"
    )
    gaps = {}
    for name in ("defaults", SEMI):
        gaps[name] = {}
        for n in BUDGETS:
            paired = np.array(acc[name][n]) - np.array(acc["LogisticRegression"][n])
            gaps[name][n] = paired.tolist()
            target = f" ({'meets' if paired.mean() >= 0 else 'misses'} target >= 0)"
            print(
                f"   {name} - LR at {n:3d} labels, paired over seeds: "
                f"{paired.mean():+.3f} +- {paired.std():.3f}" + (target if n <= 20 else "")
            )
    return {
        "accuracy": acc,
        "seconds_per_fit": {k: v / fits for k, v in secs.items()},
        "few_shot_mean": few_shot,
        "best_variant": best,
        "defaults_match_best": matches,
        "defaults_minus_lr": gaps,
    }


# ---------------------------------------------------------------- part c
def load_fashion(split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz") as f:
        X = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return X.astype(np.float32) / 255.0, y.astype(np.int64)


def episodes(X, y, n_shot, n_episodes, seed, n_query=15):
    """Yield (support X, support y, query X, query y) for 5-way episodes over the classes of y."""
    rng = np.random.default_rng(seed)
    by_class = {c: np.flatnonzero(y == c) for c in np.unique(y)}
    for _ in range(n_episodes):
        classes = rng.choice(list(by_class), size=5, replace=False)
        s_idx, q_idx = [], []
        for c in classes:
            rows = rng.choice(by_class[c], size=n_shot + n_query, replace=False)
            s_idx.append(rows[:n_shot])
            q_idx.append(rows[n_shot:])
        s_idx, q_idx = np.concatenate(s_idx), np.concatenate(q_idx)
        yield X[s_idx], y[s_idx], X[q_idx], y[q_idx]


def part_c(args) -> dict:
    if not FASHION_DIR.exists():
        print("c) skipped: apt-get install -y dataset-fashion-mnist")
        return {"skipped": "dataset-fashion-mnist not installed"}
    X_train, y_train = load_fashion("train")
    X_test, y_test = load_fashion("test")
    base = y_train < 5
    novel = y_test >= 5
    X_base, y_base, X_novel, y_novel = X_train[base], y_train[base], X_test[novel], y_test[novel]
    arch = {"encoder": args.c_encoder}
    pretrained, pre_secs = {}, {}
    for training in ("ce", "episodic"):
        steps = {"max_steps": args.pretrain_steps} if args.pretrain_steps else {}
        model, pre_secs[training] = timed(
            pretrain, X_base, y_base, training=training, random_state=0, **steps, **arch
        )
        pretrained[training] = model.to_bytes(include_support=False)
    configs = {
        "no pretraining, fit on support (defaults)": {},
        "no pretraining, untrained (max_steps=0)": {"max_steps": 0},
    }
    for training in ("ce", "episodic"):
        configs[f"pretrained ({training}), prototypes only"] = {
            "pretrained": pretrained[training],
            "max_steps": 0,
        }
        configs[f"pretrained ({training}), fine-tuned (defaults)"] = {
            "pretrained": pretrained[training]
        }
    acc = {name: {1: [], 5: []} for name in configs}
    for n_shot in (1, 5):
        for i, (Xs, ys, Xq, yq) in enumerate(
            episodes(X_novel, y_novel, n_shot, args.episodes, seed=n_shot)
        ):
            for name, kw in configs.items():
                model = ProtoNetClassifier(random_state=i, **arch, **kw).fit(Xs, ys)
                acc[name][n_shot].append(model.score(Xq, yq))
    ci = lambda v: f"{np.mean(v):.3f} +- {1.96 * np.std(v) / np.sqrt(len(v)):.3f}"  # noqa: E731
    rows = [[name, ci(acc[name][1]), ci(acc[name][5])] for name in configs]
    print(
        table(
            f"c) Fashion-MNIST 5-way accuracy on classes 5-9, {args.episodes} episodes, 15 queries/class, encoder={args.c_encoder} (mean +- 95% CI)",
            ["model", "1-shot", "5-shot"],
            rows,
        )
    )
    print(
        "   pretraining on classes 0-4 (30,000 images): "
        + ", ".join(f"{k} {v:.0f} s" for k, v in pre_secs.items())
    )
    return {"accuracy": acc, "pretrain_seconds": pre_secs, "episodes": args.episodes}


# ---------------------------------------------------------------- part d
def disagreement(votes: np.ndarray) -> np.ndarray:
    """Mean KL(member || consensus) per item; votes (M, N, C) -> (N,)."""
    consensus = votes.mean(axis=0, keepdims=True)
    eps = 1e-12
    return (votes * (np.log(votes + eps) - np.log(consensus + eps))).sum(axis=2).mean(axis=0)


def part_d(args) -> dict:
    X_pool, X_test, y_pool, y_test = digits_split()
    designs = ("bootstrap", "independent")
    auroc = {d: {n: [] for n in BUDGETS} for d in designs}
    varied = {d: {n: [] for n in BUDGETS} for d in designs}
    for seed in range(args.seeds):
        order = np.random.default_rng(seed).permutation(len(X_pool))
        for n in BUDGETS:
            X_l, y_l = X_pool[order[:n]], y_pool[order[:n]]
            for design in designs:
                model = ProtoNetClassifier(committee=design, random_state=seed).fit(X_l, y_l)
                score = disagreement(model.committee_proba(X_test, M=5))
                wrong = model.predict(X_test) != y_test
                varied[design][n].append(float(np.mean(score > 1e-6)))
                auroc[design][n].append(roc_auc_score(wrong, score) if np.ptp(score) > 0 else 0.5)
    rng = np.random.default_rng(1)
    centres = rng.normal(scale=CENTRE_SCALE, size=(N_CLASSES, LATENT)).astype(np.float32)
    basis = np.linalg.qr(rng.normal(size=(DIM, LATENT)))[0].T.astype(np.float32)
    X_lab, y_lab = synthetic(1000, rng, centres, basis)
    pool, _ = synthetic(args.pool_size, rng, centres, basis)
    seconds = {}
    for design in designs:
        model = ProtoNetClassifier(committee=design, random_state=0).fit(X_lab, y_lab)
        model.committee_proba(pool[:1000], M=5) if design == "bootstrap" else None  # warm up
        seconds[design] = timed(model.committee_proba, pool, M=5)[1]
    forward = timed(model.predict_proba, pool)[1]
    del pool
    # Rule: the committee must stay cheap on a large pool (at most 2 forward passes over it);
    # among the designs that do, the one whose disagreement best finds the model's errors.
    mean_auroc = {d: float(np.mean([np.mean(auroc[d][n]) for n in BUDGETS])) for d in designs}
    cheap = [d for d in designs if seconds[d] <= 2 * forward] or [min(seconds, key=seconds.get)]
    chosen = max(cheap, key=mean_auroc.get)
    rows = [
        [
            d,
            *(f"{np.mean(auroc[d][n]):.3f}" for n in BUDGETS),
            f"{mean_auroc[d]:.3f}",
            *(f"{np.mean(varied[d][n]):.2f}" for n in (10, 100)),
            f"{seconds[d]:.2f}",
            f"{seconds[d] / forward:.1f}",
        ]
        for d in designs
    ]
    print(
        table(
            f"d) committee (M=5) on digits, {args.seeds} seeds: AUROC of the disagreement for the model's errors, share of test items with disagreement; seconds of committee_proba over {args.pool_size:,} x {DIM} after a 1,000-label fit (incl. training members), and in predict_proba passes",
            [
                "design",
                *(f"AUROC {n}" for n in BUDGETS),
                "mean",
                "varied@10",
                "varied@100",
                "seconds",
                "x forward",
            ],
            rows,
        )
    )
    default = ProtoNetClassifier().committee
    print(
        f"   predict_proba over the pool: {forward:.2f} s; rule (<= 2 forward passes, then best AUROC) picks {chosen!r}; estimator default {default!r} {'matches' if default == chosen else 'DOES NOT match'}"
    )
    return {
        "auroc": auroc,
        "share_varied": varied,
        "seconds": seconds,
        "forward_seconds": forward,
        "mean_auroc": mean_auroc,
        "chosen": chosen,
    }


# ---------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="abcd", help="which parts to run, e.g. 'ab'")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run, not figures"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--seeds", type=int, help="seeds for b and d (default 5)")
    parser.add_argument("--episodes", type=int, help="episodes per shot for c (default 600)")
    parser.add_argument(
        "--pool-size",
        type=int,
        help="pool rows for the forward pass in a and the committee in d (default 1,000,000)",
    )
    parser.add_argument("--mc-size", type=int, help="pool rows for mc_proba in a (default 50,000)")
    parser.add_argument(
        "--pretrain-steps", type=int, help="pretraining step budget in c (default: pretrain's)"
    )
    parser.add_argument("--c-encoder", choices=("mlp", "conv"), default="mlp")
    args = parser.parse_args(argv)
    quick = args.quick
    args.seeds = args.seeds or (2 if quick else 5)
    args.episodes = args.episodes or (20 if quick else 600)
    args.pool_size = args.pool_size or (50_000 if quick else 1_000_000)
    args.mc_size = args.mc_size or (5_000 if quick else 50_000)
    args.pretrain_steps = args.pretrain_steps or (100 if quick else None)
    out = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "cuda": torch.cuda.is_available(),
        },
        "loadavg_start": os.getloadavg(),
    }
    parts = {"a": part_a, "b": part_b, "c": part_c, "d": part_d}
    for key in args.parts:
        start = time.perf_counter()
        out[key] = parts[key](args)
        out[key]["wall_seconds"] = time.perf_counter() - start
        print()
    out["loadavg_end"] = os.getloadavg()
    print(
        f"load average at start {out['loadavg_start'][0]:.2f}, at end {out['loadavg_end'][0]:.2f} ({os.cpu_count()} CPUs; the box is shared)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
