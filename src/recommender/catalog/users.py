"""Who the users are to the serving path: a profile per user and the AAI identity map, behind
one small interface that the whole directory in memory and a bounded cache both serve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from recommender.arrays import IntArray


@dataclass(frozen=True)
class UserProfile:
    id: int
    accessed: IntArray  # service ids, oldest first
    scientific_domains: tuple[int, ...]
    categories: tuple[int, ...]


class UserSource(Protocol):
    """The users of one catalogue."""

    @property
    def count(self) -> int:
        """How many users the catalogue has."""
        ...

    def get(self, user_id: int) -> UserProfile | None:
        """The user's profile; None for a user the catalogue does not know."""
        ...

    def user_of_aai(self, aai_uid: str) -> int | None:
        """The user of an AAI identity; None when no user has it."""
        ...

    def reads_store(self, user_id: int | None, aai_uid: str | None) -> bool:
        """Whether looking this visitor up would read the store (so an event loop should
        not wait for it); False whenever everything needed is in memory."""
        ...

    def aai_map(self) -> Mapping[str, int] | None:
        """Every AAI identity at once when they are all in memory; None when only the store
        has them all."""
        ...
