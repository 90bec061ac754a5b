"""Full-text search over service names, taglines and descriptions (SQLite FTS5, PostgreSQL)."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence

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


class QueryCache:
    """The store's answers to recent queries, per catalogue version, at most `size` of them.

    Portals send the same few queries again and again; where the catalogue has no in-memory
    index (PostgreSQL), asking the store for each would cost a round trip per request."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._answers: OrderedDict[tuple[int, tuple[str, ...]], Collection[int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: int, words: Sequence[str]) -> Collection[int] | None:
        key = (version, tuple(words))
        with self._lock:
            hit = self._answers.get(key)
            if hit is not None:
                self._answers.move_to_end(key)
            return hit

    def put(self, version: int, words: Sequence[str], answer: Collection[int]) -> Collection[int]:
        with self._lock:
            self._answers[(version, tuple(words))] = answer
            self._answers.move_to_end((version, tuple(words)))
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
        return answer
