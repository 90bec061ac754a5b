"""Generated catalogues of any size for load and speed benchmarks (not for quality)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

VOCABULARY_SIZES = {
    "categories": 200,
    "providers": 400,
    "scientific_domains": 50,
    "platforms": 30,
    "target_users": 17,
    "access_modes": 5,
    "access_types": 5,
    "trls": 9,
    "life_cycle_statuses": 14,
    "research_steps": 10,
}
COUNTRIES = ["PL", "DE", "FR", "IT", "ES", "NL", "GR", "CZ", "WW", "EO"]
WORDS = [
    "data",
    "cloud",
    "compute",
    "storage",
    "analysis",
    "notebook",
    "repository",
    "archive",
    "workflow",
    "training",
    "sensor",
    "genome",
    "protein",
    "climate",
    "ocean",
    "physics",
    "particle",
    "imaging",
    "simulation",
    "portal",
    "identity",
    "access",
    "network",
    "virtual",
    "machine",
    "container",
    "kubernetes",
    "gpu",
    "hpc",
    "grid",
]


def generate_dump(n_services: int, n_users: int, *, seed: int = 0) -> dict[str, Any]:
    """A valid dump with skewed (Zipf-like) service popularity and multi-valued features."""
    rng = np.random.default_rng(seed)
    doc: dict[str, Any] = {
        name: [{"id": i, "name": f"{name} {i}"} for i in range(1, size + 1)]
        for name, size in VOCABULARY_SIZES.items()
    }

    def pick(name: str, low: int, high: int) -> list[int]:
        n = int(rng.integers(low, high + 1))
        return sorted({int(v) for v in rng.integers(1, VOCABULARY_SIZES[name] + 1, n)})

    services = []
    for sid in range(1, n_services + 1):
        words = rng.choice(WORDS, size=12)
        services.append(
            {
                "id": sid,
                "name": f"{words[0].title()} {words[1]} service {sid}",
                "tagline": " ".join(words[2:5]),
                "description": " ".join(words),
                "countries": sorted(set(rng.choice(COUNTRIES, size=2).tolist())),
                "order_type": str(
                    rng.choice(["open_access", "order_required", "fully_open_access"])
                ),
                "rating": f"{rng.uniform(1, 5):.1f}",
                "status": "published" if rng.random() < 0.9 else "unverified",
                "resource_organisation": int(rng.integers(1, VOCABULARY_SIZES["providers"] + 1)),
                "categories": pick("categories", 1, 3),
                "providers": pick("providers", 1, 2),
                "scientific_domains": pick("scientific_domains", 1, 3),
                "platforms": pick("platforms", 0, 2),
                "target_users": pick("target_users", 1, 3),
                "access_modes": pick("access_modes", 1, 1),
                "access_types": pick("access_types", 1, 1),
                "trls": pick("trls", 1, 1),
                "life_cycle_statuses": pick("life_cycle_statuses", 1, 1),
                "research_steps": pick("research_steps", 0, 2),
                "related_services": [],
                "required_services": [],
            }
        )
    doc["services"] = services
    doc["users"] = list(generate_users(rng, pick, n_services, n_users))
    doc["projects"] = list(generate_projects(rng, n_services, n_users))
    return doc


def generate_users(
    rng: np.random.Generator,
    pick: Callable[[str, int, int], list[int]],
    n_services: int,
    n_users: int,
) -> Iterator[dict[str, Any]]:
    """Users one at a time, each with up to 20 services drawn by Zipf-like popularity."""
    cumulative = np.cumsum(1.0 / np.arange(1, n_services + 1) ** 0.8)
    for uid in range(1, n_users + 1):
        n_accessed = int(rng.integers(0, 21))
        accessed = distinct_draws(rng, cumulative, min(n_accessed, n_services))
        yield {
            "id": uid,
            "aai_uid": f"{uid}@aai.example.org",
            "scientific_domains": pick("scientific_domains", 0, 3),
            "categories": pick("categories", 0, 3),
            "accessed_services": [int(s) + 1 for s in accessed],
        }


def distinct_draws(
    rng: np.random.Generator, cumulative: NDArray[np.float64], size: int
) -> list[int]:
    """`size` distinct positions drawn one after another in proportion to the weights whose
    running sum is `cumulative`, each redrawn while it repeats one drawn before: what
    `rng.choice(replace=False, p=...)` draws, without its pass over every weight per call
    (with 100,000 services, a million users' dump was still unwritten after 52 minutes)."""
    chosen: dict[int, None] = {}
    last = cumulative.shape[0] - 1
    while len(chosen) < size:
        draws = np.searchsorted(
            cumulative, rng.random(size - len(chosen)) * cumulative[-1], "right"
        )
        for position in np.minimum(draws, last).tolist():
            chosen.setdefault(position, None)
            if len(chosen) == size:
                break
    return list(chosen)


def generate_projects(
    rng: np.random.Generator, n_services: int, n_users: int
) -> Iterator[dict[str, Any]]:
    """One project, of one service, per ten users."""
    for pid in range(1, n_users // 10 + 1):
        yield {
            "id": pid,
            "user_id": int(rng.integers(1, n_users + 1)),
            "services": [int(rng.integers(1, n_services + 1))],
        }


def write_dump(path: Path, n_services: int, n_users: int, *, seed: int = 0) -> int:
    """`generate_dump`'s catalogue written to `path` with users and projects streamed, so that
    a million users never sit in memory at once; returns the file's size in bytes."""
    catalogue = generate_dump(n_services, 0, seed=seed)
    del catalogue["users"], catalogue["projects"]
    rng = np.random.default_rng(seed + 1)

    def pick(name: str, low: int, high: int) -> list[int]:
        n = int(rng.integers(low, high + 1))
        return sorted({int(v) for v in rng.integers(1, VOCABULARY_SIZES[name] + 1, n)})

    with path.open("wb") as out:
        out.write(orjson.dumps(catalogue)[:-1])
        for name, rows in (
            ("users", generate_users(rng, pick, n_services, n_users)),
            ("projects", generate_projects(rng, n_services, n_users)),
        ):
            out.write(f',"{name}":['.encode())
            for n, row in enumerate(rows):
                out.write(b"," + orjson.dumps(row) if n else orjson.dumps(row))
            out.write(b"]")
        out.write(b"}")
        return out.tell()
