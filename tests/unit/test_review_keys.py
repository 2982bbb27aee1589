"""Keyboard keys of the Review page's adjudication buttons, and the candidate rule."""

from __future__ import annotations

import numpy as np

from annotator.review import find_candidates, shortcut_keys


def test_single_character_labels_are_their_own_keys() -> None:
    assert shortcut_keys([str(d) for d in range(10)]) == {str(d): str(d) for d in range(10)}
    assert shortcut_keys(["a", "b"]) == {"a": "A", "b": "B"}


def test_other_labels_get_digits_in_order() -> None:
    labels = ["cat", "c", "dog"]  # "c" is reserved by Streamlit
    assert shortcut_keys(labels) == {"cat": "1", "c": "2", "dog": "3"}
    many = [f"class{i}" for i in range(12)]
    keys = shortcut_keys(many)
    assert keys["class8"] == "9" and keys["class9"] == "0" and keys["class10"] is None


def test_candidates_need_a_low_label_and_a_confident_other_class() -> None:
    proba = np.array(
        [
            [0.05, 0.90, 0.05],  # labelled a: flagged, suggests b
            [0.05, 0.50, 0.45],  # labelled a: the model is unsure of the alternative
            [0.02, 0.03, 0.95],  # labelled c: agrees
            [0.01, 0.99, 0.00],  # labelled a: flagged first (lowest p(label))
        ]
    )
    hits = find_candidates(proba, np.array(["a", "a", "c", "a"]), ["a", "b", "c"])
    assert [(i, s) for i, _, s, _ in hits] == [(3, "b"), (0, "b")]
    assert hits[0][1] == 0.01 and hits[0][3] == 0.99
