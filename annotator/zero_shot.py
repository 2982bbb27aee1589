"""Class descriptions as text (issue 18, zero-shot prototypes): a prior for each class before
it has labels, written from its name and guideline through a prompt template, then embedded
by the project's own text featurizer.

Snell et al. (2017, "Prototypical networks for few-shot learning", section 2.3) treat
zero-shot learning as a prototype computed from a description of the class instead of from
its examples; here the description is the class's name (and guideline) in a short sentence.

Which template, and whether a label set carries meaning at all, is decided here; the
embedding is the featurizer's (:func:`prior_rows`), the prototypes the learner's
(``meta.ProtoNetClassifier.fit(priors=...)``).
"""

from __future__ import annotations

import re

import numpy as np

#: Candidate templates, screened on the suite's tuning half (``bench/zero_shot.py``);
#: ``{words}`` is the class name as words, ``{guideline}`` its guideline ("" when none).
TEMPLATES = {
    "name": "{words}",
    "about": "This text is about {words}.",
    "topic": "Topic: {words}.",
    "kind": "A text of the kind {words}.",
}

#: The template in use: chosen on the tuning half's FOLDOC (README, "Features that carry
#: meaning"; the fine-food reviews stayed at their majority share with every template).
TEMPLATE = "name"

_SEPARATORS = re.compile(r"[_\-./:|]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_WORD = re.compile(r"[^\W\d_]{2,}")  # a run of two letters or more, in any script


def label_words(name: str) -> str:
    """A class name as words: separators (``_ - . / : |``) and camelCase become spaces."""
    spaced = _CAMEL.sub(" ", _SEPARATORS.sub(" ", name))
    return " ".join(spaced.split())


def has_meaning(name: str) -> bool:
    """True when the name holds a word (two letters or more): ``noun.animal``, ``pos`` and
    ``spam`` do; ``1``, ``A``, ``x1`` or ``4.5`` do not. Names without a word carry nothing a
    text model can match, so zero-shot stays off for them."""
    return _WORD.search(name) is not None


def label_set_has_meaning(names: list[str]) -> bool:
    """Zero-shot applies to a label set only when every name has a word of its own: a word
    (:func:`has_meaning`) that not all the names share. ``noun.animal`` / ``noun.plant`` and
    ``spam`` / ``ham`` do; ``class_1`` / ``class_2`` (only digits tell them apart) and ``1`` /
    ``2`` do not. One class without a prior of its own would be ranked unfairly against the
    described ones, so it is all or none."""
    words = [{w.lower() for w in _WORD.findall(name)} for name in names]
    if len(words) < 2:
        return False
    shared = set.intersection(*words)
    return all(own - shared for own in words)


def prior_texts(
    names: list[str], template: str, guidelines: dict[str, str] | None = None
) -> list[str]:
    """One description per class, in the order of ``names``: the template filled with the
    name's words, then the guideline's text when there is one."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; choose {', '.join(TEMPLATES)}")
    guidelines = guidelines or {}
    out = []
    for name in names:
        text = TEMPLATES[template].format(words=label_words(name))
        extra = (guidelines.get(name) or "").strip()
        out.append(f"{text} {extra}" if extra else text)
    return out


def applies(kind: str, names: list[str]) -> bool:
    """Zero-shot prototypes serve text projects (no text-image model ships offline) whose
    label set has meaning (:func:`label_set_has_meaning`)."""
    return kind == "text" and label_set_has_meaning(list(names))


def prior_rows(
    featurizer, names: list[str], guidelines: dict[str, str] | None = None
) -> dict[str, np.ndarray]:
    """Each class's description (:data:`TEMPLATE`, :func:`prior_texts`) as a row of the
    project's features: ``featurizer`` is the one fitted on its items, so the rows sit in the
    items' space. Returns {name: (d,) float32}, as ``ProtoNetClassifier.fit(priors=...)``
    takes it."""
    from annotator.io.dataset import ImportedData

    texts = prior_texts(names, TEMPLATE, guidelines)
    data = ImportedData(kind="text", source="class descriptions", ids=list(names), texts=texts)
    rows = np.asarray(featurizer.transform(data, progress=False), dtype=np.float32)
    # Unit length: the learner's prototypes compare by Euclidean distance, under which a
    # shorter row is nearer to everything. A description without a word of the items'
    # vocabulary has an empty tf-idf half (norm 1 / sqrt(2) in minilm+tfidf instead of 1), and
    # its class would win most items for that alone (seen on a reporting set whose book titles
    # are unknown words). With equal norms the nearest description is the most similar one.
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows = rows / np.where(norms > 0, norms, 1.0).astype(np.float32)
    return dict(zip(names, rows, strict=True))
