"""Build the packaged EOSC extract (`fixtures/eosc_vocabulary.json`) from the public EOSC data.

The synthetic marketplace generator must run where the public data is absent (a user's
`recommender synth` or `recommender demo`), so the few real names, vocabularies, clusters and
the portal's page graph it needs are extracted here into one small JSON file shipped inside
the package. Run it again whenever the extraction logic or the source data changes:

    .venv/bin/python scripts/build_eosc_fixture.py            # writes the packaged fixture
    .venv/bin/python scripts/build_eosc_fixture.py --check    # fails if the fixture is stale

The data directory is `$RECOMMENDER_DATA_DIR` (default `../shared/data` beside the checkout).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE = REPO_ROOT / "src" / "recommender" / "fixtures" / "eosc_vocabulary.json"
FORMAT = "marketplace-recommender/eosc-vocabulary@1"

# Interest clusters in the order the seed files first use them; the generator's topic vectors
# index this list, so it is fixed here rather than derived from dictionary order.
CLUSTERS = ("humanities", "earth", "medicine", "biology", "physics", "computer_science", "business")

# The seed catalogue still uses the Marketplace's first category tree; these are the entries of
# today's vocabulary that stand for each old name.
OLD_CATEGORIES = {
    "Sharing & Discovery": "supercategory-sharing_and_discovery",
    "Processing & Analysis": "supercategory-processing_and_analysis",
    "Training & Support": "supercategory-training_and_support",
    "Security & Operations": "supercategory-security_and_operations",
    "Compute": "category-access_physical_and_eInfrastructures-compute",
    "Storage": "category-access_physical_and_eInfrastructures-data_storage",
    "Data management": "category-processing_and_analysis-data_management",
    "Networking": "category-access_physical_and_eInfrastructures-network",
}
# Domain names of the seed catalogue that today's vocabulary spells differently.
OLD_DOMAINS = {"High-Energy Physics": "Physical Sciences"}

# Which research communities each platform serves: our reading of the platform names, since the
# seed data links no platform to a domain. Platforms not listed serve every community.
PLATFORM_CLUSTERS = {
    "CLARIN": ["humanities"],
    "Europeana": ["humanities"],
    "Global Earth Observation system of Systems (GEOSS)": ["earth"],
    "Open Geospatial Consortium": ["earth"],
    "Geohazards Thematic Exploitation Platform (GEP)": ["earth"],
    "IS-ENES": ["earth"],
    "ECOPOTENTIAL Virtual Laboratory": ["earth"],
    "SeaDataCloud": ["earth"],
    "Copernicus": ["earth"],
    "EO Pillar": ["earth"],
    "Group on Earth Observation (GEO)": ["earth"],
    "European Space Agency (ESA)": ["earth", "physics"],
    "GBIF": ["biology", "earth"],
    "OBIS": ["biology", "earth"],
    "WeNMR Suite": ["biology", "medicine"],
    "INSTRUCT-ERIC": ["biology", "medicine"],
    "BIOEXCEL": ["biology", "medicine"],
    "ELIXIR": ["biology", "medicine"],
    "EOSC PaN": ["physics"],
    "EC3 Portal": ["computer_science"],
}

# Research steps a service of each (old) category typically supports.
CATEGORY_RESEARCH_STEPS = {
    "Sharing & Discovery": ["Discover Research Outputs", "Publish Research Outputs"],
    "Processing & Analysis": ["Process and Analyse"],
    "Training & Support": ["Access Training Material"],
    "Security & Operations": ["Access Computing and Storage Resources"],
    "Compute": ["Access Computing and Storage Resources"],
    "Storage": ["Access Computing and Storage Resources", "Manage Research Data"],
    "Data management": ["Manage Research Data"],
    "Networking": ["Access Research Infrastructures"],
}

DESCRIPTION_CHARS = 700


def data_dir() -> Path:
    return Path(os.environ.get("RECOMMENDER_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def clean(text: str | None) -> str | None:
    """Plain text: no soft hyphens, no trailing blanks, single spaces inside lines."""
    if text is None:
        return None
    text = text.replace("\u00ad", "")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.strip().splitlines()]
    return "\n".join(lines).strip() or None


def short_description(text: str) -> str:
    """The opening of a description, before its how-to sections, cut at a sentence end."""
    body = clean(text.split("###", 1)[0]) or ""
    if len(body) <= DESCRIPTION_CHARS:
        return body
    cut = body[:DESCRIPTION_CHARS]
    end = max(cut.rfind(". "), cut.rfind(".\n"))
    return cut[: end + 1] if end > DESCRIPTION_CHARS // 3 else cut.rstrip() + "…"


def cluster_ids(names: list[str] | None) -> list[int]:
    """Cluster indices of a seed-file entry; an unknown name belongs to every cluster."""
    if not names:
        return list(range(len(CLUSTERS)))
    return sorted(CLUSTERS.index(name) for name in names)


def vocabulary_entries(records: list[dict[str, Any]], fields: tuple[str, ...]) -> list[Any]:
    return [{key: clean(r.get(key)) for key in fields if r.get(key)} for r in records]


def build(root: Path) -> dict[str, Any]:
    eosc = root / "eosc"
    marketplace = load(eosc / "marketplace" / "data.json")
    vocab = load(eosc / "marketplace" / "vocabulary.json")
    seed = eosc / "recommender-seed"
    category_clusters = load(seed / "category_clusters.json")
    domain_clusters = load(seed / "scientific_domain_clusters.json")
    faker = seed / "faker_seeds"
    catalogue = eosc / "resource-catalogue"

    # Scientific domains and categories keep the vocabulary's order; parents become indices.
    domains = vocab["scientific_domain"]
    domain_index = {d["eid"]: i for i, d in enumerate(domains)}
    scientific_domains = [
        {
            "name": clean(d["name"]),
            "pid": d["eid"],
            **({"description": clean(d["description"])} if d.get("description") else {}),
            "parent": domain_index.get(d.get("parentId") or ""),
            "clusters": cluster_ids(domain_clusters.get(d["name"])),
        }
        for d in domains
    ]
    categories_raw = vocab["category"]
    category_index = {c["eid"]: i for i, c in enumerate(categories_raw)}
    levels = {"SUPERCATEGORY": 0, "CATEGORY": 1, "SUBCATEGORY": 2}
    categories = [
        {
            "name": clean(c["name"]),
            "pid": c["eid"],
            **({"description": clean(c["description"])} if c.get("description") else {}),
            "parent": category_index.get(c.get("parentId") or ""),
            # Two entries lack a type; their parent is a category, so they are subcategories.
            "level": levels.get(c.get("type") or "SUBCATEGORY", 2),
            "clusters": cluster_ids(category_clusters.get(c["name"])),
        }
        for c in categories_raw
    ]

    # Providers: the seed catalogue's real organisations. Its provider table also lists target
    # user groups by mistake; the faker list of real provider names tells the two apart.
    real_provider_names = set(load(faker / "provider_names.json")) - {"not specified yet"}
    providers: list[dict[str, Any]] = []
    provider_index: dict[str, int] = {}
    for record in marketplace["providers"].values():
        if record["name"] in real_provider_names:
            provider_index[record["name"]] = len(providers)
            providers.append(
                {"name": clean(record["name"]), "abbreviation": record["abbreviation"]}
            )
    for name in sorted(real_provider_names - set(provider_index)):
        provider_index[name] = len(providers)
        providers.append({"name": name})

    platform_names = load(faker / "platform_names.json")
    platforms = [
        {"name": name, "clusters": cluster_ids(PLATFORM_CLUSTERS.get(name))}
        for name in platform_names
    ]

    research_step_names = list(load(faker / "research_step_names_descs.json"))
    subdomain_by_name = {d["name"]: i for i, d in enumerate(domains) if d.get("parentId")}
    domain_by_name = {d["name"]: i for i, d in enumerate(domains)}
    trl_names = [t["name"] for t in vocab["trl"]]

    services = []
    # Relations name a service by its key or by its display name.
    service_index: dict[str, int] = {}
    for key, record in marketplace["services"].items():
        service_index[record["name"]] = len(services)
        domain_names = [OLD_DOMAINS.get(n, n) for n in as_list(record.get("domain"))]
        old_categories = as_list(record.get("parents"))
        steps = sorted(
            {s for c in old_categories for s in CATEGORY_RESEARCH_STEPS.get(c, [])},
            key=research_step_names.index,
        )
        service_index[key] = len(services)
        services.append(
            {
                "name": clean(record["name"]),
                "tagline": clean(record.get("tagline")) or "",
                "description": short_description(record.get("description") or ""),
                "categories": [category_index[OLD_CATEGORIES[c]] for c in old_categories],
                "scientific_domains": [
                    subdomain_by_name.get(n, domain_by_name.get(n)) for n in domain_names
                ],
                "providers": [provider_index[p] for p in as_list(record.get("providers"))],
                "research_steps": [research_step_names.index(s) for s in steps],
                "trls": [trl_names.index(t) for t in as_list(record.get("trl"))],
                "open_access": bool(record.get("open_access")),
                **({"pid": record["pid"]} if record.get("pid") else {}),
            }
        )
    unknown = [s["name"] for s in services if None in s["scientific_domains"]]
    if unknown:
        raise SystemExit(f"scientific domains not in the vocabulary for: {unknown}")
    relations: set[tuple[int, int]] = set()
    for r in marketplace["relations"].values():
        source, target = service_index[r["source"]], service_index[r["target"]]
        relations.add((source, target))
        if r.get("both"):
            relations.add((target, source))

    countries = load(catalogue / "COUNTRY.json")
    order_types = [o["id"].removeprefix("order_type-") for o in load(catalogue / "ORDER_TYPE.json")]

    with (seed / "transition_adj_matrix.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    adjacency_pages = rows[0][1:]
    if [r[0] for r in rows[1:]] != adjacency_pages:
        raise SystemExit("transition_adj_matrix.csv is not square in the same page order")
    with (seed / "transition_rewards.csv").open(encoding="utf-8") as handle:
        reward_rows = list(csv.reader(handle))

    return {
        "format": FORMAT,
        "sources": [
            {
                "name": "EOSC Marketplace seed catalogue and vocabularies",
                "origin": "the EOSC Marketplace project's seed data (data.json, vocabulary.json)",
                "license": "GPL-3.0",
                "used_for": "services, providers, platforms, relations, scientific domains, "
                "categories, target users, access modes and types, TRLs, life-cycle statuses",
            },
            {
                "name": "EOSC Resource Catalogue vocabularies",
                "origin": "EOSC Resource Catalogue vocabularies (COUNTRY.json, ORDER_TYPE.json)",
                "license": "Apache-2.0",
                "used_for": "country codes, order types",
            },
            {
                "name": "EOSC recommender seed data",
                "origin": "the original EOSC recommender, "
                "github.com/cyfronet-fid/recommender-system",
                "license": "GPL-3.0",
                "used_for": "category and scientific-domain clusters, portal page graph and "
                "transition labels, research steps, real provider and platform names",
            },
        ],
        "clusters": list(CLUSTERS),
        "scientific_domains": scientific_domains,
        "categories": categories,
        "providers": providers,
        "platforms": platforms,
        "target_users": vocabulary_entries(vocab["target_user"], ("name", "eid", "description")),
        "access_modes": vocabulary_entries(vocab["access_mode"], ("name", "eid", "description")),
        "access_types": vocabulary_entries(vocab["access_type"], ("name", "eid", "description")),
        "trls": vocabulary_entries(vocab["trl"], ("name", "eid", "description")),
        "life_cycle_statuses": vocabulary_entries(
            vocab["life_cycle_status"], ("name", "eid", "description")
        ),
        "research_steps": [{"name": name} for name in research_step_names],
        "services": services,
        "relations": [list(pair) for pair in sorted(relations)],
        "countries": {
            "europe": [c["id"] for c in countries if c["extras"].get("region") == "EU"],
            "other": [c["id"] for c in countries if c["extras"].get("region") != "EU"],
        },
        "order_types": order_types,
        "page_graph": {
            "pages": adjacency_pages,
            "allowed": [[int(x) for x in r[1:]] for r in rows[1:]],
            "reward_pages": reward_rows[0][1:],
            "rewards": [r[1:] for r in reward_rows[1:]],
            "reward_sources": [r[0] for r in reward_rows[1:]],
        },
    }


def render(doc: dict[str, Any]) -> str:
    # One top-level key per line keeps diffs of a rebuilt fixture readable and the file small.
    parts = [
        f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False, separators=(',', ':'))}"
        for key, value in doc.items()
    ]
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the fixture is stale")
    parser.add_argument("--output", type=Path, default=FIXTURE)
    args = parser.parse_args()
    root = data_dir()
    if not (root / "eosc").is_dir():
        sys.stderr.write(f"EOSC data not found under {root} (set RECOMMENDER_DATA_DIR)\n")
        return 2
    text = render(build(root))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            sys.stderr.write(f"{args.output} is stale: run scripts/build_eosc_fixture.py\n")
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {args.output} ({len(text.encode()) // 1024} KiB)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
