"""Starting child processes safely from inside Streamlit (or AppTest)."""

from __future__ import annotations

import os
import sys
import threading
import time
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


def exit_with_parent(poll_seconds: float = 1.0) -> None:
    """End this process as soon as its parent is gone (a pool worker's initializer).

    A process pool's workers outlive a parent that is killed by a signal: each finishes the
    run it holds, minutes of CPU on a shared machine, before it notices. A daemon thread
    watches the parent's pid and exits at once when the process is re-parented.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
