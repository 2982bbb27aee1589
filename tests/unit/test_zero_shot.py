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
