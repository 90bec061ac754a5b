from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from recommender.store import migrate
from recommender.store.database import Database
from recommender.store.migrate import include_object
from recommender.store.schema import Base


def test_schema_is_at_head_with_every_table(db: Database) -> None:
    assert migrate.current_revision(db.engine) == migrate.head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_upgrade_is_idempotent_and_downgrade_round_trips(db: Database) -> None:
    migrate.upgrade(db.engine)
    config = migrate.alembic_config(db.url)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert "services" not in inspect(db.engine).get_table_names()
    migrate.upgrade(db.engine)
    assert migrate.current_revision(db.engine) == migrate.head_revision()


def test_models_match_the_migrations(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": False}
        )
        assert compare_metadata(context, Base.metadata) == []
