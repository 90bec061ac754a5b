"""The Marketplace's page ids: which service a page is about."""

from __future__ import annotations

import re

from recommender.catalog.ids import MAX_ID

_SERVICE_PAGE = re.compile(r"^/services/(\d+)(?:/|$)")


def service_of_page(page_id: str | None) -> int | None:
    """The numeric service id in `/services/{id}` and its sub-pages, else None."""
    if not page_id:
        return None
    match = _SERVICE_PAGE.match(page_id)
    if match is None:
        return None
    value = int(match.group(1))
    return value if value <= MAX_ID else None
