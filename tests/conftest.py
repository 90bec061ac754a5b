"""Fixtures shared by the whole suite: the public data sets and the databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from recommender.store import migrate
from recommender.store.database import Database

REPO_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def public_data_dir() -> Path:
    return Path(os.environ.get("RECOMMENDER_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real public data sets; absent data skips a test locally but fails it in CI."""
    path = public_data_dir()
    if not (path / "movielens-100k" / "u.data").exists():
        message = f"public data sets not found at {path} (set RECOMMENDER_DATA_DIR)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class PostgresServer:
    """Creates throwaway databases from one migrated template, so each test starts clean."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.template = f"recommender_template_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []

    def url_for(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def start(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        db = Database(self.url_for(self.template), pool_size=1)
        try:
            migrate.upgrade(db.engine)
        finally:
            db.dispose()

    def new_database(self) -> str:
        name = f"recommender_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.created.append(name)
        return self.url_for(name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def stop(self) -> None:
        for name in [*self.created, self.template]:
            self.drop(name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(POSTGRES_ADMIN_URL)
    try:
        server.start()
    except Exception as error:  # a missing server must fail loudly, never skip
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    yield server
    server.stop()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database of each supported kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'recommender.db'}"
        db = Database(url, pool_size=1)
        migrate.upgrade(db.engine)
        db.dispose()
        yield url
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.new_database()
        yield url
        server.drop(make_url(url).database or "")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, pool_size=5)
    yield database
    database.dispose()
