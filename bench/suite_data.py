"""The label-efficiency suite's data (issue 14): 13 labelled sets that install offline here,
written as the files a person would import (image folders, CSV), split once into a tuning half
and a reporting half.

    python bench/suite_data.py [--sets a,b] [--list]     # build (cached) and describe

Every set comes from a package: scikit-learn (digits), Debian packages fetched with
``apt-get download`` and unpacked with ``dpkg-deb -x`` (nothing is installed, R is not needed;
R data read with the PyPI package ``rdata``), or the fonts on the machine. Each variant is a
draw of ``n`` items (pool + test) with :data:`DRAW_SEED`, stratified by class; a class with
fewer than :data:`MIN_PER_CLASS` items in the draw is left out of it (Shuttle's rare valves).
The files land under ``$PROTOLABEL_BENCH_CACHE`` (default ``~/.cache/protolabel-bench``), in a
folder named after this module's code (an edit rebuilds them), and are built once;
``label_efficiency.py --suite`` reads them with the app's own importer
(``annotator.io.read_input``) and default featurizer, as an import would.

Variants: ``NAME@1500`` (about 1,000 pool items after the 30% test split, 450 test) for every
set, and ``NAME@5500`` (5,000 pool, 500 test) where the set has 5,500 items or more, or
``NAME@all`` where it has between 3,000 and 5,500.

The split (:func:`draw_split`, committed as ``bench/suite_split.json`` before any default was
changed on it): the sets earlier defaults were chosen or inspected on (digits, Fashion-MNIST and
the fine-food reviews) are tuning sets; the others are shuffled per kind with
:data:`SPLIT_SEED` and dealt so that each half holds at least one image, two text and three
tabular sets. Defaults are chosen on the tuning half; figures are quoted from the reporting half.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CACHE = Path(os.environ.get("PROTOLABEL_BENCH_CACHE", Path.home() / ".cache/protolabel-bench"))
SPLIT_FILE = Path(__file__).with_name("suite_split.json")
DRAW_SEED = 20261201
SPLIT_SEED = 14
MIN_PER_CLASS = 10
SMALL, LARGE, LARGE_FROM = 1500, 5500, 3000
#: Sets earlier defaults were chosen or inspected on: never quoted as unseen data.
SEEN_BEFORE = ("digits", "fashion", "fine_foods")
KINDS = ("image", "text", "tabular")
MIN_PER_HALF = {"image": 1, "text": 2, "tabular": 3}

R_LIBRARY = "usr/lib/R/site-library"


#: Built files, in a folder named after this module's code: a changed loader or draw rebuilds.
SETS_DIR = CACHE / f"sets-{hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]}"


class SuiteDataError(RuntimeError):
    """A set cannot be built here (its package cannot be fetched or read)."""


@dataclass(frozen=True)
class SuiteSet:
    """One labelled set: how to load it whole, and where it comes from."""

    name: str
    kind: str  # image | text | tabular
    load: Callable[[], pd.DataFrame]  # columns: label + (image | text | features)
    source: str
    licence: str


# ---------------------------------------------------------------------------------------------
# Fetching Debian data without installing it


def debian_root(package: str) -> Path:
    """The unpacked files of Debian ``package`` (fetched once with apt-get download)."""
    root = CACHE / "debian" / package
    if (root / ".complete").exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        try:
            subprocess.run(
                ["apt-get", "download", package],
                cwd=tmp,
                check=True,
                capture_output=True,
                text=True,
            )
        except FileNotFoundError:
            raise SuiteDataError(f"{package}: apt-get is not available here") from None
        except subprocess.CalledProcessError as err:
            why = (err.stderr or err.stdout).strip().splitlines()[-1:] or ["no output"]
            raise SuiteDataError(f"{package}: apt-get download failed: {why[0]}") from None
        deb = next(Path(tmp).glob(f"{package}_*.deb"))
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    (root / ".complete").write_text(deb.name)
    return root


def _rda(package: str, name: str) -> pd.DataFrame:
    import rdata

    path = debian_root(package) / R_LIBRARY / package.removeprefix("r-cran-") / "data"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdata.read_rda(path / f"{name}.rda")[name]


def _lazyload(package: str, name: str):
    from protolabel_data.make_fine_foods import read_lazyload_object

    folder = debian_root(package) / R_LIBRARY / package.removeprefix("r-cran-") / "data"
    return read_lazyload_object(folder, name)


# ---------------------------------------------------------------------------------------------
# Images (each row: label, image as a 2-D uint8 array)


def _digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return pd.DataFrame({"label": digits.target.astype(str), "image": list(images)})


def _fashion() -> pd.DataFrame:
    folder = debian_root("dataset-fashion-mnist") / "usr/share/datasets/fashion-mnist"
    names = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
             "Bag", "Ankle boot")  # fmt: skip
    with gzip.open(folder / "train-images-idx3-ubyte.gz") as f:
        X = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / "train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return pd.DataFrame({"label": [names[i] for i in y], "image": list(X)})


def _letters(n: int = 8000, seed: int = DRAW_SEED) -> pd.DataFrame:
    """Upper-case letters A-Z rendered at 28x28 from the machine's DejaVu and Liberation fonts,
    each with its own font, size, rotation (+-15 degrees), position and a little noise."""
    from PIL import Image, ImageDraw, ImageFont

    fonts = sorted(
        p for d in ("dejavu", "liberation") for p in Path(f"/usr/share/fonts/truetype/{d}").glob("*.ttf")
        if "Math" not in p.name
    )  # fmt: skip
    if not fonts:
        raise SuiteDataError("letters: no DejaVu or Liberation fonts under /usr/share/fonts")
    rng = np.random.default_rng(seed)
    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    labels, images = [], []
    for i in range(n):
        letter = letters[i % len(letters)]
        font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), int(rng.integers(28, 44)))
        canvas = Image.new("L", (56, 56), 0)
        ImageDraw.Draw(canvas).text((28, 28), letter, fill=255, font=font, anchor="mm")
        canvas = canvas.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR)
        dx, dy = rng.integers(-4, 5, size=2)
        canvas = canvas.transform(canvas.size, Image.AFFINE, (1, 0, dx, 0, 1, dy))
        small = np.asarray(canvas.resize((28, 28), Image.BILINEAR), dtype=np.float64)
        small += rng.normal(0, 12, small.shape)
        labels.append(letter)
        images.append(np.clip(np.rint(small), 0, 255).astype(np.uint8))
    return pd.DataFrame({"label": labels, "image": images})


# ---------------------------------------------------------------------------------------------
# Texts (each row: label, text)


def _fine_foods() -> pd.DataFrame:
    from protolabel_data import demo_path

    table = pd.read_csv(demo_path("fine_foods"))
    return table[["label", "text"]]


def _austen(lines_per_passage: int = 5) -> pd.DataFrame:
    """Passages of 5 consecutive non-empty lines (about 50 words) of the six novels; chapter and
    volume headings are dropped."""
    novels = ("emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice",
              "sensesensibility")  # fmt: skip
    rows = []
    heading = re.compile(r"^(CHAPTER|VOLUME|Chapter)\b|^[A-Z .,]+$")
    for novel in novels:
        lines = [str(x).strip() for x in _lazyload("r-cran-janeaustenr", novel)]
        lines = [x for x in lines if x and not heading.match(x)]
        for start in range(0, len(lines) - lines_per_passage + 1, lines_per_passage):
            rows.append((novel, " ".join(lines[start : start + lines_per_passage])))
    return pd.DataFrame(rows, columns=["label", "text"])


def _wordnet(n_files: int = 10) -> pd.DataFrame:
    """Synset glosses labelled by lexicographer file, the ``n_files`` largest files."""
    root = debian_root("wordnet-base") / "usr/share/wordnet"
    lexnames = _lexnames()
    rows = []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(root / f"data.{pos}", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue  # the licence header
                fields = line.split(" ", 3)
                gloss = line.split("|", 1)[1].strip()
                rows.append((lexnames[int(fields[1])], gloss))
    table = pd.DataFrame(rows, columns=["label", "text"])
    keep = table["label"].value_counts().index[:n_files]
    return table[table["label"].isin(keep)].reset_index(drop=True)


_LEXNAMES = """
adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body
noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location
noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process
noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change
verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation
verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather
adj.ppl
"""


def _lexnames() -> list[str]:
    """WordNet's 45 lexicographer file names, by number (lexnames(5WN))."""
    return _LEXNAMES.split()


def _foldoc(n_categories: int = 8) -> pd.DataFrame:
    """FOLDOC definitions with exactly one category, among the ``n_categories`` commonest;
    the text is the definition without its category tag, cross-reference braces and dates."""
    root = debian_root("dict-foldoc") / "usr/share/dictd"
    with gzip.open(root / "foldoc.dict.dz", "rt", encoding="utf-8", errors="replace") as f:
        body = f.read()
    rows = []
    for entry in re.split(r"\n(?=\S)", body):
        lines = entry.split("\n")
        text = " ".join(x.strip() for x in lines[1:] if x.strip())
        tags = re.match(r"<([^>]+)>", text)
        if not tags or "," in tags.group(1):
            continue
        text = re.sub(r"\(\d{4}-\d{2}-\d{2}\)", " ", text[tags.end() :])
        text = " ".join(text.replace("{", "").replace("}", "").split())
        if len(text.split()) >= 5:
            rows.append((tags.group(1).strip(), text))
    table = pd.DataFrame(rows, columns=["label", "text"])
    keep = table["label"].value_counts().index[:n_categories]
    return table[table["label"].isin(keep)].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Tables (each row: label, numeric feature columns)


def _mlbench(name: str, label: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        frame = _rda("r-cran-mlbench", name)
        features = frame.drop(columns=[label]).apply(pd.to_numeric, errors="raise")
        return pd.concat([frame[label].astype(str).rename("label"), features], axis=1)

    return load


def _cells() -> pd.DataFrame:
    frame = _lazyload("r-cran-modeldata", "cells")
    features = frame.drop(columns=["case", "class"]).astype(float)
    return pd.concat([frame["class"].astype(str).rename("label"), features], axis=1)


def _hpc() -> pd.DataFrame:
    """hpc_data: job class (VF, F, M, L); protocol and day one-hot, the rest numeric."""
    frame = _lazyload("r-cran-modeldata", "hpc_data")
    features = pd.get_dummies(frame.drop(columns=["class"]), dtype=float)
    return pd.concat([frame["class"].astype(str).rename("label"), features], axis=1)


MLBENCH = "Debian r-cran-mlbench 2.1-3 (CRAN mlbench; UCI repository data)"
MODELDATA = "Debian r-cran-modeldata 1.1.0 (CRAN modeldata, tidymodels)"
SETS: dict[str, SuiteSet] = {s.name: s for s in (
    SuiteSet("digits", "image", _digits, "scikit-learn load_digits (UCI optdigits test set)",
             "BSD-3-Clause (scikit-learn); UCI data CC BY 4.0"),
    SuiteSet("fashion", "image", _fashion, "Debian dataset-fashion-mnist (Zalando Research), train split",
             "MIT (Expat)"),
    SuiteSet("letters", "image", _letters, "A-Z rendered at 28x28 from Debian fonts-dejavu and "
             "fonts-liberation (8,000 images, seed 20261201)", "fonts: Bitstream Vera / SIL OFL 1.1"),
    SuiteSet("fine_foods", "text", _fine_foods, "the bundled demo data/fine_foods.csv.gz (r-cran-modeldata)",
             "MIT"),
    SuiteSet("austen", "text", _austen, "Debian r-cran-janeaustenr 1.0.0: passages of 5 lines, "
             "labelled by novel (6)", "MIT; the novels are in the public domain"),
    SuiteSet("wordnet", "text", _wordnet, "Debian wordnet-base 3.0: synset glosses labelled by "
             "lexicographer file (10 largest)", "WordNet 3.0 licence (BSD-like)"),
    SuiteSet("foldoc", "text", _foldoc, "Debian dict-foldoc 20230119: definitions with one "
             "category (8 commonest)", "GFDL 1.1 or later"),
    SuiteSet("letter", "tabular", _mlbench("LetterRecognition", "lettr"),
             f"{MLBENCH}: LetterRecognition, 20,000 x 16", "GPL-2 (package); UCI CC BY 4.0"),
    SuiteSet("satellite", "tabular", _mlbench("Satellite", "classes"),
             f"{MLBENCH}: Satellite (Statlog Landsat), 6,435 x 36", "GPL-2 (package); UCI CC BY 4.0"),
    SuiteSet("shuttle", "tabular", _mlbench("Shuttle", "Class"),
             f"{MLBENCH}: Shuttle (Statlog), 58,000 x 9", "GPL-2 (package); UCI CC BY 4.0"),
    SuiteSet("dna", "tabular", _mlbench("DNA", "Class"),
             f"{MLBENCH}: DNA (StatLog splice junctions), 3,186 x 180 binary",
             "GPL-2 (package); UCI CC BY 4.0"),
    SuiteSet("cells", "tabular", _cells, f"{MODELDATA}: cells (segmentation quality), 2,019 x 56",
             "MIT"),
    SuiteSet("hpc", "tabular", _hpc, f"{MODELDATA}: hpc_data (job classes), 4,331 x 26 after "
             "one-hot", "MIT"),
)}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Variants: a stratified draw, written as an importable file


@dataclass(frozen=True)
class Variant:
    """A set drawn at ``n`` items, written at ``path`` (how to import it: ``import_args``)."""

    set: SuiteSet
    n: int | None  # None: every item

    @property
    def name(self) -> str:
        return f"{self.set.name}@{self.n if self.n is not None else 'all'}"

    @property
    def path(self) -> Path:
        folder = SETS_DIR / self.name
        return folder / ("images" if self.set.kind == "image" else "items.csv")

    @property
    def import_args(self) -> dict:
        if self.set.kind == "image":
            return {"label_from_folder": True}
        if self.set.kind == "text":
            return {"text_col": "text", "label_col": "label"}
        return {"label_col": "label"}


def variants(name: str, size: int | None = None) -> list[Variant]:
    """The pool-size variants of set ``name`` (its size given when known)."""
    s = SETS[name]
    size = size if size is not None else _size(name)
    out = [Variant(s, SMALL if size > SMALL else None)]
    if size >= LARGE:
        out.append(Variant(s, LARGE))
    elif size >= LARGE_FROM:
        out.append(Variant(s, None))
    return out


def _size(name: str) -> int:
    meta = SETS_DIR / f"{name}.size"
    if not meta.exists():
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(str(len(SETS[name].load())))
    return int(meta.read_text())


def draw(table: pd.DataFrame, n: int | None, seed: int = DRAW_SEED) -> pd.DataFrame:
    """``n`` rows stratified by label (all rows for None), then the classes with fewer than
    :data:`MIN_PER_CLASS` rows dropped; in the original row order."""
    table = table.reset_index(drop=True)  # ids: positions in the whole set
    rows = np.arange(len(table))
    if n is not None and n < len(table):
        from sklearn.model_selection import train_test_split

        labels = table["label"].to_numpy()
        counts = pd.Series(labels).value_counts()
        common = np.isin(labels, counts[counts >= 2].index)
        rows, _ = train_test_split(
            rows[common], train_size=n, stratify=labels[common], random_state=seed
        )
        rows = np.sort(rows)
    chosen = table.iloc[rows]
    counts = chosen["label"].value_counts()
    return chosen[chosen["label"].isin(counts[counts >= MIN_PER_CLASS].index)]


def build(variant: Variant, table: pd.DataFrame | None = None) -> Path:
    """Write ``variant``'s file once (kept under the cache); its path."""
    if variant.path.exists():
        return variant.path
    table = draw(table if table is not None else variant.set.load(), variant.n)
    variant.path.parent.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=variant.path.parent.parent))
    try:
        _write(variant, table, staging / variant.path.name)
        shutil.rmtree(variant.path.parent, ignore_errors=True)
        staging.rename(variant.path.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return variant.path


def _write(variant: Variant, table: pd.DataFrame, target: Path) -> None:
    """An image folder (label folders of PNGs) or a CSV with an ``id`` column."""
    ids = [f"{variant.set.name}-{i:05d}" for i in table.index]
    if variant.set.kind != "image":
        table.insert(0, "id", ids)
        table.to_csv(target, index=False)
        return
    from PIL import Image

    for item_id, label, image in zip(ids, table["label"], table["image"], strict=True):
        folder = target / _safe(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(folder / f"{item_id}.png")


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(label))


def build_set(name: str) -> list[Variant]:
    """Every variant of set ``name``, built (the set is loaded once)."""
    todo = [v for v in variants(name) if not v.path.exists()]
    table = SETS[name].load() if todo else None
    for v in todo:
        build(v, table)
    return variants(name)


# ---------------------------------------------------------------------------------------------
# The split


def draw_split(seed: int = SPLIT_SEED) -> dict[str, list[str]]:
    """Tuning and reporting sets: :data:`SEEN_BEFORE` tune; the rest, shuffled per kind with
    ``seed``, fill the tuning half up to half of each kind (rounded down), the rest report."""
    rng = np.random.default_rng(seed)
    halves = {"tuning": [], "reporting": []}
    for kind in KINDS:
        names = [n for n, s in SETS.items() if s.kind == kind]
        seen = [n for n in names if n in SEEN_BEFORE]
        fresh = [n for n in names if n not in SEEN_BEFORE]
        fresh = [fresh[i] for i in rng.permutation(len(fresh))]
        n_tuning = max(len(seen), len(names) // 2)
        tuning = seen + fresh[: n_tuning - len(seen)]
        halves["tuning"] += tuning
        halves["reporting"] += [n for n in fresh if n not in tuning]
    for half, names in halves.items():
        for kind, least in MIN_PER_HALF.items():
            if sum(SETS[n].kind == kind for n in names) < least:
                raise SuiteDataError(f"the {half} half has fewer than {least} {kind} sets")
    return halves


def committed_split() -> dict[str, list[str]]:
    """The split committed in ``bench/suite_split.json``."""
    return json.loads(SPLIT_FILE.read_text())["halves"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    parser.add_argument(
        "--write-split",
        action="store_true",
        help=f"write {SPLIT_FILE.name} (done once, before tuning)",
    )
    args = parser.parse_args(argv)
    if args.write_split:
        record = {"seed": SPLIT_SEED, "seen_before": list(SEEN_BEFORE), "halves": draw_split()}
        SPLIT_FILE.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {SPLIT_FILE}")
    for name in [n.strip() for n in args.sets.split(",") if n.strip()]:
        if name not in SETS:
            print(f"unknown set {name!r}; choose from {', '.join(SETS)}", file=sys.stderr)
            return 2
        for v in build_set(name):
            n_items = (sum(1 for _ in v.path.rglob("*.png")) if v.set.kind == "image"
                       else len(pd.read_csv(v.path)))  # fmt: skip
            print(f"{v.name:20s} {v.set.kind:8s} {n_items:6d} items  {v.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
