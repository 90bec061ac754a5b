"""`recommender evaluate` and `recommender tune` end to end, on hand-made and real data."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recommender.catalog.loader import replace_catalog
from recommender.cli import app
from recommender.cli.evaluate import DataFormat, ProtocolName
from recommender.evaluation.protocols import PROTOCOLS
from recommender.evaluation.readers import READERS
from recommender.store import migrate
from recommender.store.database import Database
from tests.factories import two_communities

runner = CliRunner()


def write_clicks(path: Path, seed: int = 0) -> Path:
    """Two communities of 30 users, each clicking around its own 10 services."""
    rng = np.random.default_rng(seed)
    lines = ["user,item,timestamp,weight"]
    time = 0
    for user in range(60):
        block = 100 if user < 30 else 200
        for item in rng.choice(10, size=6, replace=False):
            time += 1
            lines.append(f"{user},{block + item},{time},{rng.integers(1, 4)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_choices_follow_the_registries() -> None:
    assert {f.value for f in DataFormat} == set(READERS)
    assert {p.value for p in ProtocolName} == set(PROTOCOLS)


def test_evaluate_writes_the_report(tmp_path: Path) -> None:
    data = write_clicks(tmp_path / "clicks.csv")
    output = tmp_path / "results.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--data", str(data),
            "--format", "csv",
            "--protocol", "temporal-loo",
            "--engines", "random,popularity,ease",
            "--k", "5",
            "--param", "ease.l2=5",
            "--output", str(output),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "NDCG@5" in result.stdout
    report = json.loads(output.read_text())
    assert report["dataset"] == "clicks"
    assert report["protocol"] == "temporal-loo"
    assert set(report["results"]) == {"random", "popularity", "ease"}
    assert set(report["timings"]["ease"]) == {"fit_s", "score_s"}
    assert report["params"]["ease"]["l2"] == 5
    assert report["results"]["ease"]["HR@5"] > report["results"]["random"]["HR@5"]


def test_evaluate_on_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    db = Database(url)
    migrate.upgrade(db.engine)
    with db.write() as conn:
        replace_catalog(conn, two_communities(n_services=20, n_users=60))
    db.dispose()
    output = tmp_path / "store.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--data",
            url,
            "--format",
            "store",
            "--protocol",
            "temporal-loo",
            "--engines",
            "random,popularity,itemknn",
            "--k",
            "3",
            "--output",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    assert report["dataset"] == "store"
    assert set(report["results"]) == {"random", "popularity", "itemknn"}


def test_unknown_engine_is_a_clear_error(tmp_path: Path) -> None:
    data = write_clicks(tmp_path / "clicks.csv")
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--engines", "magic"])
    assert result.exit_code == 2
    assert "unknown engine 'magic'" in result.output


def test_tune_writes_a_config_that_evaluate_reads(tmp_path: Path) -> None:
    data = write_clicks(tmp_path / "clicks.csv")
    config = tmp_path / "params.toml"
    config.write_text("[ials]\nfactors = 4\n")
    result = runner.invoke(
        app,
        [
            "tune", "--engine", "ease", "--data", str(data), "--protocol", "full-random",
            "--trials", "3", "--k", "5", "--output", str(config),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = tomllib.loads(config.read_text())
    assert written["ials"] == {"factors": 4}, "other engines' parameters are kept"
    assert set(written["ease"]) == {"l2", "dropout"}
    output = tmp_path / "results.json"
    result = runner.invoke(
        app,
        [
            "evaluate", "--data", str(data), "--engines", "ease", "--config", str(config),
            "--output", str(output),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    used = json.loads(output.read_text())["params"]["ease"]
    # What tune wrote is what evaluate used; parameters tune does not search keep defaults.
    assert {name: used[name] for name in written["ease"]} == written["ease"]


@pytest.mark.data
@pytest.mark.slow
def test_movielens_100k_every_engine_beats_random(data_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "ml100k.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--data", str(data_dir / "movielens-100k"),
            "--format", "movielens-100k",
            "--protocol", "sampled-loo",
            "--engines", "random,popularity,itemknn,ease,ials,bpr",
            "--param", "ials.factors=32",
            "--param", "bpr.epochs=5",
            "--output", str(output),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads(output.read_text())["results"]
    floor = results["random"]["HR@10"]
    for engine in ("popularity", "itemknn", "ease", "ials", "bpr"):
        assert results[engine]["HR@10"] > floor + 0.2, engine
        assert results[engine]["NDCG@10"] > results["random"]["NDCG@10"], engine
    for engine in ("itemknn", "ease", "ials", "bpr"):
        assert results[engine]["HR@10"] > results["popularity"]["HR@10"], engine


@pytest.mark.data
def test_popularity_lands_on_toppop_on_the_ncf_split(data_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "ncf.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--data", str(data_dir / "movielens-1m" / "ncf-protocol"),
            "--format", "ncf",
            "--protocol", "sampled-loo",
            "--engines", "popularity",
            "--output", str(output),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    popularity = json.loads(output.read_text())["results"]["popularity"]
    # TopPop on this split (Dacrema et al. 2019): HR@10 0.453, NDCG@10 0.254.
    assert abs(popularity["HR@10"] - 0.453) < 0.01
    assert abs(popularity["NDCG@10"] - 0.254) < 0.01
