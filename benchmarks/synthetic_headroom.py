"""How much a recommender can learn from a synthetic marketplace: simple scorers vs the truth.

    .venv/bin/python benchmarks/synthetic_headroom.py DIR      # DIR written by `recommender synth`

HR@3 on the held-out future orders of the ground truth, for a sample of users with a history
(warm) and without (cold), excluding services a user already uses and services that cannot be
recommended. The scorers use only what the dump shows, except the last one, which ranks by the
true probability of discovering and ordering a service: a ceiling no engine should pass.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import scipy.sparse as sp
from numpy.typing import NDArray

from recommender.arrays import DoubleArray
from recommender.synthetic import behaviour_from_ground_truth
from recommender.synthetic.vocabulary import load_vocabulary, membership

Scorer = Callable[[int], DoubleArray]


def topic_of(rows: Sequence[DoubleArray], k: int) -> DoubleArray:
    """Cluster mixture of a set of terms, specific terms weighing most (as the generator does)."""
    if not rows:
        return np.full(k, 1.0 / k)
    stacked = np.array(rows)
    weights = stacked.max(axis=1) ** 2
    topic = (weights[:, None] * stacked).sum(axis=0)
    return np.asarray(topic / topic.sum())


def hit_rate(
    score: Scorer,
    users: Sequence[int],
    histories: Sequence[Sequence[int]],
    future: Sequence[Sequence[int]],
    recommendable: NDArray[np.bool_],
    k: int,
) -> float:
    hits = 0
    for u in users:
        scores = score(u).astype(np.float64)
        scores[~recommendable] = -np.inf
        used = np.asarray(histories[u], dtype=np.int64)
        scores[used - 1] = -np.inf
        top = np.argpartition(-scores, k)[:k] + 1
        hits += bool(set(top.tolist()) & set(future[u]))
    return hits / len(users)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="directory written by `recommender synth`")
    parser.add_argument("--sample", type=int, default=2000, help="users per group")
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args()
    dump: dict[str, Any] = orjson.loads((args.output / "dump.json").read_bytes())
    truth: dict[str, Any] = orjson.loads((args.output / "ground_truth.json").read_bytes())
    behaviour = behaviour_from_ground_truth(truth)
    services, users = dump["services"], dump["users"]
    n_services, n_users = len(services), len(users)
    recommendable = np.array([s["status"] in ("published", "unverified") for s in services])
    histories = [u["accessed_services"] for u in users]
    future = truth["users"]["future_orders"]

    rows = np.repeat(np.arange(n_users), [len(h) for h in histories])
    cols = np.concatenate([np.asarray(h, dtype=np.int64) - 1 for h in histories])
    used = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_users, n_services))
    usage = np.asarray(used.sum(axis=0)).ravel()
    co_use = (used.T @ used).tocsr()
    co_use.setdiag(0)
    scale = sp.diags(1.0 / (np.sqrt(usage) + 1.0))
    similarity = (scale @ co_use @ scale).tocsr()

    vocab = load_vocabulary()
    k = vocab.n_clusters
    domains = membership(vocab.scientific_domains, k)
    categories = membership(vocab.categories, k)

    def terms(record: dict[str, Any]) -> list[DoubleArray]:
        return [domains[d - 1] for d in record["scientific_domains"]] + [
            categories[c - 1] for c in record["categories"]
        ]

    service_topics = np.array([topic_of(terms(s), k) for s in services])
    boost = np.log(2.0 + usage)
    discovery = (
        behaviour.topics
        * np.exp(truth["config"]["popularity_skew"] * behaviour.quality)[:, None]
        * recommendable[:, None]
    )
    discovery = discovery / discovery.sum(axis=0)

    scorers: dict[str, tuple[Scorer, bool]] = {
        "popularity (users per service)": (lambda u: usage.astype(np.float64), True),
        "item co-use, cosine (itemknn-like)": (
            lambda u: (
                np.asarray(similarity[np.asarray(histories[u]) - 1].sum(axis=0)).ravel()
                + 1e-6 * usage
            ),
            False,
        ),
        "declared interests x service features x popularity": (
            lambda u: (service_topics @ topic_of(terms(users[u]), k)) * boost,
            True,
        ),
        "truth: P(discover) x P(order after a click), ceiling": (
            lambda u: (
                (discovery @ behaviour.interests[u])
                * behaviour.order_given_click(
                    behaviour.affinity_matrix([u], behaviour.service_ids)[0]
                )
            ),
            True,
        ),
    }
    rng = np.random.default_rng(0)
    warm_pool = [u for u in range(n_users) if histories[u]]
    cold_pool = [u for u in range(n_users) if not histories[u]]
    warm = rng.choice(warm_pool, min(args.sample, len(warm_pool)), replace=False).tolist()
    cold = rng.choice(cold_pool, min(args.sample, len(cold_pool)), replace=False).tolist()
    print(f"| scorer | HR@{args.k} warm ({len(warm)}) | HR@{args.k} cold ({len(cold)}) |")
    print("|---|---|---|")
    for name, (score, for_cold) in scorers.items():
        warm_hr = hit_rate(score, warm, histories, future, recommendable, args.k)
        cold_hr = (
            f"{hit_rate(score, cold, histories, future, recommendable, args.k):.3f}"
            if for_cold and cold
            else "-"
        )
        print(f"| {name} | {warm_hr:.3f} | {cold_hr} |")


if __name__ == "__main__":
    main()
