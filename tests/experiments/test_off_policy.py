"""Off-policy estimates on synthetic logs whose click probabilities, and so the truth, are known."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

from recommender.experiments import off_policy
from recommender.experiments.assignment import Arm
from recommender.experiments.logged import LoggedImpression
from recommender.experiments.records import ExperimentRecord, InvalidExperimentError

N_SERVICES = 10
PANEL = 3
# Each service's click probability in the first slot; later slots are looked at less.
APPEAL = {s: 0.05 + 0.04 * s for s in range(1, N_SERVICES + 1)}


def experiment(*arms: tuple[str, str, float]) -> ExperimentRecord:
    return ExperimentRecord(
        id=1,
        name="synthetic",
        status="running",
        panels=("v1",),
        arms=tuple(Arm(name, engine, None, weight) for name, engine, weight in arms),
        min_effect=0.01,
        alpha=0.05,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        stopped_at=None,
        promoted_arm=None,
        verdicts={},
    )


def best_first(impression: LoggedImpression) -> list[int]:
    """The target engine: the most appealing allowed services (highest id), best first."""
    return most_appealing(impression.allowed or ())


def most_appealing(allowed: Sequence[int]) -> list[int]:
    return sorted(allowed, reverse=True)[:PANEL]


def lowest_first(allowed: Sequence[int]) -> list[int]:
    return sorted(allowed)[:PANEL]


def synthetic_log(
    attention: Sequence[float], visitors: int = 3000, seed: int = 7
) -> tuple[ExperimentRecord, list[LoggedImpression], float]:
    """Half the visitors see a uniformly random panel, half the lowest ids; each has one to
    four searches with their own allowed services. Returns the truth: the clicks per panel
    `best_first` would earn on the same searches."""
    rng = np.random.default_rng(seed)
    record = experiment(("control", "popularity", 1.0), ("explore", "random", 1.0))
    logged: list[LoggedImpression] = []
    truth = []
    for v in range(visitors):
        arm = "explore" if rng.random() < 0.5 else "control"
        for _ in range(int(rng.integers(1, 5))):
            n = int(rng.integers(PANEL, N_SERVICES + 1))
            allowed = sorted(rng.choice(np.arange(1, N_SERVICES + 1), size=n, replace=False))
            context = {"allowed": [int(s) for s in allowed], "history": []}
            if arm == "explore":
                shown = [int(s) for s in rng.permutation(allowed)[:PANEL]]
            else:
                shown = lowest_first(allowed)
            clicked = frozenset(
                s for p, s in enumerate(shown) if rng.random() < APPEAL[s] * attention[p]
            )
            impression = LoggedImpression(
                id=len(logged) + 1,
                visitor=f"browser:{v}",
                arm=arm,
                engine="random" if arm == "explore" else "popularity",
                propensity=0.5,
                panel_size=PANEL,
                shown=tuple(shown),
                clicked=clicked,
                any_click=bool(clicked),
                context=context if arm == "explore" else None,
            )
            logged.append(impression)
            target = most_appealing(context["allowed"])
            truth.append(sum(APPEAL[s] * attention[p] for p, s in enumerate(target)))
    return record, logged, float(np.mean(truth))


def covers(interval: off_policy.Interval, value: float) -> bool:
    return interval.low <= value <= interval.high


def coverage(method: off_policy.Method, attention: Sequence[float]) -> tuple[int, int, float]:
    """Over 30 logs: how often the IPS and SNIPS intervals hold the truth, and the mean error."""
    ips = snips = 0
    errors = []
    for seed in range(30):
        record, logged, truth = synthetic_log(attention, visitors=1000, seed=seed)
        found = off_policy.replayed(record, logged, "ncf", best_first, method)
        ips += covers(found.ips, truth)
        snips += covers(found.snips, truth)
        errors.append(found.snips.value - truth)
    return ips, snips, float(np.mean(errors))


@pytest.mark.slow
def test_slot_replay_recovers_the_true_click_rate_under_position_bias() -> None:
    ips, snips, error = coverage("slot", attention=(1.0, 0.6, 0.3))
    # 95 % intervals: about 28 of 30; the delta method on a few visitors is a little short.
    assert ips >= 25 and snips >= 25
    assert abs(error) < 0.02


@pytest.mark.slow
def test_item_replay_recovers_it_when_slots_do_not_matter_and_misses_when_they_do() -> None:
    ips, snips, error = coverage("item", attention=(1.0, 1.0, 1.0))
    assert ips >= 25 and snips >= 25
    assert abs(error) < 0.02

    record, logged, truth = synthetic_log(attention=(1.0, 0.3, 0.1))
    biased = off_policy.replayed(record, logged, "ncf", best_first, "item")
    # The best services go to the first slot, where the random panel put them a third of
    # the time: item matching averages the slots' attention and underestimates.
    assert biased.snips.high < truth


def test_what_a_slot_estimate_reports() -> None:
    record, logged, _ = synthetic_log(attention=(1.0, 0.6, 0.3))
    found = off_policy.replayed(record, logged, "ncf", best_first, "slot")
    assert found.impressions == len(logged) and found.skipped == 0
    assert 0 < found.used < sum(1 for i in logged if i.arm == "explore")
    assert found.visitors == len({i.visitor for i in logged})
    assert found.estimand == "clicked services per panel"
    # Normalising by the weights removes the noise of how many panels matched.
    assert found.snips.high - found.snips.low < found.ips.high - found.ips.low
    item = off_policy.replayed(record, logged, "ncf", best_first, "item")
    # Matching anywhere in the panel: more matches, a narrower interval.
    assert item.used > found.used
    assert item.snips.high - item.snips.low < found.snips.high - found.snips.low


def test_snips_of_an_arms_engine_is_its_plain_click_through_rate() -> None:
    record, logged, _ = synthetic_log(attention=(1.0, 0.6, 0.3), visitors=400)
    control = [i for i in logged if i.arm == "control"]
    found = off_policy.estimate(record, logged, "popularity", best_first)
    assert found.method == "arm"
    assert found.snips.value == pytest.approx(sum(i.any_click for i in control) / len(control))
    assert found.used == len(control) and found.impressions == len(logged)
    # IPS divides by every panel logged, so it is near, not at, the arm's rate.
    assert covers(found.ips, found.snips.value)


def test_an_engine_that_is_no_arm_is_replayed_slot_by_slot() -> None:
    record, logged, _ = synthetic_log(attention=(1.0, 0.6, 0.3), visitors=100)
    assert off_policy.estimate(record, logged, "ncf", best_first).method == "slot"


def test_impressions_that_cannot_be_replayed_are_counted_and_left_out() -> None:
    record, logged, _ = synthetic_log(attention=(1.0, 0.6, 0.3), visitors=200)
    explore = [i for i in logged if i.arm == "explore"]
    gone = {i.id for i in explore[: len(explore) // 2]}

    def some_gone(impression: LoggedImpression) -> list[int] | None:
        return None if impression.id in gone else best_first(impression)

    found = off_policy.replayed(record, logged, "ncf", some_gone)
    assert found.skipped == len(gone)
    assert found.impressions == len(logged) - len(gone)


def test_an_engine_without_arms_at_arm_level_names_the_engine() -> None:
    record, logged, _ = synthetic_log(attention=(1.0, 1.0, 1.0), visitors=20)
    with pytest.raises(InvalidExperimentError) as error:
        off_policy.estimate(record, logged, "ncf", best_first, "arm")
    assert error.value.field == "engine" and "popularity, random" in error.value.message


def test_replay_without_a_random_arm_names_the_method() -> None:
    record = experiment(("control", "popularity", 1.0), ("treatment", "ncf", 1.0))
    with pytest.raises(InvalidExperimentError) as error:
        off_policy.estimate(record, [], "ease", best_first)
    assert error.value.field == "method" and "no random arm" in error.value.message
    with pytest.raises(InvalidExperimentError) as error:
        off_policy.check_method("bandit")
    assert error.value.field == "method"
