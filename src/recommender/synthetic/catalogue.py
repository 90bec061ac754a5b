"""Services with features: the real EOSC services, then plausible variants of them.

A variant is a real service offered again by another provider, for one research community, or
in one country (`B2SHARE @ CSC`, `EGI Notebooks for Biological Sciences`). Each variant is
given a cluster first (its base service's, or a new one for general-purpose bases, or none for
a horizontal service), and its scientific domains, subcategories, platforms and provider are
drawn to fit that cluster. Its hidden topic mixture is half what those features say and half
the cluster itself, so topics can be learnt from features but are not a formula of them.
"""

# Longer than 400 lines because building a catalogue is one pass over shared random streams
# and vocabulary weights; split, each part would need all of the others' state.

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recommender.arrays import BoolArray, DoubleArray, IntArray
from recommender.synthetic.vocabulary import (
    EoscVocabulary,
    SeedService,
    Term,
    cluster_shares,
    membership,
)

RECOMMENDABLE = ("published", "unverified")
# Variants only: every real service is published.
STATUS_SHARES = {"published": 0.86, "unverified": 0.09, "draft": 0.03, "deleted": 0.02}
HORIZONTAL_SHARE = 0.25  # general-purpose bases kept general-purpose
HORIZONTAL_QUALITY = 0.8
SPECIFIC_TOPIC = 0.45  # a base whose largest cluster weight reaches this is a specialist
RATED_SHARE = 0.7
REQUIRED_SHARE = 0.12
TOPIC_DECIMALS = 4

_TRL_SHARES = {"trl-9": 0.6, "trl-8": 0.2, "trl-7": 0.12, "trl-6": 0.08}
_LIFE_CYCLE_SHARES = {
    "Production": 0.45,
    "Operation": 0.3,
    "Beta": 0.15,
    "Alpha": 0.05,
    "Implementation": 0.05,
}
_ACCESS_TYPE_SHARES = {"Virtual": 0.8, "Remote": 0.12, "Physical": 0.05, "Mail-In": 0.03}
_PAID_ACCESS_MODES = {"Free Conditionally": 0.4, "Free": 0.25, "Paid": 0.2, "Peer Reviewed": 0.15}
# Categories of the infrastructure other services build on (required services come from these).
_INFRASTRUCTURE = ("Compute", "Data Storage", "Security & Operations", "Network")


@dataclass(frozen=True, eq=False)
class Catalogue:
    """The generated services: dump records plus the hidden truth about them, row by row.

    Service ids are `1..n` in row order, so the row of service `i` is `i - 1`.
    """

    ids: IntArray
    records: list[dict[str, Any]]
    topics: DoubleArray  # rows: mixtures over the interest clusters
    quality: DoubleArray
    recommendable: BoolArray
    base: IntArray  # the seed service each service derives from
    cluster: IntArray  # the cluster a service was made for, -1 for a horizontal one
    vocabularies: dict[str, list[dict[str, Any]]]

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])

    def rows(self, service_ids: Sequence[int] | IntArray) -> IntArray:
        return np.asarray(service_ids, dtype=np.int64) - 1


def vocabulary_records(terms: Sequence[Term]) -> list[dict[str, Any]]:
    """Dump records of a vocabulary: ids are positions plus one, stable across runs."""
    out = []
    for position, term in enumerate(terms):
        record: dict[str, Any] = {"id": position + 1, "name": term.name}
        if term.description:
            record["description"] = term.description
        if term.pid:
            record["pid"] = term.pid
        out.append(record)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "service"


def _short_provider(term: Term) -> str:
    """A provider's name as a service name would show it: its acronym when it has one."""
    acronym = re.search(r"\(([^()]{2,20})\)\s*$", term.name)
    if acronym:
        return acronym.group(1)
    if len(term.name) <= 30:
        return term.name.rstrip(".")
    return (term.abbreviation or term.name[:30]).upper().replace("-", " ")


def _choice(rng: np.random.Generator, weights: DoubleArray, size: int = 1) -> IntArray:
    """Positions drawn without replacement in proportion to non-negative weights."""
    w = np.asarray(weights, dtype=np.float64)
    size = min(size, int(np.count_nonzero(w > 0)))
    if size <= 0:
        return np.empty(0, dtype=np.int64)
    if size == 1:
        cumulative = np.cumsum(w)
        return np.array([np.searchsorted(cumulative, rng.random() * cumulative[-1], "right")])
    # Exponential race: the first `size` arrivals of clocks ticking at rate w are a sample
    # without replacement, each draw proportional to the weights left.
    with np.errstate(divide="ignore"):
        arrival = rng.exponential(size=w.shape[0]) / w
    return np.asarray(np.argsort(arrival, kind="stable")[:size], dtype=np.int64)


def _shares(rng: np.random.Generator, vocab_names: Sequence[str], shares: dict[str, float]) -> int:
    names = [name for name in shares if name in vocab_names]
    weights = np.array([shares[name] for name in names])
    return vocab_names.index(names[int(_choice(rng, weights)[0])])


class _Builder:
    """Holds the vocabulary-derived tables that every service draw needs."""

    def __init__(self, vocab: EoscVocabulary, rng: np.random.Generator) -> None:
        self.vocab = vocab
        self.rng = rng
        k = vocab.n_clusters
        self.k = k
        self.shares = cluster_shares(vocab.clusters)
        self.domain_m = membership(vocab.scientific_domains, k)
        self.category_m = membership(vocab.categories, k)
        self.platform_m = membership(vocab.platforms, k)
        self.domain_spec = self.domain_m.max(axis=1)
        self.category_spec = self.category_m.max(axis=1)
        self.levels = np.array([t.level for t in vocab.categories])
        self.parents = np.array([-1 if t.parent is None else t.parent for t in vocab.categories])
        self.domain_levels = np.array(
            [0 if t.parent is None else 1 for t in vocab.scientific_domains]
        )
        self.seed_topics = np.array([self.feature_topic(s) for s in vocab.services])
        # A provider stands for the communities of the real services it runs.
        provider_m = np.full((len(vocab.providers), k), 1.0 / k)
        for p in range(len(vocab.providers)):
            rows = [i for i, s in enumerate(vocab.services) if p in s.providers]
            if rows:
                provider_m[p] = self.seed_topics[rows].mean(axis=0)
        self.provider_m = provider_m
        self.names = {name: [t.name for t in terms] for name, terms in vocab.vocabularies().items()}
        self.researchers = self.names["target_users"].index("Researchers")
        self.infrastructure = {
            i
            for i, s in enumerate(vocab.services)
            if any(vocab.categories[c].name in _INFRASTRUCTURE for c in s.categories)
        }

    def feature_topic(self, service: SeedService) -> DoubleArray:
        """What a service's domains and categories say about its topics, specific terms first."""
        rows = [self.domain_m[d] for d in service.scientific_domains]
        rows += [self.category_m[c] for c in service.categories]
        return self.mix(rows)

    @staticmethod
    def mix(rows: Sequence[DoubleArray]) -> DoubleArray:
        stacked = np.array(rows)
        # Weighting by the largest weight of each row lets one specific term outvote generic ones.
        weights = stacked.max(axis=1) ** 2
        topic = (weights[:, None] * stacked).sum(axis=0)
        return np.asarray(topic / topic.sum(), dtype=np.float64)

    def cluster_weights(self, matrix: DoubleArray, cluster: int) -> DoubleArray:
        """Weights of terms for a service of one cluster (or a horizontal one, cluster -1)."""
        if cluster < 0:
            return np.asarray(matrix.mean(axis=1), dtype=np.float64)
        return np.asarray(matrix[:, cluster], dtype=np.float64)

    def domains_for(self, cluster: int) -> list[int]:
        weights = self.domain_m[:, cluster] ** 2.5 * np.where(self.domain_levels == 1, 3.0, 1.0)
        count = 1 if self.rng.random() < 0.7 else 2
        return sorted(_choice(self.rng, weights, count).tolist())

    def categories_for(self, anchors: Sequence[int], cluster: int) -> list[int]:
        """A category under each anchor of the base service and one or two subcategories."""
        chosen: list[int] = []
        for anchor in anchors[:2]:
            category = anchor
            if self.levels[anchor] == 0:
                children = np.flatnonzero((self.parents == anchor) & (self.levels == 1))
                if children.size:
                    weights = self.cluster_weights(self.category_m[children], cluster) + 0.05
                    category = int(children[_choice(self.rng, weights)[0]])
            chosen.append(category)
            subs = np.flatnonzero((self.parents == category) & (self.levels == 2))
            if subs.size:
                weights = self.cluster_weights(self.category_m[subs], cluster) ** 2 + 0.002
                count = 1 if self.rng.random() < 0.6 else 2
                chosen.extend(subs[_choice(self.rng, weights, count)].tolist())
        return list(dict.fromkeys(chosen))

    def platforms_for(self, cluster: int) -> list[int]:
        count = int(self.rng.choice(3, p=[0.3, 0.5, 0.2]))
        weights = self.cluster_weights(self.platform_m, cluster) ** 2
        return sorted(_choice(self.rng, weights, count).tolist())

    def provider_for(self, cluster: int) -> int:
        weights = self.cluster_weights(self.provider_m, cluster) ** 2 + 0.002
        return int(_choice(self.rng, weights)[0])

    def countries(self) -> list[str]:
        europe = self.vocab.european_countries
        picked = list(self.rng.choice(europe, size=int(self.rng.integers(1, 6)), replace=False))
        if self.rng.random() < 0.1 and self.vocab.other_countries:
            picked.append(str(self.rng.choice(self.vocab.other_countries)))
        return sorted(str(c) for c in picked)


def _seed_rows(vocab: EoscVocabulary, n: int, rng: np.random.Generator) -> list[int]:
    """Which real services the catalogue holds: all of them, or a sample when it is smaller."""
    n_seed = len(vocab.services)
    if n >= n_seed:
        return list(range(n_seed))
    return sorted(int(i) for i in rng.choice(n_seed, size=n, replace=False))


def build_catalogue(vocab: EoscVocabulary, n_services: int, rng: np.random.Generator) -> Catalogue:
    """The real services (all, or a sample) and then variants of them up to `n_services`."""
    if n_services < 1:
        raise ValueError("a catalogue needs at least one service")
    b = _Builder(vocab, rng)
    seed_rows = _seed_rows(vocab, n_services, rng)
    # Families of variants have unequal sizes, as some services are deployed far more widely.
    family_weights = rng.dirichlet(np.full(len(vocab.services), 1.5))
    seed_quality = rng.normal(0.6, 0.6, size=len(vocab.services))
    taken_names: set[str] = set()
    taken_pids: set[str] = set()
    records: list[dict[str, Any]] = []
    topics = np.zeros((n_services, b.k))
    quality = np.zeros(n_services)
    bases = np.zeros(n_services, dtype=np.int64)
    clusters = np.full(n_services, -1, dtype=np.int64)
    statuses: list[str] = []

    for row in range(n_services):
        is_seed = row < len(seed_rows)
        base_row = seed_rows[row] if is_seed else int(_choice(rng, family_weights)[0])
        base = vocab.services[base_row]
        base_topic = b.seed_topics[base_row]
        if base_topic.max() >= SPECIFIC_TOPIC:
            cluster = int(_choice(rng, base_topic**2)[0])
        elif is_seed or rng.random() < HORIZONTAL_SHARE:
            cluster = -1
        else:
            cluster = int(_choice(rng, b.shares)[0])

        if is_seed:
            name, tagline, description = base.name, base.tagline, base.description
            domains = list(base.scientific_domains)
            providers = list(base.providers)
            status = "published"
            q = seed_quality[base_row]
        else:
            domains = b.domains_for(cluster) if cluster >= 0 else list(base.scientific_domains)
            provider = b.provider_for(cluster)
            if rng.random() < 0.5:
                providers = list(base.providers)
            elif rng.random() < 0.3:
                providers = list(dict.fromkeys([provider, base.providers[0]]))
            else:
                providers = [provider]
            name, tagline, description = _variant_text(
                vocab, base, cluster, domains, providers, rng, taken_names
            )
            status = list(STATUS_SHARES)[
                int(_choice(rng, np.array(list(STATUS_SHARES.values())))[0])
            ]
            q = 0.5 * seed_quality[base_row] + rng.normal(-0.2, 0.8)
            if cluster < 0:
                # General-purpose infrastructure (compute, storage) is mature and widely used:
                # without this its lukewarm topic match for everyone would leave it unused.
                q += HORIZONTAL_QUALITY
        taken_names.add(name)
        categories = b.categories_for(base.categories, cluster)

        feature = b.mix([b.domain_m[d] for d in domains] + [b.category_m[c] for c in categories])
        hidden = np.eye(b.k)[cluster] if cluster >= 0 else feature
        topic = np.round(0.5 * feature + 0.5 * hidden, TOPIC_DECIMALS)
        topics[row] = topic
        quality[row] = round(float(q), TOPIC_DECIMALS)
        bases[row] = base_row
        clusters[row] = cluster
        statuses.append(status)

        pid = base.pid if is_seed and base.pid else None
        if pid is None or pid in taken_pids:
            prefix = _slug(vocab.providers[providers[0]].abbreviation or "eosc")
            pid = f"{prefix}.{_slug(name)}"
            suffix = 2
            while pid in taken_pids:
                pid, suffix = f"{prefix}.{_slug(name)}_{suffix}", suffix + 1
        taken_pids.add(pid)

        # Some instances of a service change its access policy.
        flipped = not is_seed and rng.random() < 0.15
        open_access = base.open_access != flipped
        if open_access:
            access_modes = [b.names["access_modes"].index("Free")]
        else:
            access_modes = [_shares(rng, b.names["access_modes"], _PAID_ACCESS_MODES)]
        target_users = [b.researchers] if rng.random() < 0.85 else []
        extra_users = _choice(rng, np.ones(len(vocab.target_users)), int(rng.integers(0, 3)))
        target_users = sorted(set(target_users) | set(extra_users.tolist()))
        rated = rng.random() < RATED_SHARE
        rating = round(float(np.clip(3.7 + 0.5 * q + rng.normal(0, 0.35), 1, 5)), 1)
        records.append(
            {
                "id": row + 1,
                "name": name,
                "pid": pid,
                "tagline": tagline,
                "description": description,
                "status": status,
                "order_type": vocab.order_types[0] if open_access else vocab.order_types[-1],
                "rating": rating if rated else 0.0,
                "horizontal": cluster < 0,
                "countries": b.countries(),
                "resource_organisation": providers[0] + 1,
                "providers": [p + 1 for p in providers],
                "categories": [c + 1 for c in categories],
                "scientific_domains": [d + 1 for d in domains],
                "platforms": [p + 1 for p in b.platforms_for(cluster)],
                "target_users": [t + 1 for t in target_users],
                "access_modes": [m + 1 for m in access_modes],
                "access_types": [_shares(rng, b.names["access_types"], _ACCESS_TYPE_SHARES) + 1],
                "trls": (
                    [t + 1 for t in base.trls]
                    if is_seed and base.trls
                    else [_shares(rng, b.names["trls"], _TRL_SHARES) + 1]
                ),
                "life_cycle_statuses": [
                    _shares(rng, b.names["life_cycle_statuses"], _LIFE_CYCLE_SHARES) + 1
                ],
                "research_steps": [s + 1 for s in base.research_steps],
                "related_services": [],
                "required_services": [],
            }
        )

    _link(records, vocab, seed_rows, bases, clusters, b.infrastructure, rng)
    return Catalogue(
        ids=np.arange(1, n_services + 1, dtype=np.int64),
        records=records,
        topics=topics,
        quality=quality,
        recommendable=np.array([s in RECOMMENDABLE for s in statuses], dtype=bool),
        base=bases,
        cluster=clusters,
        vocabularies={
            name: vocabulary_records(terms) for name, terms in vocab.vocabularies().items()
        },
    )


def _variant_text(
    vocab: EoscVocabulary,
    base: SeedService,
    cluster: int,
    domains: list[int],
    providers: list[int],
    rng: np.random.Generator,
    taken: set[str],
) -> tuple[str, str, str]:
    """Name, tagline and description of a variant, made from its base service's real text."""
    provider = _short_provider(vocab.providers[providers[0]])
    domain = vocab.scientific_domains[domains[0]].name
    country = str(rng.choice(vocab.european_countries))
    options = [f"{base.name} @ {provider}", f"{base.name} ({country} node)"]
    if cluster >= 0 and domain not in ("Other", "Generic"):
        edition = f"({domain})" if " for " in base.name else f"for {domain}"
        options += [f"{base.name} {edition}"] * 2
    name = options[int(rng.integers(len(options)))]
    if name in taken:
        # Another variant already has this name: the instance number tells them apart.
        suffix = 2
        while f"{name} ({suffix})" in taken:
            suffix += 1
        name = f"{name} ({suffix})"
    tagline = base.tagline
    notes = [f"This instance is operated by {vocab.providers[providers[0]].name}."]
    if cluster >= 0:
        notes.append(f"Configured for the {domain} research community.")
        if rng.random() < 0.5:
            tagline = f"{base.tagline.rstrip('.')}, for {domain}"
    description = f"{base.description}\n\n{' '.join(notes)}".strip()
    return name, tagline, description


def _link(
    records: list[dict[str, Any]],
    vocab: EoscVocabulary,
    seed_rows: list[int],
    bases: IntArray,
    clusters: IntArray,
    infrastructure: set[int],
    rng: np.random.Generator,
) -> None:
    """Related and required services: real relations between real services, and for variants
    services of related families, preferably made for the same community."""
    row_of_seed = {seed: row for row, seed in enumerate(seed_rows)}
    related_bases: dict[int, set[int]] = {}
    for source, target in vocab.relations:
        related_bases.setdefault(source, set()).add(target)
    family: dict[int, list[int]] = {}
    for row, base in enumerate(bases.tolist()):
        family.setdefault(base, []).append(row)
    infra_rows = np.array([r for r, base in enumerate(bases.tolist()) if base in infrastructure])
    n_seed = len(seed_rows)
    for row, record in enumerate(records):
        base = int(bases[row])
        if row < n_seed:
            related = [
                row_of_seed[t] for t in sorted(related_bases.get(base, ())) if t in row_of_seed
            ]
        else:
            pool = [r for b in {base, *related_bases.get(base, ())} for r in family.get(b, [])]
            candidates = np.array([r for r in pool if r != row], dtype=np.int64)
            related = []
            if candidates.size:
                weights = np.where(clusters[candidates] == clusters[row], 3.0, 1.0)
                count = min(int(rng.poisson(1.2)), 4)
                related = candidates[_choice(rng, weights, count)].tolist()
            if infra_rows.size and rng.random() < REQUIRED_SHARE:
                required = int(infra_rows[rng.integers(infra_rows.size)])
                if required != row:
                    record["required_services"] = [required + 1]
        record["related_services"] = sorted(r + 1 for r in related)
