"""Off-policy estimates of an engine's click rate from an experiment's logged impressions.

Every impression stores the arm that served it and the arm's propensity (its share of the
weights: the chance the logging policy, the experiment, put the visitor in it). Two ways to
estimate what a policy "always serve engine E" would earn on the visitors the experiment saw:

**Arm level** (E is the engine of some arms). Each impression of those arms is weighted by
1 / (the arms' total propensity), others by 0. Estimand: the report's click-through rate
(clicked panels / panels). Unbiased for E's rate when visitors were assigned as logged
(always true here) and the number of panels a visitor asks for does not depend on the arm
(IPS); SNIPS needs not even that, and is exactly the arms' own CTR. It says nothing an A/B
report does not, but checks the machinery and gives E's rate on a common footing.

**Replay** (E need not be an arm). A `random` arm shows a uniform shuffle of the services it
may show (`allowed`, n of them): a service sits in slot p of its panel with probability 1/n
and anywhere in the panel of m slots with probability m/n, times the arm's propensity. E's
panel for the same logged context (the allowed services and the query, stored with the
impression) is ranked again; every service E would show that the random panel also showed
contributes its click divided by that probability. Estimand: clicked services per panel,
which is the click-through rate when a visitor clicks at most one service of a panel. With
`slot`, E's service must be in the same slot: unbiased when a click on a slot depends only
on the service and the slot (a position-based model: slots may differ in attention). With
`item`, anywhere in the panel: m times more matches, so less variance, but unbiased only when
the slot does not matter. Either way a click must not depend on the other services shown.

Both are single-step estimates: they take each logged context (search, history, candidates)
as given, although the policy that served earlier panels shaped the later ones (a visitor who
clicked differently searches differently). An engine retrained on the experiment's own clicks
is evaluated on data it learned from, which flatters it. IPS divides by the number of panels
logged; SNIPS by the sum of the weights (the expected value of each impression's weight is
one, so SNIPS trades a small bias for much less variance). Intervals are delta-method 95 %
intervals of ratios of sums over visitors, the unit of randomisation; with large weights (n
much larger than the panel) and few matches they are optimistic, and `used` says how many
impressions carried the estimate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from recommender.experiments import statistics
from recommender.experiments.logged import UNIFORM_ENGINE, LoggedImpression
from recommender.experiments.records import ExperimentRecord, InvalidExperimentError

Method = Literal["arm", "slot", "item"]
METHODS: tuple[Method, ...] = ("arm", "slot", "item")
# E's panel for a logged impression's context, best first; None when it cannot be replayed
# (a service it drew from has left the catalogue, say).
Ranker = Callable[[LoggedImpression], Sequence[int] | None]

ESTIMANDS: dict[Method, str] = {
    "arm": "click-through rate (clicked panels / panels)",
    "slot": "clicked services per panel",
    "item": "clicked services per panel",
}
ASSUMPTIONS: dict[Method, str] = {
    "arm": "Impressions of the engine's arms weighted by 1 / their propensity. IPS assumes "
    "the number of panels a visitor asks for does not depend on the arm; SNIPS is the arms' "
    "own click-through rate.",
    "slot": "Panels of the random arm where the engine's replayed panel has the same service in "
    "the same slot, weighted by 1 / (propensity / allowed services). Assumes a click depends "
    "only on the service and its slot, not on the other services shown, and takes each logged "
    "context as given (single step).",
    "item": "Panels of the random arm that showed a service the engine's replayed panel shows, "
    "anywhere, weighted by 1 / (propensity * panel length / allowed services). Assumes a click "
    "depends only on the service, not on its slot or the other services shown, and takes "
    "each logged context as given (single step).",
}


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    @classmethod
    def of(cls, rate: statistics.Rate) -> Interval:
        low, high = rate.interval
        # A rate of clicks cannot be negative; the normal interval on few visitors can.
        return cls(rate.value, max(low, 0.0), high)


@dataclass(frozen=True)
class Estimate:
    experiment_id: int
    engine: str
    method: Method
    estimand: str
    ips: Interval
    snips: Interval
    # Impressions the estimate averages over (the log, less those that could not be replayed).
    impressions: int
    # Impressions with a non-zero weight: the ones that carry the estimate.
    used: int
    visitors: int
    # Random-arm impressions with no stored context, or whose context could not be replayed.
    skipped: int
    assumptions: str


@dataclass
class _Sums:
    """Per visitor: the weighted clicks, the panels, and the weights' control variate."""

    clicks: float = 0.0
    panels: float = 0.0
    weights: float = 0.0


def _estimate(
    experiment: ExperimentRecord,
    engine: str,
    method: Method,
    sums: dict[str, _Sums],
    used: int,
    skipped: int,
) -> Estimate:
    clicks = np.asarray([s.clicks for s in sums.values()], dtype=np.float64)
    panels = np.asarray([s.panels for s in sums.values()], dtype=np.float64)
    weights = np.asarray([s.weights for s in sums.values()], dtype=np.float64)
    return Estimate(
        experiment_id=experiment.id,
        engine=engine,
        method=method,
        estimand=ESTIMANDS[method],
        ips=Interval.of(statistics.clustered_rate(clicks, panels)),
        snips=Interval.of(statistics.clustered_rate(clicks, weights)),
        impressions=int(panels.sum()),
        used=used,
        visitors=len(sums),
        skipped=skipped,
        assumptions=ASSUMPTIONS[method],
    )


def _shares(experiment: ExperimentRecord, logged: Sequence[LoggedImpression]) -> dict[str, float]:
    """Each arm's propensity as its impressions logged it (the definition's share otherwise)."""
    total = sum(arm.weight for arm in experiment.arms)
    shares = {arm.name: arm.weight / total for arm in experiment.arms}
    for impression in logged:
        shares[impression.arm] = impression.propensity
    return shares


def arm_level(
    experiment: ExperimentRecord, logged: Sequence[LoggedImpression], engine: str
) -> Estimate:
    """IPS and SNIPS of "always serve `engine`" from the impressions of its arms."""
    arms = {arm.name for arm in experiment.arms if arm.engine == engine}
    if not arms:
        names = ", ".join(sorted({arm.engine for arm in experiment.arms}))
        raise InvalidExperimentError(
            "engine", f"{engine} is no arm's engine in experiment {experiment.id} (arms: {names})"
        )
    shares = _shares(experiment, logged)
    propensity = sum(shares[name] for name in arms)
    sums: dict[str, _Sums] = defaultdict(_Sums)
    used = 0
    for impression in logged:
        visitor = sums[impression.visitor]
        visitor.panels += 1
        if impression.arm in arms:
            used += 1
            visitor.weights += 1 / propensity
            visitor.clicks += float(impression.any_click) / propensity
    return _estimate(experiment, engine, "arm", sums, used, 0)


def _matches(shown: Sequence[int], target: Sequence[int], method: Method) -> list[int]:
    """The services of `target` the logged panel showed where the method asks for them."""
    if method == "slot":
        return [s for s, t in zip(shown, target, strict=False) if s == t]
    showed = set(shown)
    return [t for t in target if t in showed]


def replayed(
    experiment: ExperimentRecord,
    logged: Sequence[LoggedImpression],
    engine: str,
    rank: Ranker,
    method: Method = "slot",
) -> Estimate:
    """IPS and SNIPS of `engine` by replaying its panels on the random arm's contexts."""
    if method == "arm":
        return arm_level(experiment, logged, engine)
    uniform = {arm.name for arm in experiment.arms if arm.engine == UNIFORM_ENGINE}
    if not uniform:
        raise InvalidExperimentError(
            "method",
            f"experiment {experiment.id} has no {UNIFORM_ENGINE} arm, whose panels a "
            f"{method}-level estimate replays; use method=arm for an engine that is an arm",
        )
    sums: dict[str, _Sums] = defaultdict(_Sums)
    used = skipped = 0
    for impression in logged:
        if impression.arm not in uniform:
            sums[impression.visitor].panels += 1
            continue
        allowed = impression.allowed
        target = rank(impression) if allowed is not None else None
        if allowed is None or target is None:
            # Left out of the average too: it may not count as a panel that earned nothing.
            skipped += 1
            continue
        visitor = sums[impression.visitor]
        visitor.panels += 1
        slots = min(len(impression.shown), len(target))
        if slots == 0:
            continue
        shown, wanted = impression.shown[:slots], list(target)[:slots]
        chance = impression.propensity * (1 if method == "slot" else slots) / len(allowed)
        matched = _matches(shown, wanted, method)
        used += bool(matched)
        # E[matches / chance] = slots over the whole log, so this term averages one a panel.
        visitor.weights += len(matched) / chance / slots
        visitor.clicks += sum(1 for s in matched if s in impression.clicked) / chance
    return _estimate(experiment, engine, method, sums, used, skipped)


def check_method(text: str) -> Method:
    for method in METHODS:
        if text == method:
            return method
    raise InvalidExperimentError("method", f"{text!r} is not one of {', '.join(METHODS)}")


def estimate(
    experiment: ExperimentRecord,
    logged: Sequence[LoggedImpression],
    engine: str,
    rank: Ranker,
    method: Method | None = None,
) -> Estimate:
    """The estimate of `engine`: by `method`, or at arm level when the engine is an arm's and
    by replaying random panels slot by slot when it is not."""
    if method is None:
        method = "arm" if any(arm.engine == engine for arm in experiment.arms) else "slot"
    if method == "arm":
        return arm_level(experiment, logged, engine)
    return replayed(experiment, logged, engine, rank, method)
