"""Side features as rows of positions in one shared feature space, for embedding look-ups.

Every vocabulary (scientific domains, categories, providers, ...) gets a block of positions;
a user and a service that name the same scientific domain look up the same embedding row,
which is what lets the content tower match a researcher's declared interests to services.
Ids a vocabulary did not have at training time are dropped, never mapped onto another row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.arrays import IntArray
from recommender.engines.lookup import positions

# The vocabularies a query carries for the person it recommends to (declared interests and
# the search filters), in the order `encode_query` takes them.
QUERY_VOCABULARIES = ("scientific_domains", "categories")


@dataclass(frozen=True, eq=False)
class FeatureSpace:
    """Vocabulary name -> its sorted external ids and the first position of its block."""

    names: tuple[str, ...]
    vocab: Mapping[str, IntArray]
    offsets: Mapping[str, int]
    size: int

    @classmethod
    def of(cls, vocab: Mapping[str, IntArray], used: Iterable[str]) -> FeatureSpace:
        names = tuple(sorted(set(used) & set(vocab)))
        offsets: dict[str, int] = {}
        size = 0
        for name in names:
            offsets[name] = size
            size += int(vocab[name].shape[0])
        return cls(
            names=names,
            vocab={name: np.asarray(vocab[name], dtype=np.int64) for name in names},
            offsets=offsets,
            size=size,
        )

    def rows(self, features: Mapping[str, sp.csr_matrix], n_rows: int) -> sp.csr_matrix:
        """One row per owner with a one at every feature position it carries."""
        blocks = []
        for name in self.names:
            matrix = features.get(name)
            if matrix is None:
                matrix = sp.csr_matrix((n_rows, int(self.vocab[name].shape[0])), dtype=np.float32)
            blocks.append(sp.csr_matrix(matrix, dtype=np.float32))
        if not blocks:
            return sp.csr_matrix((n_rows, 0), dtype=np.float32)
        out = sp.csr_matrix(sp.hstack(blocks, format="csr"), dtype=np.float32)
        out.data = np.ones_like(out.data)
        out.sum_duplicates()
        return out

    def encode(self, name: str, ids: Iterable[int]) -> IntArray:
        """Positions of the known external ids of one vocabulary."""
        if name not in self.offsets:
            return np.empty(0, dtype=np.int64)
        found = positions(self.vocab[name], np.fromiter(ids, dtype=np.int64))
        return np.asarray(found[found >= 0] + self.offsets[name], dtype=np.int64)

    def encode_query(
        self, scientific_domains: Iterable[int], categories: Iterable[int]
    ) -> IntArray:
        return np.unique(
            np.concatenate(
                [
                    self.encode("scientific_domains", scientific_domains),
                    self.encode("categories", categories),
                ]
            )
        )

    def external(self, position: int) -> tuple[str, int]:
        """The vocabulary and external id a position stands for."""
        for name in reversed(self.names):
            if position >= self.offsets[name]:
                return name, int(self.vocab[name][position - self.offsets[name]])
        raise IndexError(position)

    def to_arrays(self) -> dict[str, IntArray]:
        return {f"vocab.{name}": self.vocab[name] for name in self.names}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, IntArray], names: Iterable[str]) -> FeatureSpace:
        return cls.of({name: arrays[f"vocab.{name}"] for name in names}, names)


def padded(matrix: sp.csr_matrix, pad: int) -> IntArray:
    """The column positions of each row, left-aligned and padded with `pad` (a row with no
    feature is all padding)."""
    counts = np.diff(matrix.indptr)
    width = max(int(counts.max()) if counts.shape[0] else 0, 1)
    out = np.full((matrix.shape[0], width), pad, dtype=np.int64)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    slots = np.arange(matrix.indices.shape[0]) - np.repeat(matrix.indptr[:-1], counts)
    out[rows, slots] = matrix.indices
    return out
