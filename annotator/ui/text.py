"""Showing data as text: names, labels and instructions come from users' files, never markup."""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<&$:])")


def escape_markdown(text: str) -> str:
    """``text`` with every Markdown (and HTML) special character escaped, for st.markdown & co."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))
