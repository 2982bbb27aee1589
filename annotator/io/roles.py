"""Which column of a table is the text, the label and the id: inferred from names and values
when the user did not say (``protolabel import`` and the Projects page alike).

- **label**: a column named ``label``, ``labels``, ``class``, ``category``, ``target`` or
  ``gold_label`` (any case; spaces and dashes read as underscores). Like ``--label-col`` it is
  hidden ground truth.
- **id**: a column named ``id``, ``ids``, ``item_id``, ``uid``, ``uuid``, ``key`` or
  ``doc_id`` whose sampled values are present and unique.
- **text**: a column named ``text``, ``content``, ``body``, ``message``, ``sentence``,
  ``review``, ``document``, ``comment`` or ``description`` that holds words, not numbers; else,
  when no other column is numeric (nothing to use as features), the non-numeric column with
  the longest values.

Explicit choices always win: a role given is never inferred, and a column given for one role
is never inferred for another. Names, not positions, decide, so adding a column to a file
never changes the meaning of the others.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LABEL_NAMES = ("label", "labels", "class", "category", "target", "gold_label")
ID_NAMES = ("id", "ids", "item_id", "uid", "uuid", "key", "doc_id")
TEXT_NAMES = ("text", "content", "body", "message", "sentence", "review", "document",
              "comment", "description")  # fmt: skip
#: Rows looked at per column: enough to tell numbers from words; ids are checked in full later.
SAMPLE_ROWS = 1000


@dataclass(frozen=True)
class Roles:
    """Column names for the roles (None: no such column)."""

    text: str | None = None
    label: str | None = None
    id: str | None = None

    def describe(self) -> str:
        """``text 'body', label 'label' (hidden ground truth), id 'id'``; "" if none."""
        parts = []
        if self.text is not None:
            parts.append(f"text {self.text!r}")
        if self.label is not None:
            parts.append(f"label {self.label!r} (hidden ground truth)")
        if self.id is not None:
            parts.append(f"id {self.id!r}")
        return ", ".join(parts)


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().casefold())


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return not (isinstance(value, str) and not value.strip())


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return type(value).__module__ == "numpy" and hasattr(value, "dtype")


def numeric(values: Sequence[Any]) -> bool:
    """More than half of the present values are numbers (the readers' rule for features)."""
    present = [v for v in values if _present(v)]
    return bool(present) and sum(map(_is_number, present)) * 2 > len(present)


#: A numeric column named like a label is one only when it holds few whole numbers (class
#: codes); a measured quantity called "target" stays a feature.
MAX_NUMERIC_CLASSES = 50


def _categorical(values: Sequence[Any]) -> bool:
    if not numeric(values):
        return True
    present = [v for v in values if _present(v)]
    try:
        numbers = [float(v) for v in present]
    except (TypeError, ValueError):
        return True
    whole = all(math.isfinite(x) and x.is_integer() for x in numbers)
    return whole and len(set(numbers)) <= MAX_NUMERIC_CLASSES


def _mean_length(values: Sequence[Any]) -> float:
    present = [str(v) for v in values if _present(v)]
    return sum(map(len, present)) / len(present) if present else 0.0


def infer_roles(
    columns: Sequence[str],
    sample: Mapping[str, Sequence[Any]],
    *,
    given: Roles = Roles(),
    features_given: bool = False,
    features: Sequence[str] = (),
) -> Roles:
    """The roles ``given`` with the missing ones inferred from ``sample`` (the first values of
    each column). ``features_given``: feature columns were chosen, so no text is inferred;
    ``features`` are those columns (never inferred for another role)."""
    taken = {c for c in (given.text, given.label, given.id) if c is not None} | set(features)
    by_key = {}
    for column in columns:
        by_key.setdefault(_key(column), column)

    def named(names: Sequence[str]) -> list[str]:
        return [by_key[n] for n in names if n in by_key and by_key[n] not in taken]

    label = given.label
    if label is None:
        label = next((c for c in named(LABEL_NAMES) if _categorical(sample.get(c, []))), None)
        if label is not None:
            taken.add(label)
    ident = given.id
    if ident is None:
        for column in named(ID_NAMES):
            values = [str(v).strip() for v in sample.get(column, [])]
            if values and all(values) and len(set(values)) == len(values):
                ident = column
                taken.add(column)
                break
    text = given.text
    if text is None and not features_given:
        text = _infer_text(columns, sample, named(TEXT_NAMES), taken)
    return Roles(text=text, label=label, id=ident)


def _infer_text(
    columns: Sequence[str], sample: Mapping[str, Sequence[Any]], named: list[str], taken: set
) -> str | None:
    for column in named:
        if not numeric(sample.get(column, [])):
            return column
    free = [c for c in columns if c not in taken]
    if any(numeric(sample.get(c, [])) for c in free):
        return None  # numeric columns: a feature table
    words = [c for c in free if _mean_length(sample.get(c, [])) > 0]
    return max(words, key=lambda c: _mean_length(sample.get(c, [])), default=None)
