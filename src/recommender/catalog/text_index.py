"""An in-memory word index over service texts, so the full-text filter needs no query."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import IntArray

# Letters and digits; everything else separates words, as SQLite's unicode61 tokenizer does.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_LAST = "\U0010ffff"


def words(text: str) -> list[str]:
    """Lower-case words without diacritics ("Café" -> "cafe")."""
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return _TOKEN.findall(plain)


class TextIndex:
    """Sorted vocabulary with the catalogue positions of the services using each word."""

    def __init__(self, n_services: int, vocabulary: list[str], postings: list[IntArray]) -> None:
        self.n_services = n_services
        self.vocabulary = vocabulary
        self.postings = postings

    @classmethod
    def build(cls, texts: Sequence[str]) -> TextIndex:
        """`texts[i]` is the searchable text of the service at catalogue position i."""
        found: dict[str, list[int]] = defaultdict(list)
        for position, text in enumerate(texts):
            for word in set(words(text)):
                found[word].append(position)
        vocabulary = sorted(found)
        postings = [np.asarray(found[w], dtype=np.int64) for w in vocabulary]
        return cls(len(texts), vocabulary, postings)

    def matching(self, query_terms: Sequence[str]) -> NDArray[np.bool_] | None:
        """Positions (as a mask) of services with a word starting with every term; None when
        there is no term."""
        prefixes = [w for term in query_terms for w in words(term)]
        if not prefixes:
            return None
        mask = np.ones(self.n_services, dtype=bool)
        for prefix in prefixes:
            start = bisect_left(self.vocabulary, prefix)
            end = bisect_left(self.vocabulary, prefix + _LAST, lo=start)
            hit = np.zeros(self.n_services, dtype=bool)
            for posting in self.postings[start:end]:
                hit[posting] = True
            mask &= hit
        return mask


class Matches(Collection[int]):
    """The ids of the services a query matched, with where they are in the catalogue they came
    from (`of`, its sorted ids): the word index's mask over its positions, or (`Matches.at`)
    the positions themselves, which a cache of many queries' answers holds for less than a
    mask each. A filter over that same catalogue takes them as they are (`narrow`), where
    looking thousands of ids up again cost more than ranking them."""

    __slots__ = ("_ids", "_mask", "_positions", "of")

    def __init__(self, mask: NDArray[np.bool_], of: IntArray) -> None:
        self._mask: NDArray[np.bool_] | None = mask
        self._positions: IntArray | None = None
        self.of = of
        self._ids: IntArray | None = None

    @classmethod
    def at(cls, positions: IntArray, of: IntArray) -> Matches:
        """The services at `positions` (ascending, each once) of the catalogue `of`."""
        matches = cls.__new__(cls)
        matches._mask, matches._positions = None, positions
        matches.of, matches._ids = of, None
        return matches

    def narrow(self, mask: NDArray[np.bool_]) -> None:
        """Keep in `mask`, over the positions of `of`, only what matched."""
        if self._mask is not None:
            mask &= self._mask
            return
        assert self._positions is not None
        kept = mask[self._positions]
        mask[:] = False
        mask[self._positions] = kept

    @property
    def ids(self) -> IntArray:
        if self._ids is None:
            self._ids = self.of[self._mask if self._mask is not None else self._positions]
        return self._ids

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, int | np.integer):
            return False
        ids = self.ids  # sorted, as `of` is
        at = int(np.searchsorted(ids, item))
        return at < ids.shape[0] and int(ids[at]) == item

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids.tolist())

    def __len__(self) -> int:
        return int(self.ids.shape[0])
