"""Starting child processes safely from inside Streamlit (or AppTest)."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def plain_main() -> Iterator[None]:
    """Let multiprocessing's spawn start children without re-running the caller's script.

    Spawn re-imports the parent's ``__main__`` from its file in every child; under Streamlit
    that file is the page script (and under AppTest a temporary script), which must not run
    there. For the duration, ``__main__`` is a module with no file, so children skip it.
    """
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved
