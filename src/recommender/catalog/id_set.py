"""The ids of one entity of a dump, held as a sorted int64 array rather than Python ints."""

from __future__ import annotations

from array import array
from collections.abc import Iterable

import numpy as np

# Up to this many ids a set answers membership (about 60 bytes an id): cheaper per lookup
# than a binary search from Python, and services, referred to by every user, stay under it.
SET_LIMIT = 200_000


class IdSet:
    """Distinct non-negative ids: 8 bytes each, membership by binary search (or a set while
    small)."""

    def __init__(self, ids: Iterable[int] | array[int] = ()) -> None:
        found = ids if isinstance(ids, array) else array("q", ids)
        self.sorted = np.unique(np.frombuffer(found, dtype=np.int64))
        self._small = set(self.sorted.tolist()) if len(self.sorted) <= SET_LIMIT else None

    def __len__(self) -> int:
        return len(self.sorted)

    def __contains__(self, value: object) -> bool:
        if self._small is not None:
            return value in self._small
        if not isinstance(value, int) or not 0 <= value < 2**63:
            return False
        at = int(np.searchsorted(self.sorted, value))
        return at < len(self.sorted) and int(self.sorted[at]) == value


def repeated(values: array[int]) -> set[int]:
    """The values that occur more than once."""
    counted, counts = np.unique(np.frombuffer(values, dtype=np.int64), return_counts=True)
    return set(counted[counts > 1].tolist())
