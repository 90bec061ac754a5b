"""A bounded mapping that forgets the entry used least recently."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Missing:
    """What an LRU answers for a key it does not hold (None may be a held answer)."""


MISSING = Missing()


class Lru(Generic[K, V]):
    """At most `capacity` entries; reading one makes it the most recent, adding one past the
    capacity drops the least recent. Not locked: its owner holds the lock."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | Missing:
        try:
            self._entries.move_to_end(key)
        except KeyError:
            return MISSING
        return self._entries[key]

    def __contains__(self, key: K) -> bool:
        return key in self._entries

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
