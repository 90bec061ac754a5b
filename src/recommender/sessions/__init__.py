"""What a visitor did in the current session and what a user ever ordered, kept for serving."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from recommender.activity.actions import ServiceAction
from recommender.config import Settings
from recommender.sessions.events import Recent


class SessionStore(Protocol):
    """Where sessions live: this process (`LocalSessions`) or Redis (`RedisSessions`)."""

    gap_s: float
    enabled: bool

    def add(self, events: Sequence[ServiceAction]) -> None: ...

    async def add_async(self, events: Sequence[ServiceAction]) -> None: ...

    def add_orders(self, pairs: Iterable[tuple[int, int]]) -> None: ...

    def recent(self, unique_id: str, user_id: int | None, now: float) -> Recent: ...

    async def recent_async(self, unique_id: str, user_id: int | None, now: float) -> Recent: ...

    def close(self) -> None: ...


def open_sessions(settings: Settings) -> SessionStore:
    """Redis when `REDIS_URL` is set (shared by every API process), this process otherwise."""
    if settings.redis_url:
        from recommender.sessions.shared import RedisSessions

        return RedisSessions(
            settings.redis_url,
            gap_s=settings.session_gap_s,
            max_events=settings.session_max_events,
            enabled=settings.sessions,
        )
    from recommender.sessions.local import LocalSessions

    return LocalSessions(
        gap_s=settings.session_gap_s,
        max_visitors=settings.session_max_visitors,
        max_events=settings.session_max_events,
        enabled=settings.sessions,
    )
