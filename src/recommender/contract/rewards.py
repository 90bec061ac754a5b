"""What a visitor's moves between pages are worth: transition labels and their reward values.

The Marketplace labels each move between two kinds of page with how much interest it shows
(`../shared/data/eosc/recommender-seed/transition_rewards.csv`, packaged in the EOSC
fixture); an order is the strongest signal. The RL engine learns from these values, and the
simulator pays them, so both agree on what a good panel is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from itertools import pairwise

UNKNOWN_TRANSITION = "unknown_transition"
SIMPLE_TRANSITION = "simple_transition"
MILD_INTEREST = "mild_interest"
INTEREST = "interest"
ORDER_LABEL = "order"


@dataclass(frozen=True)
class RewardValues:
    """Reward of each transition label; must grow from simple transitions to orders."""

    unknown_transition: float = 0.0
    simple_transition: float = 0.1
    mild_interest: float = 0.25
    interest: float = 0.5
    order: float = 1.0

    def __post_init__(self) -> None:
        ladder = (self.simple_transition, self.mild_interest, self.interest, self.order)
        if any(low >= high for low, high in pairwise(ladder)):
            raise ValueError(
                "reward values must grow: simple_transition < mild_interest < interest < order"
            )
        if self.unknown_transition < 0 or self.unknown_transition > self.simple_transition:
            raise ValueError("unknown_transition must lie between 0 and simple_transition")

    def of(self, label: str) -> float:
        value = getattr(self, label, None)
        if not isinstance(value, float):
            raise ValueError(f"unknown transition label {label!r}")
        return value

    def total(self, counts: Mapping[str, int]) -> float:
        """The summed value of a bag of labels (`{"interest": 2, "order": 1}`)."""
        return float(sum(self.of(label) * count for label, count in counts.items()))

    @classmethod
    def parse(cls, text: str) -> RewardValues:
        """`"mild_interest=0.3,order=2"`: the labels named change, the others keep defaults."""
        known = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            label, sep, number = part.partition("=")
            label = label.strip()
            if not sep or label not in known:
                raise ValueError(
                    f"reward values: {part!r} is not LABEL=NUMBER with LABEL one of "
                    + ", ".join(sorted(known))
                )
            try:
                values[label] = float(number)
            except ValueError:
                raise ValueError(f"reward values: {number.strip()!r} is not a number") from None
        return cls(**values)

    def as_dict(self) -> Mapping[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}
