"""The label card's keys (annotator.loop.card.keymap): Skip and Undo never take a key that
starts a label, the project's own keys win, and label sets larger than the keys still work."""

from __future__ import annotations

import pytest

from annotator.errors import ProtolabelError
from annotator.loop.card import LABEL_KEYS, check_custom_keys, keymap


def test_digits_keep_their_keys_and_skip_undo_stay_s_z() -> None:
    keys = keymap([str(d) for d in range(10)])
    assert keys.labels == {str(d): str(d) for d in range(10)}
    assert (keys.skip, keys.undo) == ("s", ("z", "Backspace"))


def test_skip_and_undo_never_take_a_labels_initial() -> None:
    keys = keymap(["billing", "support"])
    assert keys.labels == {"billing": "1", "support": "2"}
    assert keys.skip not in ("s", "b") and keys.skip == "x"
    keys = keymap(["spam", "xmas", "quote", "zebra", "urgent"])
    initials = {"s", "x", "q", "z", "u"}
    assert keys.skip == "-" and keys.skip not in initials
    assert keys.undo == ("=", "Backspace")


def test_a_one_character_label_is_its_own_key_and_pushes_skip_away() -> None:
    keys = keymap(["s", "t"])
    assert keys.labels == {"s": "s", "t": "t"} and keys.skip == "x"


def test_the_projects_own_keys_win_and_the_others_fill_in() -> None:
    keys = keymap(["billing", "support", "other"], {"billing": "b", "support": "S"})
    assert keys.labels == {"billing": "b", "support": "s", "other": "1"}
    assert keys.skip == "x" and keys.undo == ("z", "Backspace")
    assert all(k not in {keys.skip, *keys.undo} for k in keys.labels.values())


@pytest.mark.parametrize("n", [80, 1000])
def test_more_labels_than_keys_leaves_the_rest_to_the_search(n: int) -> None:
    labels = [f"class {i:04d}" for i in range(n)]
    keys = keymap(labels)
    keyed = [k for k in keys.labels.values() if k is not None]
    assert len(keyed) == len(set(keyed)) == len(LABEL_KEYS) - 2  # c starts every label: x, z
    assert sum(k is None for k in keys.labels.values()) == n - len(keyed)
    assert keys.skip == "s" and keys.undo == ("z", "Backspace")
    assert keys.skip not in keyed and "z" not in keyed


def test_custom_keys_are_checked() -> None:
    labels = ["a1", "b1"]
    assert check_custom_keys(labels, {"a1": " Q ", "b1": ""}) == {"a1": "q"}
    for custom, message in (
        ({"zz": "q"}, "not in the label set"),
        ({"a1": "qq"}, "one character"),
        ({"a1": "\x01"}, "one character"),
        ({"a1": "q", "b1": "Q"}, "given to both"),
    ):
        with pytest.raises(ProtolabelError, match=message):
            check_custom_keys(labels, custom)


def test_the_search_key_is_never_a_labels_key_and_skip_never_takes_an_initial() -> None:
    with pytest.raises(ProtolabelError, match="opens the card's search"):
        check_custom_keys(["a1"], {"a1": "/"})
    labels = [f"{c}{i}" for i, c in enumerate("sxq-.;")]  # every Skip candidate is an initial
    keys = keymap(labels)
    assert keys.skip is None  # Skip is then a click, never a label's initial
    assert "/" not in keymap([f"l{i}" for i in range(100)]).labels.values()
