"""Running engines on a split: fit on the training part, score every held-out user, rank,
measure, and time each step.

Ranking rule, the same for sampled candidates and full ranking: items are ordered by score,
higher first; a held-out item tied with other items is placed after them (pessimistic, as in
the NCF paper's evaluation code, which lists the held-out item last and sorts stably); the
remaining ties go by item position. Items an engine cannot score (NaN) rank last; excluded
items are never ranked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import FloatArray, IntArray
from recommender.engines import canonical_name, engine_class
from recommender.engines.base import Engine, Model, Query, TrainingOptions, Validation
from recommender.evaluation.datasets import EvalDataset
from recommender.evaluation.metrics import (
    EXPOSURE_METRICS,
    METRIC_NAMES,
    RANKING_METRICS,
    metric_label,
)
from recommender.evaluation.protocols import Split
from recommender.folds import Fold
from recommender.interactions import Interactions
from recommender.progress import Progress, counted, quiet, within

BoolMatrix = NDArray[np.bool_]

# What engines that stop early are measured by on their validation fold.
VALIDATION_METRICS = ("HR", "NDCG")
VALIDATION_K = 10
# Held-out users an early-stopping engine is checked on, at most. Ranking all of them after
# every epoch made validation most of ncf's fit at a million actions (94,000 users, each
# scored against the whole catalogue); 10,000 users measure HR@10 near 0.25 within about
# +-0.009 (95 %), finer than the epoch-to-epoch changes that stopping reads, and leave every
# data set of up to 10,000 users exactly as it was.
VALIDATION_USERS = 10_000
# Scores held in memory at once while ranking: rows x items.
_SCORE_CELLS = 4_000_000


def rank_top_k(
    scores: FloatArray, relevant: BoolMatrix, valid: BoolMatrix, k: int
) -> tuple[IntArray, BoolMatrix]:
    """The top-k columns of each row under the ranking rule (-1 where fewer are valid), and
    whether each of them is relevant."""
    n_rows, n_cols = scores.shape
    top = np.full((n_rows, k), -1, dtype=np.int64)
    hits = np.zeros((n_rows, k), dtype=bool)
    depth = min(k, n_cols)
    if n_rows == 0 or depth == 0:
        return top, hits
    lowest = np.finfo(np.float32).min
    ranked = np.where(np.isnan(scores), lowest, scores).astype(np.float32)
    ranked[~valid] = -np.inf
    threshold = -np.partition(-ranked, depth - 1, axis=1)[:, depth - 1]
    # Only items scoring at least the k-th score can make the list; sort just those.
    in_play = ranked >= threshold[:, None]
    width = int(in_play.sum(axis=1).max())
    columns = np.argsort(~in_play, axis=1, kind="stable")[:, :width]
    rows = np.arange(n_rows)[:, None]
    order = np.lexsort((columns, relevant[rows, columns], -ranked[rows, columns]), axis=1)
    best = np.take_along_axis(columns, order[:, :depth], axis=1)
    shown = valid[rows, best]
    top[:, :depth] = np.where(shown, best, -1)
    hits[:, :depth] = shown & relevant[rows, best]
    return top, hits


@dataclass
class FoldResult:
    metrics: dict[str, float]
    score_s: float
    users: int


def held_out_query(train: Interactions, user: int) -> Query:
    """What serving would know of a training user (row position): id, history and declared
    interests."""
    return Query(
        user_id=int(train.user_ids[user]),
        history=train.history(user),
        scientific_domains=train.user_feature_ids("scientific_domains", user),
        categories=train.user_feature_ids("categories", user),
    )


def evaluate_model(
    model: Model,
    fold: Fold,
    k: int,
    metrics: Sequence[str] = METRIC_NAMES,
    progress: Progress = quiet,
) -> FoldResult:
    """Rank every held-out user's items with a trained model and average the metrics."""
    return _evaluate_scores(
        lambda queries, items: [model.score_batch(queries, items)], 1, fold, k, metrics, progress
    )[0]


def evaluate_blends(
    base: Model,
    extra: Model,
    weights: Sequence[float],
    fold: Fold,
    k: int,
    metrics: Sequence[str] = METRIC_NAMES,
) -> list[FoldResult]:
    """The metrics of `base`'s score plus each weight times `extra`'s, one result per
    weight, with each model scoring every held-out user once whatever the number of weights
    (ranking is cheap beside scoring with a neural model)."""

    def blends(queries: list[Query], items: IntArray) -> list[FloatArray]:
        first, second = base.score_batch(queries, items), extra.score_batch(queries, items)
        return [first + np.float32(weight) * second for weight in weights]

    return _evaluate_scores(blends, len(weights), fold, k, metrics, quiet)


def _evaluate_scores(
    scores_of: Callable[[list[Query], IntArray], list[FloatArray]],
    variants: int,
    fold: Fold,
    k: int,
    metrics: Sequence[str],
    progress: Progress,
) -> list[FoldResult]:
    """Rank every held-out user's items by each of the `variants` score matrices that
    `scores_of` gives a batch of them, and average the metrics of each."""
    unknown = sorted(set(metrics) - set(METRIC_NAMES))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {', '.join(METRIC_NAMES)}")
    train, heldout = fold.train, fold.heldout
    items = train.item_ids
    n = heldout.n_users
    batch = max(1, _SCORE_CELLS // max(items.shape[0], 1))
    all_hits = [np.zeros((n, k), dtype=bool) for _ in range(variants)]
    all_top = [np.full((n, k), -1, dtype=np.int64) for _ in range(variants)]
    n_relevant = np.diff(heldout.relevant.indptr).astype(np.int64)
    score_s = 0.0
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        users = heldout.users[start:stop]
        queries = [held_out_query(train, int(u)) for u in users]
        began = time.perf_counter()
        variant_scores = scores_of(queries, items)
        score_s += time.perf_counter() - began
        relevant = heldout.relevant[start:stop].toarray() > 0
        if heldout.candidates is None:
            valid = ~(heldout.exclude[start:stop].toarray() > 0)
        else:
            candidates = heldout.candidates[start:stop]
            rows = np.arange(stop - start)[:, None]
            safe = np.maximum(candidates, 0)
        for scores, hits_of, top_of in zip(variant_scores, all_hits, all_top, strict=True):
            if heldout.candidates is None:
                top, hits = rank_top_k(scores, relevant, valid, k)
            else:
                top, hits = rank_top_k(scores[rows, safe], relevant[rows, safe], candidates >= 0, k)
                top = np.where(top >= 0, np.take_along_axis(safe, np.maximum(top, 0), 1), -1)
            hits_of[start:stop] = hits
            top_of[start:stop] = top
        counted(progress, stop, n, "ranking")
    return [
        FoldResult(
            metrics=_metrics_of(hits, top, n_relevant, items.shape[0], metrics, k),
            score_s=score_s,
            users=n,
        )
        for hits, top in zip(all_hits, all_top, strict=True)
    ]


def _metrics_of(
    hits: BoolMatrix,
    top: IntArray,
    n_relevant: IntArray,
    n_items: int,
    metrics: Sequence[str],
    k: int,
) -> dict[str, float]:
    values: dict[str, float] = {}
    for name in metrics:
        if name in RANKING_METRICS:
            per_user = RANKING_METRICS[name](hits, n_relevant)
            values[metric_label(name, k)] = float(per_user.mean()) if hits.shape[0] else 0.0
        else:
            values[metric_label(name, k)] = EXPOSURE_METRICS[name](top, n_items)
    return values


def validation_on(
    fold: Fold, k: int = VALIDATION_K, most: int = VALIDATION_USERS, seed: int = 0
) -> Validation:
    """What an engine that stops early is given to check itself on: the held-out pairs of
    at most `most` of `fold`'s users (drawn with `seed`), ranked and measured (HR and NDCG at
    `k`) by the same code as the test."""
    checked = fold.sampled(most, seed)

    def named(result: FoldResult) -> dict[str, float]:
        return {name: result.metrics[metric_label(name, k)] for name in VALIDATION_METRICS}

    def evaluate(model: Model) -> dict[str, float]:
        return named(evaluate_model(model, checked, k, VALIDATION_METRICS))

    def blends(base: Model, extra: Model, weights: Sequence[float]) -> list[Mapping[str, float]]:
        results = evaluate_blends(base, extra, weights, checked, k, VALIDATION_METRICS)
        return [named(result) for result in results]

    return Validation(fold=checked, evaluate=evaluate, k=k, evaluate_blends=blends)


@dataclass
class EngineRun:
    engine: str
    params: dict[str, Any]
    metrics: dict[str, float]
    fit_s: float
    score_s: float
    users: int
    # Training curves of engines that record them (loss, validation scores per epoch).
    curves: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Fit:
    """A model fitted to be measured, with what its early-stopping fit chose and recorded."""

    model: Model
    fitted_params: dict[str, Any]
    curves: dict[str, list[float]]


def fit_for(
    engine: Engine[Any], fold: Fold, validation: Fold | None, options: TrainingOptions
) -> Fit:
    """Fit an engine to be measured on `fold`.

    An engine that stops early first trains on the validation fold's training part, stopping
    on its held-out pairs, and is then fitted again on the whole of `fold.train` with what it
    chose (its epochs): the model measured knows every user's latest training pair, as the
    models of the other engines do.
    """
    if engine.uses_validation and validation is not None:
        checked = validation_on(validation, seed=options.seed)
        tuned = engine.fit(validation.train, replace(options, validation=checked))
        chosen = dict(tuned.fitted_params)
        again = type(engine)(engine.params.model_dump() | chosen)
        return Fit(model=again.fit(fold.train, options), fitted_params=chosen, curves=tuned.curves)
    model = engine.fit(fold.train, options)
    return Fit(model=model, fitted_params=dict(model.fitted_params), curves=model.curves)


def run_engine(
    name: str,
    params: Mapping[str, Any],
    fold: Fold,
    *,
    k: int,
    seed: int,
    metrics: Sequence[str] = METRIC_NAMES,
    progress: Progress = quiet,
    validation: Fold | None = None,
    device: str = "cpu",
) -> EngineRun:
    """Fit one engine on a fold's training part and measure it on the fold's held-out part."""
    engine = engine_class(name)(params)
    options = TrainingOptions(
        seed=seed,
        device=device,
        progress=within(progress, 0.0, 0.5),
    )
    began = time.perf_counter()
    fitted = fit_for(engine, fold, validation, options)
    fit_s = time.perf_counter() - began
    result = evaluate_model(fitted.model, fold, k, metrics, within(progress, 0.5, 1.0))
    return EngineRun(
        engine=canonical_name(name),
        params=engine.params.model_dump() | fitted.fitted_params,
        metrics=result.metrics,
        fit_s=fit_s,
        score_s=result.score_s,
        users=result.users,
        curves=fitted.curves,
    )


@dataclass
class Report:
    """What `recommender evaluate` prints and writes."""

    dataset: str
    protocol: str
    k: int
    seed: int
    stats: dict[str, int]
    runs: list[EngineRun] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "protocol": self.protocol,
            "k": self.k,
            "seed": self.seed,
            **self.stats,
            "results": {run.engine: run.metrics for run in self.runs},
            "timings": {
                run.engine: {"fit_s": round(run.fit_s, 3), "score_s": round(run.score_s, 3)}
                for run in self.runs
            },
            "params": {run.engine: run.params for run in self.runs},
            "curves": {run.engine: run.curves for run in self.runs if run.curves},
        }


def fold_stats(data: EvalDataset, split: Split) -> dict[str, int]:
    train = split.test.train
    return {
        "users": train.n_users,
        "items": train.n_items,
        "interactions": len(data),
        "train_pairs": train.nnz,
        "test_users": split.test.heldout.n_users,
    }


def evaluate(
    data: EvalDataset,
    split: Split,
    engines: Mapping[str, Mapping[str, Any]],
    *,
    k: int = 10,
    seed: int = 0,
    metrics: Sequence[str] = METRIC_NAMES,
    progress: Progress = quiet,
) -> Report:
    """Every engine (name -> its parameters) on the test fold of one split."""
    report = Report(
        dataset=data.name, protocol=split.protocol, k=k, seed=seed, stats=fold_stats(data, split)
    )
    for index, (name, params) in enumerate(engines.items()):
        share = (index / len(engines), (index + 1) / len(engines))
        report.runs.append(
            run_engine(
                name,
                params,
                split.test,
                k=k,
                seed=seed,
                metrics=metrics,
                progress=within(progress, *share, prefix=name),
                validation=split.validation,
            )
        )
    return report
