"""The per-arm report of an experiment: attributed clicks and orders, rates with intervals,
differences from the first arm, and the sequential test's verdict."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Connection, Integer, case, exists, func, select

from recommender.experiments import records, statistics
from recommender.experiments.assignment import Arm, visitor_key
from recommender.experiments.records import ExperimentRecord
from recommender.store.database import Database
from recommender.store.schema import Recommendation, UserAction

PANEL_ROOT = "recommendation_panel"
METHOD = (
    "Visitors are the unit: rates are ratios of sums over visitors with cluster-robust "
    "(delta-method) 95 % intervals. The verdict on each arm's click-through rate against the "
    "first arm comes from a mixture sequential probability ratio test (mSPRT, normal mixture "
    "of scale min_effect; Johari, Pekelis and Walsh 2017) at level alpha split evenly over the "
    "other arms: it may be read at any time without inflating false verdicts, and a verdict "
    "once reached stands."
)


@dataclass(frozen=True)
class Outcomes:
    """One visitor's impressions in one arm (and day), and how many were clicked or ordered."""

    impressions: int = 0
    clicked: int = 0
    ordered: int = 0

    def __add__(self, other: Outcomes) -> Outcomes:
        return Outcomes(
            self.impressions + other.impressions,
            self.clicked + other.clicked,
            self.ordered + other.ordered,
        )


def _rates(visitors: Sequence[Outcomes]) -> tuple[statistics.Rate, statistics.Rate]:
    shown = np.asarray([v.impressions for v in visitors], dtype=np.float64)
    clicked = np.asarray([v.clicked for v in visitors], dtype=np.float64)
    ordered = np.asarray([v.ordered for v in visitors], dtype=np.float64)
    return statistics.clustered_rate(clicked, shown), statistics.clustered_rate(ordered, shown)


@dataclass(frozen=True)
class RateOut:
    value: float
    low: float
    high: float

    @classmethod
    def of(cls, rate: statistics.Rate) -> RateOut:
        # A rate lies in [0, 1]; the normal approximation's interval may not on few visitors.
        low, high = rate.interval
        return cls(rate.value, max(low, 0.0), min(high, 1.0))


@dataclass(frozen=True)
class DifferenceOut:
    value: float
    low: float
    high: float
    likelihood_ratio: float

    @classmethod
    def of(cls, diff: statistics.Difference) -> DifferenceOut:
        low, high = diff.interval
        return cls(diff.value, low, high, diff.likelihood_ratio)


@dataclass(frozen=True)
class ArmReport:
    arm: Arm
    visitors: int
    impressions: int
    clicks: int
    orders: int
    ctr: RateOut
    order_rate: RateOut
    # Against the first arm; None for the first arm itself.
    ctr_difference: DifferenceOut | None = None
    order_rate_difference: DifferenceOut | None = None
    verdict: statistics.Verdict | None = None


@dataclass(frozen=True)
class DayReport:
    day: date
    arm: str
    visitors: int
    impressions: int
    ctr: RateOut
    order_rate: RateOut


@dataclass(frozen=True)
class ExperimentReport:
    experiment: ExperimentRecord
    arms: list[ArmReport]
    days: list[DayReport]
    method: str = METHOD
    # Verdicts reached at this look that the store did not hold yet.
    new_verdicts: dict[str, Any] = field(default_factory=dict)


def _day(conn: Connection) -> ColumnElement[Any]:
    column = Recommendation.requested_at
    if conn.dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _flag(*conditions: ColumnElement[bool]) -> ColumnElement[int]:
    linked = exists().where(UserAction.recommendation_id == Recommendation.id, *conditions)
    return case((linked, 1), else_=0)


def outcomes(conn: Connection, experiment_id: int) -> dict[tuple[str, str, date], Outcomes]:
    """(arm, visitor, day) -> outcomes of the experiment's impressions. A click is an action
    linked to the impression whose journey started on the panel; an order, one placing one."""
    clicked = _flag(UserAction.root_type == PANEL_ROOT)
    ordered = _flag(UserAction.is_order.is_(True))
    day = _day(conn)
    rows = conn.execute(
        select(
            Recommendation.arm,
            Recommendation.user_id,
            Recommendation.aai_uid,
            Recommendation.unique_id,
            day,
            func.count(),
            func.sum(clicked).cast(Integer),
            func.sum(ordered).cast(Integer),
        )
        .where(Recommendation.experiment_id == experiment_id)
        .group_by(
            Recommendation.arm,
            Recommendation.user_id,
            Recommendation.aai_uid,
            Recommendation.unique_id,
            day,
        )
    )
    out: dict[tuple[str, str, date], Outcomes] = defaultdict(Outcomes)
    for arm, user_id, aai_uid, unique_id, on, shown, clicks, orders in rows:
        when = on if isinstance(on, date) else date.fromisoformat(str(on))
        key = (str(arm), visitor_key(user_id, aai_uid, unique_id), when)
        out[key] = out[key] + Outcomes(int(shown), int(clicks or 0), int(orders or 0))
    return dict(out)


def _per_visitor(found: dict[tuple[str, str, date], Outcomes]) -> dict[str, list[Outcomes]]:
    merged: dict[tuple[str, str], Outcomes] = defaultdict(Outcomes)
    for (arm, visitor, _), value in found.items():
        merged[(arm, visitor)] = merged[(arm, visitor)] + value
    by_arm: dict[str, list[Outcomes]] = defaultdict(list)
    for (arm, _visitor), value in merged.items():
        by_arm[arm].append(value)
    return by_arm


def _days(found: dict[tuple[str, str, date], Outcomes]) -> list[DayReport]:
    grouped: dict[tuple[date, str], list[Outcomes]] = defaultdict(list)
    for (arm, _visitor, day), value in found.items():
        grouped[(day, arm)].append(value)
    days = []
    for (day, arm), visitors in sorted(grouped.items()):
        ctr, order_rate = _rates(visitors)
        days.append(
            DayReport(
                day=day,
                arm=arm,
                visitors=len(visitors),
                impressions=sum(v.impressions for v in visitors),
                ctr=RateOut.of(ctr),
                order_rate=RateOut.of(order_rate),
            )
        )
    return days


def build(conn: Connection, experiment: ExperimentRecord) -> ExperimentReport:
    """The report as of now; `new_verdicts` holds verdicts reached for the first time."""
    found = outcomes(conn, experiment.id)
    by_arm = _per_visitor(found)
    control = experiment.arms[0]
    control_ctr, control_orders = _rates(by_arm.get(control.name, []))
    alpha = experiment.alpha / max(len(experiment.arms) - 1, 1)
    reports: list[ArmReport] = []
    new_verdicts: dict[str, Any] = {}
    for arm in experiment.arms:
        visitors = by_arm.get(arm.name, [])
        ctr, order_rate = _rates(visitors)
        base = ArmReport(
            arm=arm,
            visitors=len(visitors),
            impressions=sum(v.impressions for v in visitors),
            clicks=sum(v.clicked for v in visitors),
            orders=sum(v.ordered for v in visitors),
            ctr=RateOut.of(ctr),
            order_rate=RateOut.of(order_rate),
        )
        if arm is control:
            reports.append(base)
            continue
        ctr_diff = statistics.difference(ctr, control_ctr, experiment.min_effect)
        orders_diff = statistics.difference(order_rate, control_orders, experiment.min_effect)
        stored = experiment.verdicts.get(arm.name)
        verdict: statistics.Verdict | None = None
        if isinstance(stored, dict) and stored.get("verdict") in ("better", "worse"):
            verdict = stored["verdict"]
        if verdict is None and experiment.running:
            sizes = (len(visitors), len(by_arm.get(control.name, [])))
            verdict = statistics.decided(ctr_diff, alpha, sizes)
            if verdict is not None:
                new_verdicts[arm.name] = {
                    "verdict": verdict,
                    "difference": ctr_diff.value,
                    "likelihood_ratio": ctr_diff.likelihood_ratio,
                    "visitors": list(sizes),
                }
        reports.append(
            replace(
                base,
                ctr_difference=DifferenceOut.of(ctr_diff),
                order_rate_difference=DifferenceOut.of(orders_diff),
                verdict=verdict,
            )
        )
    return ExperimentReport(
        experiment=experiment, arms=reports, days=_days(found), new_verdicts=new_verdicts
    )


def current(db: Database, experiment_id: int) -> ExperimentReport:
    """Build the report from one consistent snapshot, and keep any verdict it reached first."""
    with db.snapshot() as conn:
        report = build(conn, records.get(conn, experiment_id))
    if report.new_verdicts:
        with db.write() as conn:
            stored = records.get(conn, experiment_id).verdicts
            records.record_verdicts(conn, experiment_id, {**report.new_verdicts, **stored})
    return report
