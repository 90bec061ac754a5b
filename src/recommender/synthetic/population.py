"""Registered users and anonymous visitors with hidden interests, and what users declare.

Interests are mixtures over the clusters drawn from a sparse Dirichlet, so most people care
about one or two communities. Registered users declare scientific domains and categories in
their profile: a noisy view of their interests (mostly terms of their own clusters, sometimes a
random one, sometimes nothing). A share of users are new (cold start): they declared interests
but have used nothing yet.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from recommender.arrays import BoolArray, DoubleArray, IntArray
from recommender.synthetic.vocabulary import EoscVocabulary, cluster_shares, membership

INTEREST_CONCENTRATION = 1.5  # total Dirichlet mass: low, so interests are sparse
DECLARED_NOISE = 0.15  # chance a declared term is random rather than from the user's clusters
SILENT_SHARE = 0.1  # users with a history who declared nothing
AAI_SHARE = 0.75  # users with an AAI identity
INTEREST_DECIMALS = 4


@dataclass(frozen=True, eq=False)
class Population:
    """Profiles in rows: registered users first (ids `1..n_users`), then anonymous visitors."""

    interests: DoubleArray
    # Expected sessions per day of each profile.
    activity: DoubleArray
    # One browser id per profile, the `unique_id` of its requests and actions.
    unique_ids: list[str]
    n_users: int
    user_ids: IntArray
    aai_uids: list[str | None]
    declared_domains: list[list[int]]  # dump ids
    declared_categories: list[list[int]]
    cold: BoolArray
    # Orders each user placed before the simulated window.
    history_length: IntArray
    # The recommendation panel layout (`v1` or `v2`) each profile's browser was assigned.
    panel: list[str]

    @property
    def n_profiles(self) -> int:
        return int(self.interests.shape[0])

    @property
    def n_visitors(self) -> int:
        return self.n_profiles - self.n_users


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


class _Declarer:
    """Draws the terms a user declares: from the user's clusters, specific terms first."""

    def __init__(self, terms: DoubleArray) -> None:
        self.n = terms.shape[0]
        # One cumulative table per cluster, so each draw is a bisection.
        self.cumulative = np.cumsum(terms.T**3, axis=1)

    def __call__(self, rng: np.random.Generator, interests: DoubleArray, count: int) -> list[int]:
        chosen: list[int] = []
        clusters = np.cumsum(interests)
        for _ in range(count):
            if rng.random() < DECLARED_NOISE:
                term = int(rng.integers(self.n))
            else:
                cluster = int(np.searchsorted(clusters, rng.random() * clusters[-1], "right"))
                table = self.cumulative[cluster]
                term = int(np.searchsorted(table, rng.random() * table[-1], "right"))
            if term + 1 not in chosen:
                chosen.append(term + 1)
        return sorted(chosen)


def draw_population(
    vocab: EoscVocabulary,
    n_users: int,
    n_visitors: int,
    rng: np.random.Generator,
    *,
    cold_share: float,
    sessions_per_day: float,
    mean_history: float,
    panel_v2_share: float,
) -> Population:
    k = vocab.n_clusters
    n = n_users + n_visitors
    alpha = INTEREST_CONCENTRATION * cluster_shares(vocab.clusters)
    interests = np.round(rng.dirichlet(alpha, size=n), INTEREST_DECIMALS)
    # Rounding can leave a row without mass when the draw was extremely concentrated.
    empty = interests.sum(axis=1) == 0
    interests[empty, np.argmax(rng.dirichlet(alpha, size=int(empty.sum())), axis=1)] = 1.0
    # Activity is heavy-tailed: a few people come back often, most rarely. Anonymous visitors
    # come less often than registered users.
    spread = 1.0
    activity = sessions_per_day * np.exp(rng.normal(-(spread**2) / 2, spread, size=n))
    activity[n_users:] *= 0.7
    unique_ids = [_uuid(rng) for _ in range(n)]
    panel = ["v2" if x < panel_v2_share else "v1" for x in rng.random(n)]

    cold = np.zeros(n_users, dtype=bool)
    cold[rng.permutation(n_users)[: round(cold_share * n_users)]] = True
    # History lengths are log-normal: many users with one or two services, a few with dozens.
    sigma = 0.8
    mu = np.log(max(mean_history, 1.0)) - sigma**2 / 2
    history = np.clip(np.rint(np.exp(rng.normal(mu, sigma, size=n_users))), 1, 60)
    history = np.where(cold, 0, history).astype(np.int64)

    declare_domain = _Declarer(membership(vocab.scientific_domains, k))
    declare_category = _Declarer(membership(vocab.categories, k))
    aai_uids: list[str | None] = []
    declared_domains: list[list[int]] = []
    declared_categories: list[list[int]] = []
    for u in range(n_users):
        aai_uids.append(f"{rng.bytes(20).hex()}@egi.eu" if rng.random() < AAI_SHARE else None)
        if not cold[u] and rng.random() < SILENT_SHARE:
            declared_domains.append([])
            declared_categories.append([])
            continue
        declared_domains.append(declare_domain(rng, interests[u], 1 + int(rng.binomial(2, 0.35))))
        declared_categories.append(
            declare_category(rng, interests[u], 1 + int(rng.binomial(2, 0.3)))
        )
    return Population(
        interests=interests,
        activity=activity,
        unique_ids=unique_ids,
        n_users=n_users,
        user_ids=np.arange(1, n_users + 1, dtype=np.int64),
        aai_uids=aai_uids,
        declared_domains=declared_domains,
        declared_categories=declared_categories,
        cold=cold,
        history_length=history,
        panel=panel,
    )
