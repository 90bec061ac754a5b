"""One recommendation: candidates, engine, ranking, explanations, and the stored impression."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recommender.activity import impressions
from recommender.arrays import FloatArray, IntArray
from recommender.catalog.snapshot import CatalogSnapshot
from recommender.catalog.users import UserProfile
from recommender.contract.recommendations import RecommendationRequest, RecommendationResponse
from recommender.engines.base import Explanation, Query
from recommender.experiments.assignment import bucket, choose_arm, visitor_key
from recommender.experiments.logged import UNIFORM_ENGINE
from recommender.registry.loading import LoadedModel
from recommender.serving.candidates import candidate_mask
from recommender.serving.models import LAST_RESORT, choose
from recommender.serving.state import ServingState
from recommender.serving.topk import Mask, top_k
from recommender.sessions.events import NOBODY, Recent


@dataclass(frozen=True)
class Visitor:
    """Who asks: the user the request resolves to (by id or AAI identity) and their profile."""

    user_id: int | None
    profile: UserProfile | None

    @classmethod
    def of(cls, state: ServingState, request: RecommendationRequest) -> Visitor:
        users = state.catalog.users
        user_id = request.user_id
        if user_id is None and request.aai_uid and users is not None:
            user_id = users.user_of_aai(request.aai_uid)
        profile = users.get(user_id) if users is not None and user_id is not None else None
        return cls(user_id=user_id, profile=profile)

    @staticmethod
    def reads_store(state: ServingState, request: RecommendationRequest) -> bool:
        """Whether `of` would read the store for this request (never with every user in
        memory), so that an event loop runs it in a worker thread instead of waiting."""
        users = state.catalog.users
        return users is not None and users.reads_store(request.user_id, request.aai_uid)


def _history(profile: UserProfile | None, recent: Recent) -> IntArray:
    """What the visitor used, oldest first: the dump's services, then orders the dump does not
    know, then the current session's services (each once, at its latest use)."""
    if profile is None and not recent.orders:
        return np.array(recent.session, dtype=np.int64)
    known = profile.accessed.tolist() if profile is not None else []
    ordered = sorted(recent.orders - set(known))
    latest: dict[int, None] = dict.fromkeys([*known, *ordered])
    for service in recent.session:
        latest.pop(service, None)
        latest[service] = None
    return np.fromiter(latest, dtype=np.int64, count=len(latest))


def _excluded_at(
    catalog: CatalogSnapshot, visitor: Visitor, recent: Recent, exclude_opened: bool
) -> IntArray:
    """Catalogue positions of the services never shown to this visitor: what their profile
    used, what they ordered, and what this session opened (unless `exclude_opened` is
    false). The session's part is looked up once per view and catalogue."""
    found = recent.derived.get(exclude_opened)
    if found is None or found[0] is not catalog:
        now = recent.excluded if exclude_opened else recent.ordered
        ids = np.fromiter(now, dtype=np.int64, count=len(now))
        found = recent.derived[exclude_opened] = (catalog, catalog.positions(ids))
    session: IntArray = found[1]
    if visitor.profile is None:
        return session
    used = catalog.positions(visitor.profile.accessed)
    return np.concatenate([used, session]) if session.shape[0] else used


def _query(request: RecommendationRequest, visitor: Visitor, recent: Recent, key: str) -> Query:
    profile = visitor.profile
    domains = (profile.scientific_domains if profile else ()) + tuple(
        request.search_data.scientific_domains
    )
    categories = (profile.categories if profile else ()) + tuple(request.search_data.categories)
    return Query(
        user_id=visitor.user_id,
        history=_history(profile, recent),
        scientific_domains=tuple(dict.fromkeys(domains)),
        categories=tuple(dict.fromkeys(categories)),
        visitor=key,
    )


def panel(
    state: ServingState, chosen: LoadedModel, query: Query, mask: Mask, k: int
) -> tuple[IntArray, FloatArray, int]:
    """The k best services of `mask` by the chosen model, and how many of them it ranked:
    services it cannot score yet (new ones) are filled in by popularity after those."""
    catalog = state.catalog
    alignments = state.alignments
    ids, scores = top_k(chosen.model, query, catalog, mask, k, alignments)
    own = int(ids.shape[0])
    if own < min(k, int(np.count_nonzero(mask))):
        popular = state.models[LAST_RESORT].model
        rest = mask.copy()
        rest[catalog.positions(ids.tolist())] = False
        more_ids, more_scores = top_k(popular, query, catalog, rest, k - own, alignments)
        ids = np.concatenate([ids, more_ids])
        scores = np.concatenate([scores, more_scores])
    return ids, scores, own


def replay_context(allowed: IntArray, query: Query) -> dict[str, Any]:
    """What a uniformly random panel drew from and the query it was asked with: enough for
    another engine to rank the same request later (off-policy estimates replay it)."""
    return {
        "allowed": [int(i) for i in allowed],
        "history": [int(i) for i in query.history],
        "scientific_domains": [int(i) for i in query.scientific_domains],
        "categories": [int(i) for i in query.categories],
    }


def query_of(user_id: int | None, context: dict[str, Any]) -> Query:
    """The query `replay_context` stored, as an engine reads it."""
    return Query(
        user_id=user_id,
        history=np.asarray(context.get("history", []), dtype=np.int64),
        scientific_domains=tuple(int(i) for i in context.get("scientific_domains", [])),
        categories=tuple(int(i) for i in context.get("categories", [])),
    )


@dataclass(frozen=True)
class Decision:
    """A ranked panel and the impression to store before it is shown."""

    impression: impressions.Impression
    explanations: list[Explanation]
    experiment: str | None = None

    def response(self, recommendation_id: int) -> RecommendationResponse:
        return RecommendationResponse(**self.answer(recommendation_id))

    def answer(self, recommendation_id: int) -> dict[str, Any]:
        """The response's fields as plain data, ready to serialise without validation (every
        value was built here with its declared type)."""
        return {
            "panel_id": self.impression.panel_id,
            "recommendations": self.impression.service_ids,
            "scores": self.impression.scores,
            "explanations": [e.long for e in self.explanations],
            "explanations_short": [e.short for e in self.explanations],
            "engine_version": self.impression.engine,
            "recommendation_id": recommendation_id,
            "experiment": self.experiment,
            "arm": self.impression.arm,
        }


@dataclass(frozen=True)
class Assignment:
    experiment_id: int
    experiment: str
    arm: str
    engine: str
    propensity: float
    pinned: LoadedModel | None


def assign(state: ServingState, request: RecommendationRequest, key: str) -> Assignment | None:
    """The running experiment on this panel and the visitor's arm in it, if any; a request
    that names its engine is outside every experiment. `key` names the visitor
    (`visitor_key`)."""
    if request.engine_version:
        return None
    experiment = state.experiment_on(request.panel_id or "v1")
    if experiment is None:
        return None
    arm, share = choose_arm(experiment.arms, bucket(experiment.id, key))
    pinned = state.pinned.get((arm.engine, arm.version)) if arm.version is not None else None
    return Assignment(experiment.id, experiment.name, arm.name, arm.engine, share, pinned)


def decide(
    state: ServingState,
    request: RecommendationRequest,
    *,
    visitor: Visitor | None = None,
    recent: Recent = NOBODY,
    search_hits: Collection[int] | None = None,
    fallback: Sequence[str] = (),
    exclude_opened: bool = True,
) -> Decision:
    """Rank services for one request from `state` alone (no store access).

    `recent` is the visitor's current session and orders; `search_hits` the services that
    match the request's full-text query, when it has one. Ordered services are never shown;
    the session's opened ones neither, unless `exclude_opened` is false. The caller stores
    `decision.impression` and only then answers with its id.
    """
    catalog = state.catalog
    visitor = visitor or Visitor.of(state, request)
    mask = candidate_mask(
        catalog,
        candidates=request.candidates,
        search=request.search_data,
        search_hits=search_hits,
        excluded_at=_excluded_at(catalog, visitor, recent, exclude_opened),
    )
    allowed = int(np.count_nonzero(mask))
    # Who asks, as experiments assign them and models remember them: worked out once.
    key = visitor_key(visitor.user_id, request.aai_uid, request.unique_id)
    query = _query(request, visitor, recent, key)
    assignment = assign(state, request, key)
    requested = assignment.engine if assignment is not None else request.engine_version
    first = assignment.pinned if assignment is not None else None
    models = state.models
    chosen = choose(models, requested, state.default_engine, fallback, query, first=first)
    ids, scores, own = panel(state, chosen, query, mask, request.panel_size)
    explanations = chosen.model.explain(query, ids[:own], catalog)
    if own < ids.shape[0]:
        explanations += models[LAST_RESORT].model.explain(query, ids[own:], catalog)
    random_arm = assignment is not None and chosen.engine == UNIFORM_ENGINE

    impression = impressions.Impression(
        requested_at=request.timestamp,
        unique_id=request.unique_id,
        visit_id=request.visit_id,
        page_id=request.page_id,
        panel_id=request.panel_id or "v1",
        client_id=request.client_id,
        user_id=visitor.user_id,
        aai_uid=request.aai_uid,
        engine_requested=request.engine_version,
        engine=chosen.engine,
        model_version=chosen.version,
        catalog_version=catalog.version,
        search_data=request.search_data.model_dump(exclude_defaults=True),
        candidates=list(request.candidates) or None,
        candidate_count=allowed,
        service_ids=[int(i) for i in ids],
        scores=[round(float(s), 6) for s in scores],
        experiment_id=assignment.experiment_id if assignment is not None else None,
        arm=assignment.arm if assignment is not None else None,
        propensity=assignment.propensity if assignment is not None else 1.0,
        explanations=[e.long for e in explanations],
        context=replay_context(catalog.service_ids[mask], query) if random_arm else None,
    )
    return Decision(
        impression=impression,
        explanations=explanations,
        experiment=assignment.experiment if assignment is not None else None,
    )
