"""The best k services of a catalogue mask for one model, without scoring what filters exclude."""

from __future__ import annotations

import threading

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import FloatArray, IntArray
from recommender.catalog.snapshot import CatalogSnapshot
from recommender.engines.base import Model, Query
from recommender.engines.ranking import best_k, rank

Mask = NDArray[np.bool_]
# Alignments kept per serving state: a handful of models, each with one or two id arrays.
MAX_ALIGNED = 64


class Alignments:
    """Catalogue positions of a model's id arrays, computed once per (catalogue, array).

    Arrays are keyed by identity and held, so an id is never reused while it is cached.
    """

    def __init__(self, catalog: CatalogSnapshot) -> None:
        self._catalog = catalog
        self._cache: dict[int, tuple[IntArray, IntArray, bool]] = {}
        self._lock = threading.Lock()

    def of(self, ids: IntArray) -> IntArray:
        """Per id, its position in the catalogue, or -1."""
        return self._aligned(ids)[1]

    def same_order(self, ids: IntArray) -> bool:
        """Whether `ids` are the catalogue's own ids in its order (a position in one is the
        same position in the other: nothing to translate or check)."""
        return self._aligned(ids)[2]

    def _aligned(self, ids: IntArray) -> tuple[IntArray, IntArray, bool]:
        found = self._cache.get(id(ids))
        if found is not None and found[0] is ids:
            return found
        catalog = self._catalog
        if catalog.n_services == 0:
            aligned = np.full(ids.shape[0], -1, dtype=np.int64)
        else:
            pos = np.minimum(np.searchsorted(catalog.service_ids, ids), catalog.n_services - 1)
            aligned = np.where(catalog.service_ids[pos] == ids, pos, -1)
        same = bool(np.array_equal(ids, catalog.service_ids))
        entry = (ids, aligned, same)
        with self._lock:
            if len(self._cache) >= MAX_ALIGNED:
                self._cache.clear()
            self._cache[id(ids)] = entry
        return entry


def _empty() -> tuple[IntArray, FloatArray]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


def _walk(where: IntArray, scores: FloatArray, mask: Mask, k: int) -> IntArray:
    """Positions in a visitor-independent order of its first k services that pass `mask`
    (`where` maps them to the catalogue) and have a score. A short head is read first, then
    longer stretches: most requests find their k near the top, and checking the whole
    catalogue cost as much as the rest of the ranking."""
    n = where.shape[0]
    found: list[IntArray] = []
    count, start, size = 0, 0, max(8 * k, 256)
    while start < n and count < k:
        part = where[start : start + size]
        hit = start + np.flatnonzero((part >= 0) & mask[part])
        hit = hit[np.isfinite(scores[hit])]
        found.append(hit)
        count += hit.shape[0]
        start += size
        size *= 4
    return np.concatenate(found)[:k] if found else np.empty(0, dtype=np.int64)


def top_k(
    model: Model,
    query: Query,
    catalog: CatalogSnapshot,
    mask: Mask,
    k: int,
    alignments: Alignments,
) -> tuple[IntArray, FloatArray]:
    """The k best services among `mask` by the model's scores, best first (ties by id);
    services the model cannot score are left out, as `rank` does."""
    if k <= 0 or not mask.any():
        return _empty()
    ordered = model.ordering(query)
    if ordered is not None:
        ids, scores = ordered
        keep = _walk(alignments.of(ids), scores, mask, k)
        return ids[keep], scores[keep]
    every = model.score_all(query)
    if every is None:
        return rank(model, query, catalog.service_ids[mask], k)
    ids, scores = every
    if alignments.same_order(ids):
        allowed_mask = mask & np.isfinite(scores)
        if 2 * np.count_nonzero(allowed_mask) >= allowed_mask.shape[0]:
            # Most of the catalogue allowed: the excluded sink below every score instead of
            # being gathered out, one pass over the catalogue where gathering took three.
            kept = np.where(allowed_mask, scores, -np.inf)
            best = best_k(kept, ids, k)
            best = best[kept[best] > -np.inf]
            return ids[best], np.asarray(scores[best], dtype=np.float32)
        allowed = np.flatnonzero(allowed_mask)
    else:
        where = alignments.of(ids)
        allowed = np.flatnonzero((where >= 0) & mask[where])
        allowed = allowed[np.isfinite(scores[allowed])]
    allowed = allowed[best_k(scores[allowed], ids[allowed], k)]
    return ids[allowed], np.asarray(scores[allowed], dtype=np.float32)
