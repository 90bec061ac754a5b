"""What the simulator pays for each slot of a panel, in the values of `RewardValues`.

A click on a panel slot is the portal's `/services` -> `/services/{id}` move, paid its
transition label's value (`mild_interest` in the Marketplace's labels); a click that ends in
an order also earns the `order` value. The rest of the journey (tabs, offers, the order
funnel) is not walked: those moves follow from the click and the order, which the panel
caused, and walking them would add the journey model's noise without telling policies apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.activity.pages import CATALOGUE, SERVICE, PageGraph, concrete, portal_graph
from recommender.activity.rewards import transition_label
from recommender.arrays import BoolArray, DoubleArray
from recommender.contract.rewards import ORDER_LABEL, RewardValues

# Any service id names the same abstract move; the label does not depend on it.
_SOME_SERVICE = 1


@dataclass(frozen=True)
class PanelRewards:
    """The value of a click and of an order, read once from the labels and their values."""

    click: float
    order: float

    @classmethod
    def of(cls, values: RewardValues | None = None, graph: PageGraph | None = None) -> PanelRewards:
        values = values or RewardValues()
        label = transition_label(
            CATALOGUE, concrete(SERVICE, _SOME_SERVICE), graph=graph or portal_graph()
        )
        return cls(click=values.of(label), order=values.of(ORDER_LABEL))

    def pay(self, clicked: BoolArray, ordered: BoolArray) -> DoubleArray:
        """The reward of each slot: its click's value, plus the order's where it ordered."""
        return np.asarray(
            self.click * clicked.astype(np.float64) + self.order * ordered.astype(np.float64),
            dtype=np.float64,
        )
