"""Full-text search over service names, taglines and descriptions (SQLite FTS5, PostgreSQL)."""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

MAX_TERMS = 16
_WORD = re.compile(r"\w+", re.UNICODE)

SEARCH_DOCUMENT = (
    "coalesce(name, '') || ' ' || coalesce(tagline, '') || ' ' || coalesce(description, '')"
)


def terms(query: str) -> list[str]:
    """The words of a free-text query; punctuation and search operators are dropped."""
    return _WORD.findall(query.lower())[:MAX_TERMS]


def matching_services(conn: Connection, query: str) -> set[int] | None:
    """Ids of services matching every word of `query`; None when the query has no words."""
    words = terms(query)
    if not words:
        return None
    if conn.dialect.name == "sqlite":
        # Each word quoted so FTS5 reads it literally; a trailing * matches word prefixes.
        match = " ".join('"' + word.replace('"', '""') + '"*' for word in words)
        rows = conn.execute(
            text("SELECT rowid FROM service_search WHERE service_search MATCH :match"),
            {"match": match},
        )
    else:
        rows = conn.execute(
            text(
                f"SELECT id FROM services WHERE to_tsvector('english', {SEARCH_DOCUMENT}) "
                "@@ to_tsquery('english', :match)"
            ),
            {"match": " & ".join(_pg_prefix(word) for word in words)},
        )
    return {int(row[0]) for row in rows}


def _pg_prefix(word: str) -> str:
    # \w+ words cannot carry tsquery operators; quoting guards against stop-word oddities.
    return "'" + word.replace("'", "''") + "':*"


def rebuild(conn: Connection) -> None:
    """Refill the search index from the services table (inside the loading transaction)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("DELETE FROM service_search"))
        conn.execute(
            text(
                "INSERT INTO service_search(rowid, name, tagline, description) "
                "SELECT id, name, tagline, description FROM services"
            )
        )
    # PostgreSQL's expression index follows the table by itself.
