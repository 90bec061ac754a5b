from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from recommender.engines.base import Artifact
from recommender.registry import artifacts, versions
from recommender.store import state
from recommender.store.database import Database

BLOB = Artifact(arrays={}, meta={"x": 1}).to_bytes()


def register(session: Session, engine: str = "ease", folder: str | None = None, **metrics: float):
    return versions.register(
        session,
        engine=engine,
        artifact=BLOB,
        artifact_folder=folder,
        params={"l2": 10},
        metrics={"NDCG@10": metrics.get("ndcg", 0.3)},
        baseline_metrics={"NDCG@10": 0.1},
        fingerprint={"dump_id": 1},
    )


def test_versions_are_numbered_per_engine(db: Database) -> None:
    with db.write() as conn, Session(bind=conn) as session:
        assert [register(session).version for _ in range(3)] == [1, 2, 3]
        assert register(session, engine="ials").version == 1
        assert [r.version for r in versions.listing(session, "ease")] == [3, 2, 1]


def test_activation_retires_the_previous_version_and_moves_the_models_version(
    db: Database,
) -> None:
    with db.write() as conn, Session(bind=conn) as session:
        register(session)
        register(session)
        versions.activate(session, "ease", 1)
        versions.activate(session, "ease", 2)
        statuses = {r.version: r.status for r in versions.listing(session, "ease")}
        assert statuses == {1: "retired", 2: "active"}
        versions.activate(session, "ease", 1)  # rollback
        statuses = {r.version: r.status for r in versions.listing(session, "ease")}
        assert statuses == {1: "active", 2: "retired"}
        moved = state.read(session.connection(), state.MODELS)
    assert moved is not None and moved.version == 3


def test_failed_or_unknown_versions_cannot_serve(db: Database) -> None:
    with db.write() as conn, Session(bind=conn) as session:
        failed = versions.record_failure(session, engine="ease", error="boom")
        with pytest.raises(versions.NotActivatableError, match="failed"):
            versions.activate(session, "ease", failed.version)
        with pytest.raises(versions.VersionNotFoundError):
            versions.activate(session, "ease", 99)


def test_old_versions_give_up_their_artifacts(db: Database) -> None:
    with db.write() as conn, Session(bind=conn) as session:
        for _ in range(versions.KEEP_ARTIFACTS + 2):
            register(session)
        versions.activate(session, "ease", 1)
        kept = {r.version: r.artifact is not None for r in versions.listing(session, "ease")}
    # the active version and the newest ones keep theirs
    assert kept[1] and kept[versions.KEEP_ARTIFACTS + 2]
    assert not kept[2]


def test_folder_artifacts_are_checked_on_read(db: Database, tmp_path: Path) -> None:
    with db.write() as conn, Session(bind=conn) as session:
        row = register(session, folder=str(tmp_path))
        assert row.artifact is None and row.artifact_uri is not None
        assert artifacts.fetch(row) == BLOB
        stored = next(tmp_path.rglob("*.bin"))
        stored.write_bytes(b"tampered")
        with pytest.raises(artifacts.ArtifactMissingError, match="corrupted"):
            artifacts.fetch(row)
