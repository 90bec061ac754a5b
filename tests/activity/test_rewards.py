from __future__ import annotations

import pytest

from recommender.activity.rewards import transition_label
from recommender.contract.rewards import RewardValues


@pytest.mark.parametrize(
    ("source", "target", "label"),
    [
        ("/services", "/services/12", "mild_interest"),
        ("/services/12", "/services/12/offers", "interest"),
        ("/services/12", "/services/12/details", "mild_interest"),
        ("/services/12/details", "/services/12", "simple_transition"),
        ("/services/12", "/about", "unknown_transition"),
    ],
)
def test_moves_between_portal_pages_carry_the_seed_labels(
    source: str, target: str, label: str
) -> None:
    assert transition_label(source, target) == label


def test_an_order_is_an_order_whatever_the_pages() -> None:
    assert transition_label("/services/12/configuration", "/services/12/summary", True) == "order"


def test_default_values_grow_from_a_simple_move_to_an_order() -> None:
    values = RewardValues()
    ladder = [values.of(label) for label in ("simple_transition", "mild_interest", "interest")]
    assert ladder == sorted(ladder)
    assert values.of("order") > ladder[-1]


def test_values_are_configurable_by_label() -> None:
    values = RewardValues.parse("order=5, interest=0.7")
    assert values.order == 5.0
    assert values.interest == 0.7
    assert values.mild_interest == RewardValues().mild_interest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("order=0.2", "must grow"),
        ("orders=2", "not LABEL=NUMBER"),
        ("order", "not LABEL=NUMBER"),
        ("order=lots", "not a number"),
    ],
)
def test_bad_values_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RewardValues.parse(text)


def test_a_bag_of_labels_is_worth_the_sum_of_its_values() -> None:
    values = RewardValues.parse("order=3")
    assert values.total({"interest": 2, "order": 1}) == pytest.approx(2 * 0.5 + 3.0)
    assert values.total({}) == 0.0
