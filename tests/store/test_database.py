"""How a PostgreSQL connection of the store is set up: statements planned for their values,
and the statement timeout a request path asks for."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from recommender.store.database import create_db_engine


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_statements_are_planned_for_their_values_and_time_out_when_asked(
    database_url: str,
) -> None:
    """A prepared statement's one plan for every value, made before a table had statistics,
    read the whole actions table for every batch of actions in `benchmarks.route_cost`."""
    for timeout_s, expected in ((None, "0"), (2.5, "2500ms")):
        engine = create_db_engine(database_url, statement_timeout_s=timeout_s)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SHOW plan_cache_mode")).scalar_one() == (
                    "force_custom_plan"
                )
                assert conn.execute(text("SHOW statement_timeout")).scalar_one() == expected
        finally:
            engine.dispose()
