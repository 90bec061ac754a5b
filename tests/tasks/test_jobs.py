from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from recommender.catalog.loader import replace_catalog
from recommender.config import Settings
from recommender.engines.limits import EngineLimitError
from recommender.registry import versions
from recommender.store.database import Database
from recommender.tasks import locks
from recommender.tasks.jobs import (
    CATALOGUE_LOCK,
    JobContext,
    TrainingFailedError,
    train,
    training_lock,
)
from tests.factories import two_communities


@pytest.fixture
def ctx(db: Database) -> JobContext:
    with db.write() as conn:
        replace_catalog(conn, two_communities(n_services=16, n_users=80))
    settings = Settings(_env_file=None, database_url=db.url, engine_max_items="ease=10")
    return JobContext(db, settings, "t-1", lambda f, m: None)


def test_training_several_engines_skips_one_over_its_limit(ctx: JobContext) -> None:
    result = train(ctx, engines=["ease", "itemknn"])
    skipped, trained = result["engines"]["ease"], result["engines"]["itemknn"]
    assert skipped["status"] == "skipped"
    assert "ease is limited to 10 services and the data has 16" in skipped["reason"]
    assert trained["status"] == "active"
    with Session(ctx.db.engine) as session:
        assert not versions.listing(session, "ease")
        assert versions.active(session, "itemknn") is not None


def test_training_an_engine_by_name_over_its_limit_fails_with_the_reason(
    ctx: JobContext,
) -> None:
    with pytest.raises(EngineLimitError, match="ease is limited to 10 services"):
        train(ctx, engine="ease")
    with Session(ctx.db.engine) as session:
        assert not versions.listing(session, "ease")


def test_an_engine_trains_while_another_engine_s_training_holds_its_lock(
    ctx: JobContext,
) -> None:
    # Another worker training ials holds ials's lock the whole time.
    assert locks.try_acquire(ctx.db, training_lock("ials"), "another worker", lease_s=60)
    quick = JobContext(
        ctx.db, ctx.settings.model_copy(update={"job_time_limit_s": 1}), "t-2", ctx.progress
    )

    result = train(quick, engine="itemknn")

    assert result["engines"]["itemknn"]["status"] == "active"


def test_a_second_training_of_one_engine_waits_for_the_first(ctx: JobContext) -> None:
    assert locks.try_acquire(ctx.db, training_lock("itemknn"), "another worker", lease_s=60)
    quick = JobContext(
        ctx.db, ctx.settings.model_copy(update={"job_time_limit_s": 1}), "t-2", ctx.progress
    )

    with pytest.raises(TrainingFailedError, match="'training:itemknn' is held by another job"):
        train(quick, engines=["itemknn"])

    with Session(ctx.db.engine) as session:
        assert versions.active(session, "itemknn") is None


def test_a_training_runs_while_a_catalogue_loads(ctx: JobContext) -> None:
    assert locks.try_acquire(ctx.db, CATALOGUE_LOCK, "a loading worker", lease_s=60)
    quick = JobContext(
        ctx.db, ctx.settings.model_copy(update={"job_time_limit_s": 1}), "t-2", ctx.progress
    )

    assert train(quick, engine="itemknn")["engines"]["itemknn"]["status"] == "active"
