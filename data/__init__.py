"""Demo data shipped with protolabel (installed as the package ``protolabel_data``).

``fine_foods.csv.gz``: 5,000 Amazon fine-food reviews (columns id, text, label; labels
``great`` / ``other``), from the R package modeldata via Debian; see README.md here.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

DEMOS = {"fine_foods": "fine_foods.csv.gz"}


def demo_path(name: str) -> Path:
    """The file of demo ``name`` (``"fine_foods"`` or its file name ``"fine_foods.csv.gz"``)."""
    file_name = DEMOS.get(name, name)
    path = Path(str(importlib.resources.files(__name__) / file_name))
    if file_name not in DEMOS.values() or not path.is_file():
        known = ", ".join(f"{key} ({value})" for key, value in DEMOS.items())
        raise FileNotFoundError(f"no demo data named {name!r}; available: {known}")
    return path
