"""The label card component (Streamlit components v2, inline JS and CSS shipped in the package)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import streamlit as st

_ASSETS = resources.files("annotator.ui")
_label_card = st.components.v2.component(
    "protolabel_label_card",
    js=(_ASSETS / "label_card.js").read_text(encoding="utf-8"),
    css=(_ASSETS / "label_card.css").read_text(encoding="utf-8"),
)

CARD_KEY = "label_card"


def label_card(payload: dict[str, Any]) -> None:
    """Render the card. What it sends back (``labelling.CardSync``) arrives as its state
    ``sync`` in ``st.session_state[CARD_KEY]`` and reruns the calling fragment."""
    _label_card(key=CARD_KEY, data=payload, on_sync_change=lambda: None)
