from __future__ import annotations

from collections import Counter

from recommender.experiments.assignment import Arm, bucket, choose_arm, visitor_key

ARMS = (
    Arm("control", "popularity", None, 1.0),
    Arm("ncf", "ncf", None, 2.0),
    Arm("rl", "rl", 3, 1.0),
)


def assigned(experiment_id: int, key: str) -> str:
    return choose_arm(ARMS, bucket(experiment_id, key))[0].name


def test_a_visitor_stays_in_its_arm() -> None:
    keys = [visitor_key(None, None, f"browser-{i}") for i in range(200)]
    first = [assigned(7, key) for key in keys]
    assert [assigned(7, key) for key in keys] == first


def test_shares_follow_the_weights_within_two_percent_on_ten_thousand_visitors() -> None:
    counts = Counter(assigned(1, visitor_key(None, None, f"b-{i}")) for i in range(10_000))
    assert abs(counts["control"] / 10_000 - 0.25) <= 0.02
    assert abs(counts["ncf"] / 10_000 - 0.50) <= 0.02
    assert abs(counts["rl"] / 10_000 - 0.25) <= 0.02


def test_experiments_assign_independently() -> None:
    # Which arm a visitor lands in one experiment says nothing about the other.
    pairs = Counter(
        (assigned(1, key) == "ncf", assigned(2, key) == "ncf")
        for key in (visitor_key(None, None, f"b-{i}") for i in range(10_000))
    )
    share_both = pairs[(True, True)] / 10_000
    assert abs(share_both - 0.25) <= 0.02


def test_the_logged_in_user_is_the_unit_whatever_the_browser() -> None:
    assert visitor_key(5, "x@aai", "browser-1") == visitor_key(5, None, "browser-2")
    assert visitor_key(None, "x@aai", "browser-1") == visitor_key(None, "x@aai", "browser-2")
    assert visitor_key(None, None, "browser-1") != visitor_key(None, None, "browser-2")


def test_the_propensity_is_the_arm_s_share() -> None:
    arm, share = choose_arm(ARMS, 0.0)
    assert arm.name == "control" and share == 0.25
    arm, share = choose_arm(ARMS, 0.999999)
    assert arm.name == "rl" and share == 0.25
