from __future__ import annotations

import pytest

from recommender.activity.pages import service_of_page


@pytest.mark.parametrize(
    ("page", "service"),
    [
        ("/services/12", 12),
        ("/services/12/offers", 12),
        ("/services/12/details?tab=1", 12),
        ("/services", None),
        ("/services/b2drop", None),
        ("/comparisons", None),
        ("", None),
        (None, None),
        ("/services/99999999999999999999999", None),
    ],
)
def test_service_of_page(page: str | None, service: int | None) -> None:
    assert service_of_page(page) == service
