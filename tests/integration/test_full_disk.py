"""A full disk (issue #13): a clear one-line message without SQL or its parameters, what was
acknowledged kept, nothing half-written, and no WAL that grows with each failed attempt.

SQLite reports a full disk as ``SQLITE_FULL`` ("database or disk is full"); ``PRAGMA
max_page_count`` produces that same error portably, so these tests need no small file system.
A real one was checked by hand (a 3 MB tmpfs; see the closing note of #13).
"""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event

from annotator import cli, loop, services
from annotator.config import Settings
from annotator.errors import DatabaseUnavailableError
from annotator.services import ImportOptions
from annotator.store import db as store_db
from annotator.store import features as feature_store
from annotator.store.db import Store
from tests.integration.helpers import snapshot

P = "full"


class PageLimit:
    """Caps every new SQLite connection at ``pages`` pages (None: no cap)."""

    def __init__(self) -> None:
        self.pages: int | None = None

    def __call__(self, dbapi_conn, _record) -> None:  # noqa: ANN001
        if self.pages is not None:
            dbapi_conn.execute(f"PRAGMA max_page_count = {self.pages}")


@pytest.fixture
def limit(monkeypatch: pytest.MonkeyPatch) -> PageLimit:
    """Every engine made in the test (the CLI's included) obeys the cap."""
    cap = PageLimit()
    configure = store_db._configure_sqlite

    def with_cap(engine) -> None:  # noqa: ANN001
        configure(engine)
        event.listen(engine, "connect", cap)

    monkeypatch.setattr(store_db, "_configure_sqlite", with_cap)
    return cap


def _blobs(folder: Path, n: int, name: str = "blobs") -> Path:
    rng = np.random.default_rng(0)
    k = np.arange(n) % 2
    path = folder / f"{name}.npz"
    np.savez(path, X=rng.normal(size=(n, 16)) + k[:, None] * 4, y=np.array(["a", "b"])[k])
    return path


def _page_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA page_count").scalar())


def _wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_full_database_refuses_a_decision_in_one_line_and_keeps_the_others(
    limit: PageLimit, tmp_path: Path
) -> None:
    path = tmp_path / "p.db"
    store = Store.open(Settings(db_url=f"sqlite:///{path}"))
    services.import_path(store, _blobs(tmp_path, 40), P, ImportOptions())
    loop.configure(store, P, strategy="random", batch_size=20)
    items = loop.claim_next(store, P, "ann", n=20)
    kept = [loop.submit(store, P, it.item_id, "a", annotator="ann", owner="ann").annotation_id
            for it in items[:3]]  # fmt: skip
    limit.pages = _page_count(store)  # the disk is now full: not one page more
    store.engine.dispose()
    big = "x" * 200_000  # an event id this long needs new pages
    wal_sizes = []
    for it in items[3:8]:
        with pytest.raises(DatabaseUnavailableError) as caught:
            loop.submit(store, P, it.item_id, "a", annotator="ann", owner="ann",
                           client_event=big + str(it.item_id))  # fmt: skip
        message = str(caught.value)
        assert "database or disk is full" in message and "nothing was written" in message
        assert "\n" not in message and "INSERT" not in message and "xxxx" not in message
        wal_sizes.append(_wal_size(path))
    assert len(set(wal_sizes)) == 1, f"the WAL grows with each failed attempt: {wal_sizes}"
    limit.pages = None  # space again
    store.engine.dispose()
    assert [h.annotation_id for h in loop.history(store, P)][::-1] == kept
    loop.submit(store, P, items[3].item_id, "b", annotator="ann", owner="ann")
    store.dispose()
    assert _wal_size(path) == 0  # the last connection closed: checkpointed and removed


def test_the_cli_on_a_full_database_prints_one_line_and_exits_2(
    limit: PageLimit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.db"
    assert cli.main(["import", str(_blobs(tmp_path, 10)), "--project", "small",
                     "--db", str(path)]) == 0  # fmt: skip
    store = Store.open(Settings(db_url=f"sqlite:///{path}"))
    limit.pages = _page_count(store)
    store.dispose()
    capsys.readouterr()
    big = _blobs(tmp_path, 5000, "big")
    assert cli.main(["import", str(big), "--project", "big", "--db", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "database or disk is full" in err, err
    limit.pages = None
    assert cli.main(["projects", "--db", str(path)]) == 0
    listed = capsys.readouterr().out
    assert "small" in listed and "big" not in listed


def test_a_full_disk_for_the_feature_files_refuses_the_import_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(Settings(db_url=f"sqlite:///{tmp_path / 'p.db'}"))
    services.import_path(store, _blobs(tmp_path, 10), "first", ImportOptions())
    before = snapshot(store)

    def no_space(fh, header) -> None:  # noqa: ANN001
        fh.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(feature_store.np.lib.format, "write_array_header_1_0", no_space)
    with pytest.raises(DatabaseUnavailableError) as caught:
        services.import_path(store, _blobs(tmp_path, 20, "more"), "second", ImportOptions())
    assert str(caught.value) == (
        f"cannot write the features to {store.features_dir()} (No space left on device); "
        "nothing was written"
    )
    assert snapshot(store) == before  # no project, no half-written feature file
    store.dispose()
