"""The choice model: a visitor's true affinity for a service and the clicks and orders it causes.

Everything here is a pure function of hidden parameters (interest mixtures of visitors, topic
mixtures and quality of services, a noise seed) and of a random generator the caller passes in,
so the generator, a simulator replaying panels an engine shows, and an evaluator all see the same
visitors. The model, in full:

    affinity(u, s) = topic_weight * <interests[u], topics[s]>
                     + quality_weight * quality[s]
                     + noise_scale * e(u, s)

where `interests[u]` and `topics[s]` are mixtures over the interest clusters (rows summing to
one), `quality[s]` is roughly standard normal, and `e(u, s)` is a standard normal number fixed
by a hash of (noise seed, profile, service id): one visitor's lasting taste for one service,
the same every time it is asked for.

    P(examine | position k)  = attention * (1 + k) ** -decay        (panel and list differ)
    P(click | examined)      = sigmoid(affinity + click_offset)
    P(order | clicked)       = sigmoid(order_slope * (affinity - order_threshold))
                               * (repeat_order_factor if the visitor already uses s else 1)

Orders therefore grow with affinity by construction, and position bias is separate from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import ndtri

from recommender.arrays import BoolArray, DoubleArray, IntArray

Placement = Literal["panel", "list"]

# Odd 64-bit constants of the SplitMix64 generator (Steele, Lea and Flood, 2014).
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SERVICE_SALT = np.uint64(0xD1B54A32D192ED03)


class BehaviourParams(BaseModel):
    """The knobs of the choice model; the defaults make topics dominate quality and noise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic_weight: float = Field(5.0, ge=0, description="Affinity of a perfect topic match.")
    quality_weight: float = Field(0.8, ge=0, description="Affinity per unit of quality.")
    noise_scale: float = Field(0.6, ge=0, description="Spread of one visitor's taste per service.")
    click_offset: float = Field(-3.5, description="Added to affinity before the click sigmoid.")
    order_threshold: float = Field(3.5, description="Affinity at which half the clicks order.")
    order_slope: float = Field(1.5, gt=0, description="Steepness of the order sigmoid.")
    panel_attention: float = Field(0.4, ge=0, le=1, description="P(examine) of panel slot 0.")
    panel_decay: float = Field(0.5, ge=0, description="Position decay of panel examination.")
    list_attention: float = Field(0.9, ge=0, le=1, description="P(examine) of search result 0.")
    list_decay: float = Field(0.9, ge=0, description="Position decay of result examination.")
    repeat_order_factor: float = Field(
        0.1, ge=0, le=1, description="How much less often a visitor orders a service it uses."
    )


def sigmoid(x: DoubleArray) -> DoubleArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def pair_noise(seed: int, profiles: ArrayLike, service_ids: ArrayLike) -> DoubleArray:
    """Standard normal numbers fixed by (seed, profile, service id), broadcast like numpy."""
    p = np.asarray(profiles, dtype=np.int64).astype(np.uint64)
    s = np.asarray(service_ids, dtype=np.int64).astype(np.uint64)
    # Multiplication modulo 2**64 is the point of the hash: silence numpy's overflow warning,
    # which it raises for 0-d arrays only.
    with np.errstate(over="ignore"):
        z = (
            np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
            ^ ((p + np.uint64(1)) * _GAMMA)
            ^ (s * _SERVICE_SALT)
        )
        z = np.asarray(z, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    # 53 random bits, centred in their cell, so the quantile is never 0 or 1.
    uniform = ((z >> np.uint64(11)).astype(np.float64) + 0.5) / float(2**53)
    return np.asarray(ndtri(uniform), dtype=np.float64)


@dataclass(frozen=True)
class Response:
    """What one visitor did with one shown list, position by position."""

    services: IntArray
    affinity: DoubleArray
    examine_probability: DoubleArray
    click_probability: DoubleArray  # P(click), examination included
    order_probability: DoubleArray  # P(order | click)
    clicked: BoolArray
    ordered: BoolArray


class BehaviourModel:
    """The hidden truth about visitors and services, and the choices it implies.

    Profiles are rows of `interests`: by convention the generator puts registered users first
    (in user id order) and anonymous visitors after them; `profile_of` maps either kind of
    identity to its row.
    """

    def __init__(
        self,
        interests: ArrayLike,
        service_ids: ArrayLike,
        topics: ArrayLike,
        quality: ArrayLike,
        params: BehaviourParams | None = None,
        noise_seed: int = 0,
        user_profiles: Mapping[int, int] | None = None,
        visitor_profiles: Mapping[str, int] | None = None,
    ) -> None:
        self.interests = np.asarray(interests, dtype=np.float64)
        self.service_ids = np.asarray(service_ids, dtype=np.int64)
        self.topics = np.asarray(topics, dtype=np.float64)
        self.quality = np.asarray(quality, dtype=np.float64)
        if self.service_ids.ndim != 1 or np.any(np.diff(self.service_ids) <= 0):
            raise ValueError("service_ids must be strictly increasing")
        if self.topics.shape != (self.service_ids.shape[0], self.interests.shape[1]):
            raise ValueError("topics must have one row per service and one column per cluster")
        if self.quality.shape != self.service_ids.shape:
            raise ValueError("quality must have one value per service")
        n = self.service_ids.shape[0]
        self._n = n
        self._dense = bool(n and self.service_ids[0] == 1 and self.service_ids[-1] == n)
        self.params = params or BehaviourParams()
        self.noise_seed = noise_seed
        self.user_profiles = dict(user_profiles or {})
        self.visitor_profiles = dict(visitor_profiles or {})

    @property
    def n_profiles(self) -> int:
        return int(self.interests.shape[0])

    def rows(self, service_ids: ArrayLike) -> IntArray:
        """Positions of service ids in the model; raises for ids it does not know."""
        ids = np.asarray(service_ids, dtype=np.int64)
        if self._dense and ids.size and ids.min() >= 1 and ids.max() <= self._n:
            # The generator numbers services 1..n: the row is the id minus one.
            return ids - 1
        pos = np.searchsorted(self.service_ids, ids)
        pos = np.minimum(pos, self.service_ids.shape[0] - 1)
        if np.any(self.service_ids[pos] != ids):
            missing = np.unique(ids[self.service_ids[pos] != ids])[:5].tolist()
            raise KeyError(f"services unknown to the behaviour model: {missing}")
        return np.asarray(pos, dtype=np.int64)

    def profile_of(self, user_id: int | None = None, unique_id: str | None = None) -> int | None:
        """The profile row of a registered user, else of an anonymous visitor, else None."""
        if user_id is not None and user_id in self.user_profiles:
            return self.user_profiles[user_id]
        if unique_id is not None:
            return self.visitor_profiles.get(unique_id)
        return None

    def affinity(self, profiles: ArrayLike, service_ids: ArrayLike) -> DoubleArray:
        """True affinity, broadcast over profile rows and service ids like numpy arrays."""
        p = np.asarray(profiles, dtype=np.int64)
        ids = np.asarray(service_ids, dtype=np.int64)
        rows = self.rows(ids)
        match = (self.interests[p] * self.topics[rows]).sum(axis=-1)
        return self._combine(match, rows, p, ids)

    def affinity_matrix(self, profiles: ArrayLike, service_ids: ArrayLike) -> DoubleArray:
        """Affinity of every listed profile (rows) for every listed service (columns)."""
        p = np.asarray(profiles, dtype=np.int64).reshape(-1)
        ids = np.asarray(service_ids, dtype=np.int64).reshape(-1)
        rows = self.rows(ids)
        # A matrix product, so a block of profiles never builds a profiles x services x
        # clusters array.
        match = self.interests[p] @ self.topics[rows].T
        return self._combine(match, rows[None, :], p[:, None], ids[None, :])

    def _combine(
        self, match: DoubleArray, rows: IntArray, p: IntArray, ids: IntArray
    ) -> DoubleArray:
        params = self.params
        return np.asarray(
            params.topic_weight * match
            + params.quality_weight * self.quality[rows]
            + params.noise_scale * pair_noise(self.noise_seed, p, ids),
            dtype=np.float64,
        )

    def examine_probability(self, n: int, placement: Placement) -> DoubleArray:
        params = self.params
        if placement == "panel":
            attention, decay = params.panel_attention, params.panel_decay
        else:
            attention, decay = params.list_attention, params.list_decay
        return np.asarray(attention * (1.0 + np.arange(n)) ** -decay, dtype=np.float64)

    def click_given_examined(self, affinity: ArrayLike) -> DoubleArray:
        return sigmoid(np.asarray(affinity, dtype=np.float64) + self.params.click_offset)

    def panel_click_chance(self, profile: int, shown: ArrayLike) -> float:
        """P(at least one click) on a panel showing `shown` in that order: the expected CTR
        per panel of one showing, without drawing it."""
        services = np.asarray(shown, dtype=np.int64).reshape(-1)
        if not services.shape[0]:
            return 0.0
        examine = self.examine_probability(int(services.shape[0]), "panel")
        click = examine * self.click_given_examined(self.affinity(profile, services))
        return float(1.0 - np.prod(1.0 - click))

    def order_given_click(self, affinity: ArrayLike, owned: ArrayLike | None = None) -> DoubleArray:
        params = self.params
        a = np.asarray(affinity, dtype=np.float64)
        p = sigmoid(params.order_slope * (a - params.order_threshold))
        if owned is not None:
            p = np.where(np.asarray(owned, dtype=bool), p * params.repeat_order_factor, p)
        return np.asarray(p, dtype=np.float64)

    def respond(
        self,
        profile: int,
        shown: ArrayLike,
        rng: np.random.Generator,
        *,
        placement: Placement = "panel",
        owned: ArrayLike | None = None,
        can_order: bool = True,
    ) -> Response:
        """Sample what a visitor does with a list shown in a panel or as search results.

        `owned` flags services the visitor already uses; `can_order` is false for anonymous
        visitors, who must log in before ordering. Draws exactly two uniforms per shown item,
        so a caller's random stream advances the same way whatever the outcome.
        """
        services = np.asarray(shown, dtype=np.int64).reshape(-1)
        n = services.shape[0]
        affinity = self.affinity(profile, services)
        examine = self.examine_probability(n, placement)
        click = examine * self.click_given_examined(affinity)
        order = self.order_given_click(affinity, owned)
        if not can_order:
            order = np.zeros_like(order)
        draws = rng.random((2, n))
        clicked = draws[0] < click
        ordered = clicked & (draws[1] < order)
        return Response(
            services=services,
            affinity=affinity,
            examine_probability=examine,
            click_probability=click,
            order_probability=order,
            clicked=clicked,
            ordered=ordered,
        )
