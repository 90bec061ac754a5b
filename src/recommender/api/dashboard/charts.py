"""What the dashboard draws: series as the vendored uPlot reads them (x values, one list of
y values per series, `null` for a gap), built from the store's counts and curves."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, Literal

from recommender.activity.traffic import DailyActivity


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float | None]


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
            "series": [{"label": s.label, "values": s.values} for s in self.series],
        }


def _finite(value: float) -> float | None:
    # A diverged loss is NaN or infinite: drawn as a gap, since JSON has no such numbers.
    return float(value) if math.isfinite(value) else None


def daily_activity(activity: DailyActivity) -> Chart:
    midnight = [datetime.combine(day, time.min, tzinfo=UTC).timestamp() for day in activity.days]
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
