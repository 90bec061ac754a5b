"""One recommendation: candidates, engine, ranking, explanations, and the stored impression."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection

from recommender.activity import actions, impressions
from recommender.catalog import search
from recommender.catalog.snapshot import UserProfile
from recommender.contract.recommendations import RecommendationRequest, RecommendationResponse
from recommender.engines.base import Explanation, Query
from recommender.engines.ranking import rank
from recommender.serving.candidates import select_candidates
from recommender.serving.models import LAST_RESORT, choose
from recommender.serving.state import ServingState


def _query(
    request: RecommendationRequest,
    user_id: int | None,
    profile: UserProfile | None,
    ordered: set[int],
) -> Query:
    history = profile.accessed if profile is not None else np.empty(0, dtype=np.int64)
    if ordered:
        extra = np.asarray(sorted(ordered - set(history.tolist())), dtype=np.int64)
        history = np.concatenate([history, extra])
    domains = (profile.scientific_domains if profile else ()) + tuple(
        request.search_data.scientific_domains
    )
    categories = (profile.categories if profile else ()) + tuple(request.search_data.categories)
    return Query(
        user_id=user_id,
        history=history,
        scientific_domains=tuple(dict.fromkeys(domains)),
        categories=tuple(dict.fromkeys(categories)),
    )


@dataclass(frozen=True)
class Decision:
    """A ranked panel and the impression to store before it is shown."""

    impression: impressions.Impression
    explanations: list[Explanation]

    def response(self, recommendation_id: int) -> RecommendationResponse:
        return RecommendationResponse(
            panel_id=self.impression.panel_id,
            recommendations=self.impression.service_ids,
            scores=self.impression.scores,
            explanations=[e.long for e in self.explanations],
            explanations_short=[e.short for e in self.explanations],
            engine_version=self.impression.engine,
            recommendation_id=recommendation_id,
        )


def decide(
    conn: Connection,
    state: ServingState,
    request: RecommendationRequest,
    *,
    fallback: Sequence[str] = (),
) -> Decision:
    """Rank services for one request from `state`, reading what it needs through `conn`.

    The caller stores `decision.impression` and only then answers with its id.
    """
    catalog = state.catalog
    users = catalog.users
    user_id = request.user_id
    if user_id is None and request.aai_uid and users is not None:
        user_id = users.by_aai_uid.get(request.aai_uid)
    profile = users.get(user_id) if users is not None and user_id is not None else None
    ordered = actions.ordered_services(conn, user_id) if user_id is not None else set()
    seen = set(profile.accessed.tolist()) if profile is not None else set()

    q = request.search_data.q
    hits = search.matching_services(conn, q) if q else None
    candidates = select_candidates(
        catalog,
        candidates=request.candidates,
        search=request.search_data,
        search_hits=hits,
        exclude=seen | ordered,
    )
    models = state.models
    query = _query(request, user_id, profile, ordered)
    chosen = choose(models, request.engine_version, state.default_engine, fallback, query)
    k = request.panel_size
    ids, scores = rank(chosen.model, query, candidates, k)
    explanations = chosen.model.explain(query, ids, catalog)
    if ids.shape[0] < min(k, candidates.shape[0]):
        # Services the engine cannot score yet (new ones) are filled in by popularity.
        popular = models[LAST_RESORT].model
        rest = candidates[~np.isin(candidates, ids)]
        more_ids, more_scores = rank(popular, query, rest, k - ids.shape[0])
        explanations += popular.explain(query, more_ids, catalog)
        ids = np.concatenate([ids, more_ids])
        scores = np.concatenate([scores, more_scores])

    impression = impressions.Impression(
        requested_at=request.timestamp,
        unique_id=request.unique_id,
        visit_id=request.visit_id,
        page_id=request.page_id,
        panel_id=request.panel_id or "v1",
        client_id=request.client_id,
        user_id=user_id,
        aai_uid=request.aai_uid,
        engine_requested=request.engine_version,
        engine=chosen.engine,
        model_version=chosen.version,
        catalog_version=catalog.version,
        search_data=request.search_data.model_dump(exclude_defaults=True),
        candidates=list(request.candidates) or None,
        candidate_count=int(candidates.shape[0]),
        service_ids=[int(i) for i in ids],
        scores=[round(float(s), 6) for s in scores],
    )
    return Decision(impression=impression, explanations=explanations)
