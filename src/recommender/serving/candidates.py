"""Which services may be recommended for a request: status, candidates, filters, exclusions."""

from __future__ import annotations

from collections.abc import Collection, Iterable

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import IntArray
from recommender.catalog.snapshot import CatalogSnapshot
from recommender.catalog.text_index import Matches
from recommender.contract.recommendations import SearchData


def _any_of(catalog: CatalogSnapshot, groups: Iterable[IntArray | None]) -> NDArray[np.bool_]:
    mask = np.zeros(catalog.n_services, dtype=bool)
    for positions in groups:
        if positions is not None:
            mask[positions] = True
    return mask


def _rating_floor(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # the portal's sort-like rating labels are not floors


def _narrow_to_search(
    mask: NDArray[np.bool_],
    catalog: CatalogSnapshot,
    search: SearchData | None,
    search_hits: Collection[int] | None,
) -> None:
    """Keep in `mask` only what the search's filters (OR within one, AND across) and text
    hits match."""
    if search is not None:
        for name, facet in catalog.facets.items():
            values = getattr(search, name)
            if values:
                mask &= _any_of(catalog, (facet.get(v) for v in values))
        if search.geographical_availabilities:
            wanted = {code.upper() for code in search.geographical_availabilities}
            mask &= _any_of(
                catalog, [catalog.worldwide, *(catalog.countries.get(c) for c in wanted)]
            )
        if search.order_type:
            mask &= catalog.order_types == search.order_type
        floor = _rating_floor(search.rating)
        if floor is not None:
            mask &= np.nan_to_num(catalog.ratings, nan=-np.inf) >= floor
    if isinstance(search_hits, Matches) and search_hits.of is catalog.service_ids:
        search_hits.narrow(mask)
    elif search_hits is not None:
        mask &= _any_of(catalog, [catalog.positions(search_hits)])


def select_candidates(
    catalog: CatalogSnapshot,
    *,
    candidates: Collection[int] = (),
    search: SearchData | None = None,
    search_hits: Collection[int] | None = None,
    exclude: Collection[int] = (),
) -> IntArray:
    """Ids of recommendable services that pass every filter (OR within one, AND across), or
    of the listed `candidates` when there are any (see `candidate_mask`)."""
    mask = candidate_mask(
        catalog,
        candidates=candidates,
        search=search,
        search_hits=search_hits,
        excluded_at=catalog.positions(exclude),
    )
    return catalog.service_ids[mask]


def candidate_mask(
    catalog: CatalogSnapshot,
    *,
    candidates: Collection[int] = (),
    search: SearchData | None = None,
    search_hits: Collection[int] | None = None,
    excluded_at: IntArray | None = None,
) -> NDArray[np.bool_]:
    """`select_candidates` as a mask over the catalogue's positions (`service_ids`), with
    the excluded services given by their positions.

    Listed `candidates` are the portal's search result, chosen by its own search with its own
    semantics (a domain's subdomains, stemming): the search's filters and text are not applied
    to them again, which could only drop what the portal matched. Status and `exclude` apply
    either way.
    """
    mask = catalog.recommendable.copy()
    if candidates:
        mask &= _any_of(catalog, [catalog.positions(candidates)])
    else:
        _narrow_to_search(mask, catalog, search, search_hits)
    if excluded_at is not None and excluded_at.shape[0]:
        mask[excluded_at] = False
    return mask
