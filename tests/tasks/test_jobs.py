from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from recommender.catalog.loader import replace_catalog
from recommender.config import Settings
from recommender.engines.limits import EngineLimitError
from recommender.registry import versions
from recommender.store.database import Database
from recommender.tasks.jobs import JobContext, train
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
