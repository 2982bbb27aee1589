"""``protolabel simulate`` (issue 7): the command line, --save, and replay of a project."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from annotator import services, simulation
from annotator.simulation import cli as simulate_cli
from annotator.store.db import Store
from tests.deciding import decide
from tests.integration.helpers import snapshot

SMALL = ["--seeds", "2", "--init-size", "3", "--batch", "3", "--budget", "9", "--test-size", "30"]


def _blobs_csv(tmp_path: Path, truth: str = "clusters") -> Path:
    """120 rows, 3 well-separated clusters; ``truth`` "clusters" or "noise" (random labels)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(3, 4))
    X = np.concatenate([c + rng.normal(size=(40, 4)) for c in centres])
    cluster = np.repeat(["a", "b", "c"], 40)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(4)])
    frame["id"] = [f"r{i}" for i in range(len(frame))]
    frame["label"] = cluster if truth == "clusters" else rng.choice(["a", "b", "c"], len(frame))
    frame["cluster"] = cluster
    path = tmp_path / "blobs.csv"
    frame.drop(columns="cluster").to_csv(path, index=False)
    frame[["id", "cluster"]].to_csv(tmp_path / "clusters.csv", index=False)
    return path


def _main(argv: list[str]) -> int:
    return simulate_cli.main(["simulate", *argv])


def test_file_is_simulated_in_memory(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROTOLABEL_DB", raising=False)
    data = _blobs_csv(tmp_path)
    out, plot = tmp_path / "results.json", tmp_path / "curves.png"
    argv = ["--data", str(data), "--label-col", "label", "--strategies", "random,margin"]
    assert (
        _main([*argv, *SMALL, "--learner", "logreg", "--out", str(out), "--plot", str(plot)]) == 0
    )
    results = json.loads(out.read_text())
    assert set(results) == {"config", "runs", "summary"}
    assert list(results["summary"]) == ["random", "margin"]
    assert len(results["runs"]) == 4
    assert set(results["runs"][0]) == {
        "strategy", "seed", "labels", "accuracy", "macro_f1", "query_seconds"
    }  # fmt: skip
    assert results["config"]["learner"] == "logreg" and results["config"]["n_test"] == 30
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert "margin" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.db")), "a file simulation must not create a database"


def test_save_stores_one_event(tmp_path, capsys) -> None:
    db = tmp_path / "p.db"
    data = _blobs_csv(tmp_path)
    argv = ["--data", str(data), "--label-col", "label", "--strategies", "random", *SMALL]
    argv += ["--learner", "logreg", "--out", str(tmp_path / "r.json"), "--db", str(db), "--save"]
    assert _main(argv) == 0
    store = Store.open(simulation_settings(db))
    try:
        (saved,) = simulation.list_saved(store)
        assert saved["strategies"] == ["random"]
        assert simulation.load_results(store, saved["id"]) == json.loads(
            (tmp_path / "r.json").read_text()
        )
        counts = snapshot(store)
        assert counts["events"] == 1 and counts["projects"] == 0
    finally:
        store.dispose()


def simulation_settings(db: Path):
    from annotator.config import Settings

    return Settings.from_env(str(db))


def test_replay_uses_the_peoples_labels_as_the_oracle(tmp_path, store: Store, capsys) -> None:
    """Ground truth is noise; people labelled 60 items by cluster: the replay learns clusters."""
    path = _blobs_csv(tmp_path, truth="noise")
    opts = services.ImportOptions(label_col="label", id_col="id")
    services.import_path(store, path, "blobs", opts)
    clusters = pd.read_csv(tmp_path / "clusters.csv")
    labelled = clusters.groupby("cluster").head(20)
    decisions = {row.id: row.cluster for row in labelled.itertuples()}
    decide(store, "blobs", "ann", {**decisions, "r119": None})  # a skip is not a label
    before = snapshot(store)
    config = simulation.SimulationConfig(
        data="project:blobs", strategies=("random", "margin"), seeds=2, init_size=3, batch=3,
        budget=12, test_size=15, learner="logreg", db=store.settings.db_url,
    )  # fmt: skip
    results = simulation.run_simulation(config, progress=False)
    assert results["config"]["n_items"] == 60 and results["config"]["n_test"] == 15
    assert results["config"]["features"] == "raw"  # the project's featurizer
    assert min(r["accuracy"][-1] for r in results["runs"]) >= 0.9  # noise would give ~1/3
    assert snapshot(store) == before, "replay without --save writes nothing"
    event_id = simulation.save_results(store, results)
    assert snapshot(store)["events"] == before["events"] + 1
    assert simulation.load_results(store, event_id)["summary"] == results["summary"]


def test_replay_follows_the_projects_semi_supervised_and_zero_shot_settings(
    tmp_path, store: Store
) -> None:
    from annotator import loop
    from annotator.simulation.cli import add_parser, config_from_args

    path = _blobs_csv(tmp_path, truth="noise")
    services.import_path(store, path, "blobs", services.ImportOptions(label_col="label"))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    base = ["simulate", "--db", store.settings.db_url, "--data", "project:blobs"]

    def semi(*extra: str) -> bool:
        return config_from_args(parser.parse_args([*base, *extra])).semi_supervised

    assert semi() is False
    loop.configure(store, "blobs", semi_supervised=True)
    before = snapshot(store)
    assert semi() is True and semi("--no-semi-supervised") is False
    assert (
        simulation.project_setting("demo:digits", store.settings.db_url, "semi_supervised", False)
        is False
    )
    assert (
        simulation.project_setting("project:none", store.settings.db_url, "zero_shot", True) is True
    )
    assert snapshot(store) == before

    def zero(*extra: str) -> bool:
        return config_from_args(parser.parse_args([*base, *extra])).zero_shot

    assert zero() is True and zero("--no-zero-shot") is False  # new projects: on
    loop.configure(store, "blobs", zero_shot=False)
    assert zero() is False and zero("--zero-shot") is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "demo:nope"], "unknown demo"),
        (["--data", "demo:digits", "--strategies", "random,magic"], "unknown strategy 'magic'"),
        (["--data", "demo:digits", "--budget", "5"], "below --init-size"),
        (["--data", "demo:digits", "--plot", "x.svg"], "write a .png"),
        (["--data", "project:nothing"], "no database"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, message) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROTOLABEL_DB", raising=False)
    assert _main([*argv, "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("protolabel: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "r.json").exists() and not list(tmp_path.glob("*.db"))


def test_file_without_ground_truth_is_refused(tmp_path, capsys) -> None:
    path = _blobs_csv(tmp_path)
    pd.read_csv(path).rename(columns={"label": "kind"}).to_csv(path, index=False)  # no label
    assert _main(["--data", str(path), *SMALL, "--out", str(tmp_path / "r.json")]) == 2
    assert "no ground-truth labels" in capsys.readouterr().err


def test_help_documents_every_flag_and_the_demos() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="protolabel")
    help_text = simulate_cli.add_parser(parser.add_subparsers()).format_help()
    for flag in ["--data", "--text-col", "--label-col", "--label-from-folder", "--features",
                 "--strategies", "--seeds", "--init-size", "--batch", "--budget", "--test-size",
                 "--learner", "--zero-shot", "--out", "--plot", "--jobs", "--save", "--db",
                 "demo:digits", "demo:fine_foods", "project:NAME"]:  # fmt: skip
        assert flag in help_text
