"""The transition label of a visitor's move between two concrete pages."""

from __future__ import annotations

from recommender.activity.pages import ORDER, PageGraph, abstract, portal_graph
from recommender.contract.rewards import ORDER_LABEL


def transition_label(
    source_page_id: str, target_page_id: str, is_order: bool = False, graph: PageGraph | None = None
) -> str:
    """The label of one move between concrete page ids (`/services/12` -> `/services/12/offers`).

    An action that places an order is an `order` whatever pages it joins.
    """
    if is_order:
        return ORDER_LABEL
    graph = graph or portal_graph()
    target = ORDER if target_page_id == ORDER else abstract(target_page_id)
    return graph.reward(abstract(source_page_id), target)
