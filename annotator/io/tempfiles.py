"""Temporary files and folders that a killed import or export may leave behind, named so that
the next run can tell whose they are and remove them.

A name carries its writer: ``.<stem>.<host>-<pid>-<random>.<tag>``. ``sweep`` removes the
leftovers of writers that are gone (same host, no such process any more); a live writer's file,
or one another host wrote (a shared folder), is left alone.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
from pathlib import Path

_HOST = re.sub(r"[^A-Za-z0-9-]+", "-", socket.gethostname())[:40] or "host"
_OWNER = re.compile(r"\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)-[0-9a-f]+\.[a-z]+$")


def temp_path(folder: Path, stem: str, tag: str = "tmp") -> Path:
    """A fresh name in ``folder`` for a temporary copy of ``stem``, owned by this process."""
    return folder / f".{stem}.{_HOST}-{os.getpid()}-{secrets.token_hex(6)}.{tag}"


def sweep(folder: Path, stem: str) -> list[Path]:
    """Remove ``folder``'s temporary copies of ``stem`` whose writer has died; return them."""
    removed = []
    try:
        candidates = list(folder.glob(f".{glob_escape(stem)}.*"))
    except OSError:
        return removed
    for path in candidates:
        match = _OWNER.search(path.name)
        if match is None or match["host"] != _HOST or _alive(int(match["pid"])):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
