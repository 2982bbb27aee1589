"""Class descriptions for zero-shot priors: names as words, which names carry meaning."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.zero_shot import (
    TEMPLATES,
    has_meaning,
    label_set_has_meaning,
    label_words,
    prior_texts,
)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("noun.animal", "noun animal"),
        ("operating system", "operating system"),
        ("customer_support", "customer support"),
        ("billingIssue", "billing Issue"),
        ("a--b//c", "a b c"),
        ("  spaced   out ", "spaced out"),
        ("Émile", "Émile"),
    ],
)
def test_label_words(name: str, words: str) -> None:
    assert label_words(name) == words


@pytest.mark.parametrize(
    ("name", "meaningful"),
    [
        ("pos", True),
        ("noun.animal", True),
        ("猫猫", True),
        ("1", False),
        ("A", False),
        ("x1", False),
        ("4.5", False),
        ("", False),
        ("class_2", True),  # a word, though one a label set may share (below)
    ],
)
def test_has_meaning(name: str, meaningful: bool) -> None:
    assert has_meaning(name) is meaningful


def test_a_label_set_has_meaning_only_when_every_name_does() -> None:
    assert label_set_has_meaning(["spam", "ham"])
    assert label_set_has_meaning(["noun.animal", "noun.plant", "verb.motion"])
    assert not label_set_has_meaning(["spam", "2"])
    assert not label_set_has_meaning(["class_1", "class_2"])  # only digits tell them apart
    assert not label_set_has_meaning(["type a", "type b"])  # single letters are not words
    assert not label_set_has_meaning(["spam"])
    assert not label_set_has_meaning([])


def test_prior_texts_fill_the_template_and_append_the_guideline() -> None:
    texts = prior_texts(["noun.animal", "billing"], "about", {"billing": "  Invoices, refunds. "})
    assert texts == [
        "This text is about noun animal.",
        "This text is about billing. Invoices, refunds.",
    ]
    assert prior_texts(["x_y"], "name") == ["x y"]
    assert set(TEMPLATES) >= {"name", "about"}
    with pytest.raises(ValueError, match="unknown template 'nope'; choose name, about"):
        prior_texts(["a"], "nope")


def test_applies_to_text_with_meaningful_names_only() -> None:
    from annotator.zero_shot import applies

    assert applies("text", ["spam", "ham"])
    assert not applies("text", ["1", "2"])
    assert not applies("image", ["cat", "dog"])  # no text-image model ships offline
    assert not applies("features", ["cat", "dog"])


def test_prior_rows_are_the_featurizers_rows_of_the_descriptions() -> None:
    from annotator.io import make_featurizer
    from annotator.io.dataset import ImportedData
    from annotator.zero_shot import TEMPLATE, prior_rows

    items = ImportedData(
        kind="text", source="t", ids=["a", "b", "c"],
        texts=["billing and refunds", "a noun animal", "shipping delays"],
    )  # fmt: skip
    featurizer = make_featurizer("tfidf", progress=False).fit(items)
    rows = prior_rows(featurizer, ["noun.animal", "billing"], {"billing": "refunds"})
    assert list(rows) == ["noun.animal", "billing"]
    texts = prior_texts(["noun.animal", "billing"], TEMPLATE, {"billing": "refunds"})
    expected = featurizer.transform(
        ImportedData(kind="text", source="d", ids=["x", "y"], texts=texts), progress=False
    )
    np.testing.assert_allclose(np.stack(list(rows.values())), expected)


class _Stub:
    """A featurizer whose rows for the descriptions are given (the texts are ignored)."""

    def __init__(self, rows) -> None:
        self.rows = np.asarray(rows, dtype=np.float32)

    def transform(self, data, progress=False):
        return self.rows


def test_prior_rows_have_unit_length_so_a_short_description_wins_nothing() -> None:
    from annotator.zero_shot import prior_rows
    from meta import ProtoNetClassifier

    # "b"'s description lost its word half (no known word): same direction, norm 1 / sqrt(2)
    raw = [[1.0, 0.0, 0.0, 0.0], [0.0, np.sqrt(0.5), 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    rows = prior_rows(_Stub(raw), ["a", "b", "c"])
    np.testing.assert_allclose([np.linalg.norm(rows[k]) for k in "abc"], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(rows["b"], [0.0, 1.0, 0.0, 0.0])
    # items mostly like "a": by Euclidean distance to the raw rows, "b" (shorter) took them
    items = np.array([[0.4, 0.3, np.sqrt(0.75), 0.0], [0.45, 0.35, 0.0, np.sqrt(0.675)]])
    assert (items @ np.asarray(raw)[0] > items @ np.asarray(raw)[1] * np.sqrt(2)).all()
    shorter = np.argmin(((items[:, None] - np.asarray(raw)[None, :2]) ** 2).sum(-1), axis=1)
    assert shorter.tolist() == [1, 1]
    model = ProtoNetClassifier(random_state=0, device="cpu", max_steps=0, linear_l2=None)
    model.fit(np.empty((0, 4), dtype=np.float32), [], priors={k: rows[k] for k in "ab"})
    assert model.predict(items).tolist() == ["a", "a"]
