"""Training a served engine from the store: data, split, fit, evaluation, registration, gate.

The version is evaluated on each user's latest interaction held out (full ranking, seen
services excluded; users with a single interaction still train), next to `popularity` on the
same split. The model that is registered is then fitted again on all the data, so that it
knows the latest interactions too; its metrics are those of the held-out evaluation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recommender.activity.usage import build_interactions, weights_from
from recommender.config import Settings
from recommender.engines import canonical_name, engine_class
from recommender.engines.base import Engine, Model, TrainingOptions
from recommender.evaluation.datasets import from_interactions
from recommender.evaluation.params import read_params
from recommender.evaluation.protocols import Split, temporal_loo
from recommender.evaluation.runner import Fit, evaluate_model, fit_for
from recommender.interactions import Interactions
from recommender.progress import Progress, within
from recommender.registry import versions
from recommender.registry.gate import judge
from recommender.store import state
from recommender.store.database import Database
from recommender.store.schema import UserAction
from recommender.training.plots import curves_png
from recommender.training.transition_log import extend_transitions, load_transitions

log = logging.getLogger(__name__)

K = 10
METRICS = ("HR", "NDCG", "Recall", "MRR", "Coverage")


class NotEnoughDataError(RuntimeError):
    pass


def read_store(db: Database, settings: Settings) -> tuple[Interactions, dict[str, Any]]:
    """Everything the store knows, and a fingerprint of what that was."""
    with db.snapshot() as conn:
        data = build_interactions(conn, weights_from(settings))
        catalog = state.read(conn, state.CATALOG)
        last_action = conn.execute(select(func.max(UserAction.id))).scalar_one()
    fingerprint = {
        "dump_id": int(catalog.value) if catalog and catalog.value.isdigit() else None,
        "catalog_version": catalog.version if catalog else 0,
        "last_user_action_id": int(last_action or 0),
        "users": data.n_users,
        "services": data.n_items,
        "interactions": data.nnz,
        "events": len(data.events) if data.events is not None else data.nnz,
    }
    return data, fingerprint


def engine_for(
    name: str, params: Mapping[str, Any] | None, settings: Settings | None = None
) -> Engine:  # type: ignore[type-arg]
    """The engine `name` with `params`, under the operator's item limit when one is set."""
    limits = settings.max_items_by_engine if settings is not None else {}
    return engine_class(name)(params, max_items=limits.get(name))


def check_limits(name: str, data: Interactions, settings: Settings) -> None:
    """Raise `EngineLimitError`, naming the engine and its limit, when `data` is larger than
    the engine can fit; checked before any fitting, so a refusal costs nothing."""
    engine_for(name, None, settings).check_limits(data)


def _fit(
    name: str,
    params: Mapping[str, Any] | None,
    data: Interactions,
    options: TrainingOptions,
    settings: Settings | None = None,
) -> tuple[Model, dict[str, Any]]:
    engine = engine_for(name, params, settings)
    return engine.fit(data, options), engine.params.model_dump()


def evaluate_on(
    name: str,
    params: Mapping[str, Any] | None,
    split: Split,
    options: TrainingOptions,
    settings: Settings | None = None,
    *,
    measure: bool = True,
) -> tuple[Fit, dict[str, float], dict[str, Any]]:
    """Fit on the split's training part (early-stopping engines stop on its validation fold)
    and, with `measure`, measure on its held-out part; returns the parameters to refit with."""
    engine = engine_for(name, params, settings)
    fitted = fit_for(engine, split.test, split.validation, options)
    metrics = evaluate_model(fitted.model, split.test, K, METRICS).metrics if measure else {}
    return fitted, metrics, engine.params.model_dump() | fitted.fitted_params


def train_engine(
    db: Database,
    settings: Settings,
    engine: str,
    progress: Progress,
    *,
    task_id: str | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    primary: bool = True,
) -> dict[str, Any]:
    """Train one engine, register the version, and activate it if it passes the gate.

    Raises `EngineLimitError` before fitting anything when the store holds more services or
    users than the engine declares it can fit. When several processes train one model
    together, the others (`primary` false) take part in both fits, and measure and register
    nothing: they return an empty outcome."""
    name = canonical_name(engine)
    if params is None and settings.engine_params_file:
        params = read_params(Path(settings.engine_params_file)).get(name)
    started = time.perf_counter()
    progress(0.0, "reading the store")
    data, fingerprint = read_store(db, settings)
    check_limits(name, data, settings)
    split = temporal_loo(from_interactions(data, "store"), seed)
    held_out = split.test.heldout.n_users
    if held_out == 0:
        raise NotEnoughDataError(
            "no user has two interactions yet, so nothing can be held out to evaluate on"
        )
    fingerprint["evaluated_users"] = held_out

    def phase(start: float, span: float, label: str) -> TrainingOptions:
        return TrainingOptions(
            seed=seed,
            device=settings.training_device,
            progress=within(progress, start, start + span, label),
        )

    baseline: dict[str, float] = {}
    if primary:
        progress(0.05, "evaluating popularity")
        _, baseline, _ = evaluate_on("popularity", None, split, phase(0.05, 0.05, "popularity"))
    evaluated, metrics, used = evaluate_on(
        name, params, split, phase(0.1, 0.4, "evaluation fit"), settings, measure=primary
    )
    progress(0.5, "fitting on all data")
    final_options = phase(0.5, 0.45, "final fit")
    if engine_class(name).learns_from_panels and primary:
        # Only the final fit sees the logged panels: their rewards would tell the evaluation
        # fit about the held-out interactions.
        extend_transitions(db, settings)
        with db.engine.connect() as conn:
            logged = load_transitions(conn, values=settings.rewards)
        final_options = replace(final_options, transitions=logged)
        fingerprint["transitions"] = len(logged)
    final, _ = _fit(name, used, data, final_options, settings)
    if not primary:
        return {}
    curves = dict(evaluated.curves)
    artifact = final.to_artifact().to_bytes()
    progress(0.95, "registering")
    with db.write() as conn, Session(bind=conn) as session:
        current = versions.active(session, name)
        decision = judge(
            metrics,
            baseline,
            current.metrics if current is not None else None,
            metric=settings.gate_metric,
            margin=settings.gate_margin,
        )
        row = versions.register(
            session,
            engine=name,
            artifact=artifact,
            artifact_folder=settings.artifact_dir,
            params=used,
            metrics=metrics,
            baseline_metrics=baseline,
            fingerprint=fingerprint | {"train_s": round(time.perf_counter() - started, 2)},
            curves=curves,
            plot_png=curves_png(curves, f"{name} training"),
            task_id=task_id,
        )
        row.gate = decision.as_dict()
        if decision.passed:
            versions.activate(session, name, row.version)
        session.flush()
        outcome = {
            "version": row.version,
            "status": row.status,
            "metrics": metrics,
            "baseline": baseline,
            "gate": decision.as_dict(),
        }
    log.info("%s v%s: %s (%s)", name, outcome["version"], outcome["status"], decision.reasons)
    return outcome
