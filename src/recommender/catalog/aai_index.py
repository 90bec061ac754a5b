"""Users' AAI identities in a few flat arrays: a lookup table that a million users fit in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from recommender.arrays import IntArray

_MASK = (1 << 64) - 1


def _hash(identity: str) -> int:
    # The interpreter's own string hash: fast, and only ever compared within this process.
    return hash(identity) & _MASK


class AaiIndex(Mapping[str, int]):
    """AAI identity -> user id, for the users of a catalogue.

    The identities' UTF-8 bytes sit in one buffer ordered by a 64-bit hash, beside their
    user ids: about 20 bytes per user besides the identity itself, where a dict of Python
    strings and ints took about 110 (22 MB at 200,000 users). A lookup bisects the hashes and
    compares the bytes of the few identities that share one (identities are unique in the
    store).
    """

    def __init__(self, pairs: Iterable[tuple[str, int]]) -> None:
        encoded: list[bytes] = []
        hashes: list[int] = []
        users: list[int] = []
        for identity, user_id in pairs:
            encoded.append(identity.encode(errors="surrogatepass"))
            hashes.append(_hash(identity))
            users.append(user_id)
        order = np.argsort(np.asarray(hashes, dtype=np.uint64), kind="stable")
        self._hashes = np.asarray(hashes, dtype=np.uint64)[order]
        self._users: IntArray = np.asarray(users, dtype=np.int64)[order]
        lengths = np.fromiter((len(encoded[i]) for i in order), dtype=np.int64, count=len(order))
        self._offsets: IntArray = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self._blob = b"".join(encoded[i] for i in order)

    def _identity(self, position: int) -> bytes:
        return self._blob[self._offsets[position] : self._offsets[position + 1]]

    def __getitem__(self, identity: str) -> int:
        if not isinstance(identity, str):
            raise KeyError(identity)
        wanted = _hash(identity)
        position = int(np.searchsorted(self._hashes, np.uint64(wanted)))
        encoded = identity.encode(errors="surrogatepass")
        while position < self._hashes.shape[0] and int(self._hashes[position]) == wanted:
            if self._identity(position) == encoded:
                return int(self._users[position])
            position += 1
        raise KeyError(identity)

    def __len__(self) -> int:
        return int(self._hashes.shape[0])

    def __iter__(self) -> Iterator[str]:
        for position in range(len(self)):
            yield self._identity(position).decode()

    @property
    def nbytes(self) -> int:
        return len(self._blob) + self._hashes.nbytes + self._users.nbytes + self._offsets.nbytes
