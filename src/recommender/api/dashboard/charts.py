"""What the dashboard draws: series as the vendored uPlot reads them (x values, one list of
y values per series, `null` for a gap), built from the store's counts and curves."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from recommender.activity.traffic import DailyActivity
from recommender.experiments.report import DayReport


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float | None]
    # Series of one group share a colour; a bound (an interval's end) is drawn dashed.
    group: int = -1
    bound: bool = False


@dataclass(frozen=True)
class Chart:
    """One chart: its title (the figure's caption), x axis and series."""

    title: str
    x_kind: Literal["day", "epoch"]
    x: list[float]
    series: list[Series]

    @property
    def points(self) -> int:
        return sum(value is not None for s in self.series for value in s.values)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "xKind": self.x_kind,
            "x": self.x,
            "series": [
                {"label": s.label, "values": s.values, "group": s.group, "bound": s.bound}
                for s in self.series
            ],
        }


def _finite(value: float) -> float | None:
    # A diverged loss is NaN or infinite: drawn as a gap, since JSON has no such numbers.
    return float(value) if math.isfinite(value) else None


def _midnight(day: date) -> float:
    return datetime.combine(day, time.min, tzinfo=UTC).timestamp()


def daily_activity(activity: DailyActivity) -> Chart:
    midnight = [_midnight(day) for day in activity.days]
    return Chart(
        title="Panels served, user actions and orders per day (UTC)",
        x_kind="day",
        x=midnight,
        series=[
            Series("panels served", [float(n) for n in activity.impressions]),
            Series("user actions", [float(n) for n in activity.actions]),
            Series("orders", [float(n) for n in activity.orders]),
        ],
    )


LOSSES, QUALITY, SECONDS = "Losses per epoch", "Validation quality per epoch", "Seconds per epoch"


def _group(name: str) -> str:
    # Engines name held-out scores `val_<metric>` and times `<what>_s`; the rest are the
    # objectives they minimise (losses, rl's critic and imitation terms).
    if name.endswith("_s"):
        return SECONDS
    if name.startswith("val_") and "loss" not in name:
        return QUALITY
    return LOSSES


def training_curves(curves: Mapping[str, Sequence[float]]) -> list[Chart]:
    """The stored curves of a model version, losses, quality and time apart (their scales
    differ by orders of magnitude); curves of different lengths share the epoch axis."""
    groups: dict[str, dict[str, Sequence[float]]] = {}
    for name, values in curves.items():
        if len(values) > 0:
            groups.setdefault(_group(name), {})[name] = values
    charts = []
    for title in (LOSSES, QUALITY, SECONDS):
        members = groups.get(title)
        if not members:
            continue
        epochs = max(len(values) for values in members.values())
        series = [
            Series(
                name,
                [_finite(v) for v in values] + [None] * (epochs - len(values)),
            )
            for name, values in sorted(members.items())
        ]
        charts.append(Chart(title, "epoch", [float(e) for e in range(1, epochs + 1)], series))
    return charts


def experiment_rates(
    days: Sequence[DayReport], arms: Sequence[str], rate: Literal["ctr", "order_rate"]
) -> Chart:
    """One rate of each arm per day, with the ends of its 95 % interval; a day an arm had
    no visitor is a gap."""
    calendar = sorted({day.day for day in days})
    found = {(day.day, day.arm): getattr(day, rate) for day in days}
    series = []
    for group, arm in enumerate(arms):
        for label, part, bound in (
            (arm, "value", False),
            (f"{arm} 95 % low", "low", True),
            (f"{arm} 95 % high", "high", True),
        ):
            values = [
                _finite(getattr(found[(d, arm)], part)) if (d, arm) in found else None
                for d in calendar
            ]
            series.append(Series(label, values, group=group, bound=bound))
    title = "Click-through rate" if rate == "ctr" else "Order rate"
    return Chart(
        f"{title} per day and arm, with 95 % intervals",
        "day",
        [_midnight(d) for d in calendar],
        series,
    )
