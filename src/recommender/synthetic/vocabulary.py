"""The real EOSC names, vocabularies and interest clusters the generator builds on."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

FIXTURE_FORMAT = "marketplace-recommender/eosc-vocabulary@1"
FIXTURE_NAME = "eosc_vocabulary.json"

# Relative sizes of the research communities behind the clusters: our assumption (no public
# figures exist), chosen so that every community is present and none dominates.
CLUSTER_SHARES = {
    "humanities": 0.14,
    "earth": 0.20,
    "medicine": 0.14,
    "biology": 0.16,
    "physics": 0.16,
    "computer_science": 0.12,
    "business": 0.08,
}


@dataclass(frozen=True)
class Term:
    """One entry of a vocabulary; its dump id is its position plus one."""

    name: str
    pid: str | None = None
    description: str | None = None
    parent: int | None = None
    level: int = 0
    # Interest clusters the entry belongs to; every cluster when the seed data says nothing.
    clusters: tuple[int, ...] = ()
    abbreviation: str | None = None


@dataclass(frozen=True)
class SeedService:
    """A real Marketplace service; its lists hold positions in the vocabularies."""

    name: str
    tagline: str
    description: str
    categories: tuple[int, ...]
    scientific_domains: tuple[int, ...]
    providers: tuple[int, ...]
    research_steps: tuple[int, ...]
    trls: tuple[int, ...]
    open_access: bool
    pid: str | None = None


@dataclass(frozen=True)
class EoscVocabulary:
    """Everything the generator takes from the real EOSC data, loaded from the packaged extract."""

    clusters: tuple[str, ...]
    scientific_domains: tuple[Term, ...]
    categories: tuple[Term, ...]
    providers: tuple[Term, ...]
    platforms: tuple[Term, ...]
    target_users: tuple[Term, ...]
    access_modes: tuple[Term, ...]
    access_types: tuple[Term, ...]
    trls: tuple[Term, ...]
    life_cycle_statuses: tuple[Term, ...]
    research_steps: tuple[Term, ...]
    services: tuple[SeedService, ...]
    # Ordered pairs of related seed services (positions in `services`).
    relations: tuple[tuple[int, int], ...]
    european_countries: tuple[str, ...]
    other_countries: tuple[str, ...]
    order_types: tuple[str, ...]
    page_graph: Mapping[str, Any]
    sources: tuple[Mapping[str, str], ...]

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    def vocabularies(self) -> dict[str, tuple[Term, ...]]:
        """The small entities of a dump, by the name of their array."""
        return {
            "categories": self.categories,
            "providers": self.providers,
            "scientific_domains": self.scientific_domains,
            "platforms": self.platforms,
            "target_users": self.target_users,
            "access_modes": self.access_modes,
            "access_types": self.access_types,
            "trls": self.trls,
            "life_cycle_statuses": self.life_cycle_statuses,
            "research_steps": self.research_steps,
        }

    def index(self, vocabulary: str, name: str) -> int:
        """Position of the first entry of a vocabulary with this name."""
        for position, term in enumerate(self.vocabularies()[vocabulary]):
            if term.name == name:
                return position
        raise KeyError(f"{vocabulary} has no entry named {name!r}")


def cluster_shares(clusters: Sequence[str]) -> NDArray[np.float64]:
    """How common each cluster's community is, normalised; unknown clusters get the mean share."""
    mean = float(np.mean(list(CLUSTER_SHARES.values())))
    shares = np.array([CLUSTER_SHARES.get(name, mean) for name in clusters])
    return np.asarray(shares / shares.sum(), dtype=np.float64)


def membership(terms: Sequence[Term], n_clusters: int) -> NDArray[np.float64]:
    """Rows of cluster weights, one per term: its clusters share a unit of mass equally.

    A term in every cluster ("Generic", "Other") thus says little about a topic, while a term in
    one cluster ("Clinical Medicine") says a lot; the generator relies on that contrast.
    """
    out = np.zeros((len(terms), n_clusters))
    for row, term in enumerate(terms):
        clusters = term.clusters or tuple(range(n_clusters))
        out[row, list(clusters)] = 1.0 / len(clusters)
    return out


def _terms(records: Sequence[Mapping[str, Any]]) -> tuple[Term, ...]:
    return tuple(
        Term(
            name=r["name"],
            pid=r.get("pid") or r.get("eid"),
            description=r.get("description"),
            parent=r.get("parent"),
            level=r.get("level", 0),
            clusters=tuple(r.get("clusters", ())),
            abbreviation=r.get("abbreviation"),
        )
        for r in records
    )


def parse_vocabulary(doc: Mapping[str, Any]) -> EoscVocabulary:
    if doc.get("format") != FIXTURE_FORMAT:
        raise ValueError(f"not an EOSC vocabulary extract (format {doc.get('format')!r})")
    services = tuple(
        SeedService(
            name=s["name"],
            tagline=s.get("tagline", ""),
            description=s.get("description", ""),
            categories=tuple(s["categories"]),
            scientific_domains=tuple(s["scientific_domains"]),
            providers=tuple(s["providers"]),
            research_steps=tuple(s.get("research_steps", ())),
            trls=tuple(s.get("trls", ())),
            open_access=bool(s.get("open_access")),
            pid=s.get("pid"),
        )
        for s in doc["services"]
    )
    return EoscVocabulary(
        clusters=tuple(doc["clusters"]),
        scientific_domains=_terms(doc["scientific_domains"]),
        categories=_terms(doc["categories"]),
        providers=_terms(doc["providers"]),
        platforms=_terms(doc["platforms"]),
        target_users=_terms(doc["target_users"]),
        access_modes=_terms(doc["access_modes"]),
        access_types=_terms(doc["access_types"]),
        trls=_terms(doc["trls"]),
        life_cycle_statuses=_terms(doc["life_cycle_statuses"]),
        research_steps=_terms(doc["research_steps"]),
        services=services,
        relations=tuple((int(a), int(b)) for a, b in doc["relations"]),
        european_countries=tuple(doc["countries"]["europe"]),
        other_countries=tuple(doc["countries"]["other"]),
        order_types=tuple(doc["order_types"]),
        page_graph=doc["page_graph"],
        sources=tuple(doc["sources"]),
    )


def load_vocabulary(path: Path | None = None) -> EoscVocabulary:
    """The packaged EOSC extract, or another file of the same format."""
    if path is None:
        text = resources.files("recommender").joinpath("fixtures", FIXTURE_NAME).read_text("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return parse_vocabulary(json.loads(text))
