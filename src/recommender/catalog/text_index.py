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
    """The ids of the services a query matched, with the mask over the catalogue positions
    they came from: a filter over that same catalogue (`of`, its sorted ids) takes the mask
    as it is, where looking thousands of ids up again cost more than ranking them."""

    __slots__ = ("_ids", "mask", "of")

    def __init__(self, mask: NDArray[np.bool_], of: IntArray) -> None:
        self.mask = mask
        self.of = of
        self._ids: IntArray | None = None

    @property
    def ids(self) -> IntArray:
        if self._ids is None:
            self._ids = self.of[self.mask]
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
