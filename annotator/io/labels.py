"""The label set of a project: given explicitly (``--labels a,b,c``) or read from the data.

Rules of :func:`resolve_label_set`:

- An explicit set wins, in the order given; it needs at least 2 distinct, non-empty names, and
  every ground-truth label in the data must be one of them.
- Otherwise the set is the distinct ground-truth labels in natural order (``"2"`` before
  ``"10"``, case-insensitive, then by the exact text); there must be at least 2.
- With neither, the error says to pass ``--labels`` or ``--label-col``.

Every label name (given, read from the data, or added on the Label set page) is checked by
:func:`check_label_name`: not empty, at most ``MAX_LABEL`` characters, no control characters
(line breaks, tabs, NUL, ...), so that it shows on one line, on a button and in a file.

Errors are :class:`LabelError` with a one-line message; pass ``source`` (the file) and ``ids``
to have them named in it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from annotator.errors import LabelError

_CHUNKS = re.compile(r"(\d+)")
#: The longest label name.
MAX_LABEL = 100


def check_label_name(label: str, *, where: str = "") -> str:
    """The name stripped of surrounding spaces, or a ``LabelError`` saying what is wrong
    (``where`` prefixes the message, e.g. the file)."""
    name = (label or "").strip()
    if not name:
        raise LabelError(f"{where}the label name is empty")
    if len(name) > MAX_LABEL:
        raise LabelError(
            f"{where}label name {name[:40]!r}... is {len(name)} characters long; "
            f"at most {MAX_LABEL}"
        )
    bad = next((ch for ch in name if unicodedata.category(ch) == "Cc"), None)
    if bad is not None:
        raise LabelError(
            f"{where}label name {name[:60]!r} has a control character ({bad!r}); "
            "a label is one line of text"
        )
    return name


def natural_key(label: str) -> tuple:
    """Sort key: digit runs compare as numbers, the rest case-insensitively; ties by the text."""
    parts = tuple(
        (0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk.casefold())
        for chunk in _CHUNKS.split(label)
        if chunk
    )
    return (parts, label)


def parse_labels(explicit: Sequence[str] | str) -> list[str]:
    """``"a, b,c"`` or ``["a", "b", "c"]`` -> ``["a", "b", "c"]``, validated."""
    given = explicit.split(",") if isinstance(explicit, str) else [str(x) for x in explicit]
    names = [name.strip() for name in given]
    shown = ",".join(given)
    for position, name in enumerate(names, start=1):
        if not name:
            raise LabelError(f"--labels {shown!r}: label {position} is empty")
        check_label_name(name, where="--labels: ")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise LabelError(f"--labels {shown!r}: duplicate label {name!r}")
        seen.add(name)
    if len(names) < 2:
        raise LabelError(
            f"--labels {shown!r}: a label set needs at least 2 labels, got {len(names)}"
        )
    return names


def check_labels_in_set(
    labels: Sequence[str | None],
    label_set: Sequence[str],
    *,
    source: str | None = None,
    ids: Sequence[str] | None = None,
) -> None:
    """Raise if a ground-truth label is outside ``label_set``, naming it and its first row."""
    allowed = set(label_set)
    for row, label in enumerate(labels):
        if label is not None and label not in allowed:
            count = sum(1 for x in labels if x == label)
            where = f"row {row}" + (f" (id {ids[row]!r})" if ids is not None else "")
            raise LabelError(
                f"{_prefix(source)}label {label!r} in {where}"
                + (f" and {count - 1} more rows" if count > 1 else "")
                + f" is not in the label set {', '.join(label_set)}"
            )


def resolve_label_set(
    labels: Sequence[str | None] | None,
    explicit: Sequence[str] | str | None,
    *,
    source: str | None = None,
    ids: Sequence[str] | None = None,
) -> list[str]:
    """The project's label set from the data's ground truth and/or ``--labels``."""
    if explicit is not None and (not isinstance(explicit, str) or explicit.strip()):
        label_set = parse_labels(explicit)
        if labels is not None:
            check_labels_in_set(labels, label_set, source=source, ids=ids)
        return label_set
    present = [label for label in labels or () if label is not None]
    if not present:
        raise LabelError(
            f"{_prefix(source)}no labels: pass --labels a,b,... or --label-col COLUMN "
            "(or --label-from-folder for an image folder)"
        )
    if any(not label.strip() for label in present):
        raise LabelError(f"{_prefix(source)}the ground truth has an empty label name")
    distinct = sorted(set(present), key=natural_key)
    for label in distinct:
        check_label_name(label, where=_prefix(source))
    if len(distinct) < 2:
        raise LabelError(
            f"{_prefix(source)}the ground truth has only 1 distinct label ({distinct[0]!r}); "
            "a label set needs at least 2: pass --labels a,b,..."
        )
    return distinct


def _prefix(source: str | None) -> str:
    return f"{source}: " if source else ""
