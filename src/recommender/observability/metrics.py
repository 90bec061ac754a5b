"""Prometheus metrics: what the service serves, what users do with it, and its jobs and models.

Click-through rate per engine is `rate(recommender_attributed_clicks_total[5m]) /
rate(recommender_recommendations_total[5m])` summed by engine. With several processes
(gunicorn workers) set PROMETHEUS_MULTIPROC_DIR to an empty folder shared by them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select

from recommender.store.database import Database
from recommender.store.schema import ModelVersion, Subscriber, Task, utcnow

# A counter without labels opens its file in this folder when it is defined, so any command that
# imports the metrics (not only the server, which also creates it) needs the folder to exist.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

REQUEST_SECONDS = Histogram(
    "recommender_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status code.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
RECOMMENDATIONS = Counter(
    "recommender_recommendations",
    "Recommendation panels served, by the engine that produced them and the panel.",
    ["engine", "panel"],
)
USER_ACTIONS = Counter("recommender_user_actions", "User actions stored, by kind.", ["kind"])
ATTRIBUTED_CLICKS = Counter(
    "recommender_attributed_clicks",
    "Clicks on a recommendation panel linked to the impression they followed, by engine.",
    ["engine"],
)
ATTRIBUTED_ORDERS = Counter(
    "recommender_attributed_orders",
    "Orders at the end of a journey that started on a recommendation panel, by engine.",
    ["engine"],
)
EXPERIMENT_IMPRESSIONS = Counter(
    "recommender_experiment_impressions",
    "Panels served inside an A/B experiment, by experiment (id) and arm.",
    ["experiment", "arm"],
)
EXPERIMENT_CLICKS = Counter(
    "recommender_experiment_clicks",
    "Clicks on panels served inside an A/B experiment, by experiment (id) and arm.",
    ["experiment", "arm"],
)
EXPERIMENT_ORDERS = Counter(
    "recommender_experiment_orders",
    "Orders after panels served inside an A/B experiment, by experiment (id) and arm.",
    ["experiment", "arm"],
)

PANELS_PUBLISHED = Counter(
    "recommender_databus_published",
    "Served panels published to the databus recommendations topic.",
)
PANELS_UNPUBLISHED = Counter(
    "recommender_databus_publish_dropped",
    "Served panels not published because the queue to the databus was full.",
)


class StoreCollector(Collector):
    """Jobs and model versions, read from the store at scrape time, so that one scrape of any
    API process covers work done by every worker, on either executor."""

    def __init__(self, db: Database, served: Any) -> None:
        self.db = db
        self.served = served  # () -> {engine: version} this process serves

    def collect(self) -> Iterator[Any]:
        jobs = CounterMetricFamily(
            "recommender_jobs", "Background jobs by job and final state.", labels=["job", "state"]
        )
        seconds = CounterMetricFamily(
            "recommender_job_seconds",
            "Total run time of finished background jobs, by job and final state.",
            labels=["job", "state"],
        )
        active = GaugeMetricFamily(
            "recommender_active_model_version",
            "The registry's active version per engine.",
            labels=["engine"],
        )
        serving = GaugeMetricFamily(
            "recommender_served_model_version",
            "The version this process serves per engine (lags the registry for seconds).",
            labels=["engine"],
        )
        try:
            with self.db.engine.connect() as conn:
                rows = conn.execute(
                    select(Task.name, Task.state, Task.started_at, Task.finished_at)
                ).all()
                versions = conn.execute(
                    select(ModelVersion.engine, ModelVersion.version).where(
                        ModelVersion.status == "active"
                    )
                ).all()
                subscribers = conn.execute(select(Subscriber.__table__)).all()
        except Exception:  # metrics must not fail because the database is briefly away
            return
        counts: dict[tuple[str, str], float] = {}
        durations: dict[tuple[str, str], float] = {}
        for name, state, started, finished in rows:
            key = (str(name), str(state))
            counts[key] = counts.get(key, 0.0) + 1.0
            if started is not None and finished is not None:
                durations[key] = durations.get(key, 0.0) + (finished - started).total_seconds()
        for key, value in counts.items():
            jobs.add_metric(list(key), value)
            if key in durations:
                seconds.add_metric(list(key), durations[key])
        for engine, version in versions:
            active.add_metric([str(engine)], float(version))
        for engine, version in (self.served() or {}).items():
            if version is not None:
                serving.add_metric([engine], float(version))
        yield from (jobs, seconds, active, serving)
        yield from databus_families(subscribers)


def exposition(extra: Collector | None) -> tuple[bytes, str]:
    """The metrics text of this process, or of every process in multiprocess mode."""
    registry: CollectorRegistry | None = None
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    text = generate_latest(registry)
    if extra is not None:
        single = CollectorRegistry(auto_describe=False)
        single.register(extra)
        text += generate_latest(single)
    return text, CONTENT_TYPE_LATEST


def databus_families(subscribers: Sequence[Any]) -> list[Any]:
    """What each databus subscriber last reported: its counts, its lag and how long ago."""
    label = ["subscription"]
    counters = {
        name: CounterMetricFamily(f"recommender_databus_{name}", text, labels=label)
        for name, text in (
            ("consumed", "Databus messages received, redeliveries included."),
            ("stored", "Databus messages stored as user actions."),
            ("duplicates", "Databus messages that had been stored before (redeliveries)."),
            ("dead_lettered", "Databus messages kept in the dead-letter table, with the reason."),
        )
    }
    lag = GaugeMetricFamily(
        "recommender_databus_lag_seconds",
        "Seconds from a message being sent to its action being stored, over the last report.",
        labels=["subscription", "quantile"],
    )
    age = GaugeMetricFamily(
        "recommender_databus_report_age_seconds",
        "Seconds since the subscriber last reported (it reports every few seconds).",
        labels=label,
    )
    now = utcnow()
    for row in subscribers:
        for name, family in counters.items():
            family.add_metric([row.subscription], float(getattr(row, name)))
        for quantile, value in (("0.5", row.lag_p50_s), ("0.99", row.lag_p99_s)):
            if value is not None:
                lag.add_metric([row.subscription, quantile], value)
        age.add_metric([row.subscription], (now - row.heartbeat_at).total_seconds())
    return [*counters.values(), lag, age]
