"""An in-memory word index over service texts, so the full-text filter needs no query."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence

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
