"""The ``protolabel`` command line: exit codes, one-line errors, backup, delete."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from annotator.cli import main


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    pd.DataFrame({"text": [f"item {i}" for i in range(6)], "label": ["a", "b"] * 3}).to_csv(
        path, index=False
    )
    return path


def test_import_projects_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "p.db")
    assert (
        main(
            [
                "import",
                str(_csv(tmp_path)),
                "--project",
                "t",
                "--text-col",
                "text",
                "--label-col",
                "label",
                "--as-annotations",
                "--db",
                db,
            ]
        )
        == 0
    )
    assert "imported 6 text items" in capsys.readouterr().out
    assert main(["projects", "--db", db, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["name"], row["items"], row["labelled"], row["skipped"]) == ("t", 6, 6, 0)
    out = tmp_path / "out.parquet"
    assert (
        main(["export", "--project", "t", "--format", "parquet", "--out", str(out), "--db", db])
        == 0
    )
    assert len(pd.read_parquet(out)) == 6


def test_user_error_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "p.db")
    code = main(["import", str(_csv(tmp_path)), "--project", "t", "--text-col", "txet", "--db", db])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("protolabel: error: ") and err.count("\n") == 1
    assert "txet" in err and "t.csv" in err


def test_env_var_selects_database(tmp_path: Path, monkeypatch, capsys) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("PROTOLABEL_DB", str(db))
    assert (
        main(
            [
                "import",
                str(_csv(tmp_path)),
                "--project",
                "t",
                "--text-col",
                "text",
                "--labels",
                "a,b",
            ]
        )
        == 0
    )
    assert db.exists()


def test_delete_needs_yes_without_a_terminal(tmp_path: Path, capsys, monkeypatch) -> None:
    db = str(tmp_path / "p.db")
    main(
        [
            "import",
            str(_csv(tmp_path)),
            "--project",
            "t",
            "--text-col",
            "text",
            "--labels",
            "a,b",
            "--db",
            db,
        ]
    )
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["delete", "--project", "t", "--db", db]) == 2
    assert "--yes" in capsys.readouterr().err
    assert main(["delete", "--project", "t", "--db", db, "--yes"]) == 0
    capsys.readouterr()
    main(["projects", "--db", db, "--json"])
    assert json.loads(capsys.readouterr().out) == []


def test_backup_is_a_consistent_copy(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "p.db")
    main(
        [
            "import",
            str(_csv(tmp_path)),
            "--project",
            "t",
            "--text-col",
            "text",
            "--labels",
            "a,b",
            "--db",
            db,
        ]
    )
    out = tmp_path / "backup.db"
    assert main(["backup", "--out", str(out), "--db", db]) == 0
    with sqlite3.connect(out) as conn:
        assert conn.execute("select count(*) from items").fetchone() == (6,)
    assert (
        main(
            [
                "export",
                "--project",
                "t",
                "--format",
                "csv",
                "--out",
                str(tmp_path / "x.csv"),
                "--db",
                str(out),
            ]
        )
        == 0
    )


def test_backup_refuses_postgres(capsys) -> None:
    from annotator import services
    from annotator.config import Settings
    from annotator.errors import ProtolabelError
    from annotator.store.db import Store

    store = Store(Settings(db_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    with pytest.raises(ProtolabelError, match="pg_dump"):
        services.backup(store, "x.db")


def test_help_mentions_every_subcommand() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "annotator.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for command in ("import", "export", "projects", "delete", "backup", "app"):
        assert command in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "annotator.cli", "import", "--help"], capture_output=True, text=True
    )
    for flag in (
        "--text-col",
        "--feature-cols",
        "--id-col",
        "--label-col",
        "--label-from-folder",
        "--labels",
        "--features",
        "--as-annotations",
        "--append",
        "minilm",
        "efficientnet",
    ):
        assert flag in result.stdout


def test_csv_export_defuses_formulas_unless_raw_cells(tmp_path: Path, capsys) -> None:
    data = tmp_path / "f.csv"
    pd.DataFrame({"text": ["=1+1", "@x", "fine"], "label": ["a", "b", "a"]}).to_csv(
        data, index=False
    )
    db = str(tmp_path / "f.db")
    args = ["import", str(data), "--project", "f", "--text-col", "text", "--label-col", "label"]
    assert main([*args, "--as-annotations", "--db", db]) == 0
    safe, raw = tmp_path / "safe.csv", tmp_path / "raw.csv"
    assert (
        main(["export", "--project", "f", "--format", "csv", "--out", str(safe), "--db", db]) == 0
    )
    assert main(["export", "--project", "f", "--format", "csv", "--out", str(raw), "--db", db,
                 "--raw-cells"]) == 0  # fmt: skip
    assert sorted(pd.read_csv(safe)["text"]) == ["'=1+1", "'@x", "fine"]
    assert sorted(pd.read_csv(raw)["text"]) == ["=1+1", "@x", "fine"]


def test_a_bad_input_with_a_new_database_path_creates_no_database(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\n")  # no rows
    db = tmp_path / "new" / "fresh.db"
    args = ["import", str(bad), "--project", "p", "--text-col", "text", "--db", str(db)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv" in err
    assert not db.exists() and not list(db.parent.iterdir())
    good = _csv(tmp_path)
    ok = ["import", str(good), "--project", "p", "--text-col", "text", "--label-col", "label"]
    assert main([*ok, "--db", str(db)]) == 0
    assert main(["import", str(bad), "--project", "q", "--text-col", "text", "--db", str(db)]) == 2
    assert db.exists()  # an existing database is never removed


def test_import_infers_the_columns_and_the_project_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "support_emails.csv"
    pd.DataFrame({
        "id": ["e1", "e2", "e3", "e4"],
        "text": ["Invoice missing", "App crashes", "Refund please", "Login broken"],
        "label": ["billing", "support", "billing", "support"],
    }).to_csv(path, index=False)  # fmt: skip
    db = str(tmp_path / "p.db")
    assert main(["import", str(path), "--db", db]) == 0
    out = capsys.readouterr().out
    assert (
        "inferred from the column names: text 'text', label 'label' (hidden ground truth), "
        "id 'id'" in out
    )
    assert "imported 4 text items into 'support_emails'" in out
    assert "features: minilm+tfidf" in out and "\nauto: minilm+tfidf (about " in out
    assert main(["export", "--project", "support_emails", "--format", "jsonl", "--all",
                 "--out", str(tmp_path / "o.jsonl"), "--db", db]) == 0  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["e1", "e2", "e3", "e4"]
    assert all(r["label"] is None for r in rows)  # the inferred label is hidden ground truth
    assert main(["import", str(path), "--project", "plain", "--no-infer", "--db", db]) == 2
    assert "no numeric feature columns" in capsys.readouterr().err


def test_embed_limit_takes_positive_minutes_and_auto_keeps_tfidf_over_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.db"
    args = ["import", str(_csv(tmp_path)), "--text-col", "text", "--label-col", "label"]
    for bad in ("0", "-1", "soon", "inf", "nan"):
        with pytest.raises(SystemExit) as exit_info:
            main([*args, "--project", "p", "--embed-limit", bad, "--db", str(db)])
        assert exit_info.value.code == 2
        assert f"argument --embed-limit: {bad!r} is not a positive number of minutes" in (
            capsys.readouterr().err
        )
    assert not db.exists()  # nothing written
    assert main([*args, "--project", "p", "--embed-limit", "1e-9", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "features: tfidf" in out
    assert "auto: tfidf (minilm+tfidf would take about 0 min for" in out
    assert "over the 1e-09 min limit (--embed-limit)" in out
