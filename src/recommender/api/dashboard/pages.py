"""The contents of each dashboard page, read from the store and the serving state.

Each function returns the template's context: plain values, rows and charts, no HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from recommender.activity.recent import ServedPanel, recent_panels
from recommender.activity.traffic import daily
from recommender.api.dashboard.charts import (
    Chart,
    daily_activity,
    experiment_rates,
    training_curves,
)
from recommender.api.routes.health import components
from recommender.catalog.snapshot import CatalogSnapshot
from recommender.catalog.uploads import last_loaded
from recommender.engines import ALIASES, engine_class, engine_names, trainable_names
from recommender.experiments import records as experiment_records
from recommender.experiments import report
from recommender.registry import versions
from recommender.runtime import Runtime
from recommender.store.schema import ModelVersion
from recommender.tasks import records

ACTIVITY_DAYS = 30
RECENT_PANELS = 50
RECENT_JOBS = 100


def overview(runtime: Runtime, conn: Connection, today: date) -> dict[str, Any]:
    activity = daily(conn, days=ACTIVITY_DAYS, today=today)
    health = components(runtime)
    return {
        "dump": last_loaded(conn),
        "health": health,
        "healthy": all(part["status"] == "ok" for part in health.values()),
        "catalog": health["catalog"],
        "activity": activity,
        "totals": {
            "panels served": sum(activity.impressions),
            "user actions": sum(activity.actions),
            "orders": sum(activity.orders),
        },
        "days": ACTIVITY_DAYS,
        "charts": [daily_activity(activity)],
    }


@dataclass(frozen=True)
class VersionRow:
    row: ModelVersion
    # What its button does: activate a newer version, or roll back to an older one.
    action: str | None

    @property
    def gate_passed(self) -> bool | None:
        passed = self.row.gate.get("passed")
        return None if passed is None else bool(passed)


@dataclass(frozen=True)
class EngineSection:
    name: str
    trainable: bool
    aliases: list[str]
    serving: int | None
    is_default: bool
    versions: list[VersionRow]
    # The curves of its newest version that has any.
    curves_of: int | None
    charts: list[Chart]


def _action(row: ModelVersion, active: int | None) -> str | None:
    if row.status in (versions.ACTIVE, versions.FAILED):
        return None
    if row.artifact is None and not row.artifact_uri:
        return None  # collected: only its metrics are kept
    return "roll back to" if active is not None and row.version < active else "activate"


def _sections(runtime: Runtime, rows: Sequence[ModelVersion]) -> list[EngineSection]:
    current = runtime.serving.current
    models = current.models
    sections = []
    for name in engine_names():
        own = [row for row in rows if row.engine == name]
        active = next((row.version for row in own if row.status == versions.ACTIVE), None)
        with_curves = next((row for row in own if row.curves), None)
        sections.append(
            EngineSection(
                name=name,
                trainable=engine_class(name).trainable,
                aliases=[alias for alias, target in ALIASES.items() if target == name],
                serving=models[name].version if name in models else None,
                is_default=name == current.default_engine,
                versions=[VersionRow(row, _action(row, active)) for row in own],
                curves_of=with_curves.version if with_curves else None,
                charts=training_curves(with_curves.curves) if with_curves else [],
            )
        )
    return sections


def engines(runtime: Runtime, session: Session) -> dict[str, Any]:
    rows = versions.listing(session)
    sections = _sections(runtime, rows)
    return {
        "sections": sections,
        "default": runtime.serving.current.default_engine,
        "choices": ["auto", *engine_names()],
        "gate_metric": runtime.settings.gate_metric,
        "charts": [chart for section in sections for chart in section.charts],
    }


def version_detail(session: Session, engine: str, version: int) -> dict[str, Any]:
    row = versions.get(session, engine, version)
    charts = training_curves(row.curves)
    active = versions.active(session, engine)
    return {
        "version": VersionRow(row, _action(row, active.version if active else None)),
        "charts": charts,
    }


def jobs(conn: Connection) -> dict[str, Any]:
    found = records.recent(conn, limit=RECENT_JOBS)
    return {
        "jobs": found,
        "running": any(job.state in (records.QUEUED, records.RUNNING) for job in found),
        "trainable": trainable_names(),
    }


def experiments(conn: Connection) -> dict[str, Any]:
    return {"experiments": experiment_records.listing(conn)}


def experiment(runtime: Runtime, experiment_id: int) -> dict[str, Any]:
    found = report.current(runtime.db, experiment_id)
    arms = [arm.name for arm in found.experiment.arms]
    return {
        "report": found,
        "running": found.experiment.status == experiment_records.RUNNING,
        "charts": [
            experiment_rates(found.days, arms, "ctr"),
            experiment_rates(found.days, arms, "order_rate"),
        ],
    }


@dataclass(frozen=True)
class PanelView:
    panel: ServedPanel
    # (service id, its name, score, explanation) for each position of the panel.
    items: list[tuple[int, str, float, str]]
    follow_ups: list[tuple[Any, str]]


def _follow_up_text(action_type: str, text: str, service: str | None, order: bool) -> str:
    what = "ordered" if order else f"{action_type}" + (f" “{text}”" if text else "")
    return f"{what} → {service}" if service else what


def recommendations(conn: Connection, catalog: CatalogSnapshot) -> dict[str, Any]:
    views = []
    for panel in recent_panels(conn, limit=RECENT_PANELS):
        explanations = panel.explanations + [""] * (
            len(panel.service_ids) - len(panel.explanations)
        )
        items = [
            (sid, catalog.service(sid) or f"service {sid}", score, why)
            for sid, score, why in zip(panel.service_ids, panel.scores, explanations, strict=False)
        ]
        follow_ups = [
            (
                f.at,
                _follow_up_text(
                    f.action_type,
                    f.text,
                    (catalog.service(f.service_id) or f"service {f.service_id}")
                    if f.service_id is not None
                    else None,
                    f.order,
                ),
            )
            for f in panel.follow_ups
        ]
        views.append(PanelView(panel, items, follow_ups))
    return {"panels": views, "limit": RECENT_PANELS}
