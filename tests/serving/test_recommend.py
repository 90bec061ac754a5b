"""One recommendation from the serving state: what a visitor's session leaves out."""

from __future__ import annotations

from recommender.catalog.loader import replace_catalog
from recommender.contract.recommendations import RecommendationRequest
from recommender.serving.recommend import decide
from recommender.serving.state import ServingStateHolder
from recommender.sessions.events import Recent
from recommender.store.database import Database
from tests.factories import dump, recommendation_request, service


def shown(holder: ServingStateHolder, recent: Recent, *, exclude_opened: bool = True) -> set[int]:
    request = RecommendationRequest.model_validate(recommendation_request())
    decision = decide(holder.current, request, recent=recent, exclude_opened=exclude_opened)
    return set(decision.impression.service_ids)


def test_a_session_keeps_leaving_out_what_it_opened_after_the_catalogue_changes(
    db: Database,
) -> None:
    with db.write() as conn:
        replace_catalog(conn, dump([service(1), service(2), service(3)]))
    holder = ServingStateHolder(db)
    holder.refresh()
    opened = Recent(session=(2,))
    assert shown(holder, opened) == {1, 3}
    assert shown(holder, opened, exclude_opened=False) == {1, 2, 3}
    assert shown(holder, opened) == {1, 3}
    # Service 2 now sits elsewhere in the catalogue: the same session, asked again, still
    # leaves out service 2 and nothing else.
    with db.write() as conn:
        replace_catalog(conn, dump([service(2), service(3), service(4)]))
    holder.refresh()
    assert shown(holder, opened) == {3, 4}
