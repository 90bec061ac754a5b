"""The choice model: deterministic, position-biased, and ordering more what people like more."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.activity.pages import CATALOGUE
from recommender.synthetic import BehaviourModel, BehaviourParams, SyntheticMarketplace
from recommender.synthetic.behaviour import pair_noise


def _two_cluster_model() -> BehaviourModel:
    # Profile 0 likes cluster 0, profile 1 cluster 1; service 10 is of cluster 0, 20 of 1.
    return BehaviourModel(
        interests=[[1.0, 0.0], [0.0, 1.0]],
        service_ids=[10, 20],
        topics=[[1.0, 0.0], [0.0, 1.0]],
        quality=[0.0, 0.0],
        params=BehaviourParams(noise_scale=0.0),
    )


def test_affinity_is_the_documented_formula() -> None:
    model = _two_cluster_model()
    params = model.params
    assert model.affinity(0, 10) == pytest.approx(params.topic_weight)
    assert model.affinity(0, 20) == pytest.approx(0.0)
    assert model.affinity_matrix([0, 1], [10, 20]).tolist() == [
        [params.topic_weight, 0.0],
        [0.0, params.topic_weight],
    ]
    with pytest.raises(KeyError):
        model.affinity(0, 30)


def test_unknown_services_are_refused(market: SyntheticMarketplace) -> None:
    model = market.behaviour
    n = int(market.catalogue.ids[-1])
    assert model.rows([1, n]).tolist() == [0, n - 1]
    for unknown in (0, n + 1):
        with pytest.raises(KeyError):
            model.affinity(0, [1, unknown])


def test_affinity_matrix_agrees_with_pairwise_affinity(market: SyntheticMarketplace) -> None:
    model = market.behaviour
    profiles, ids = np.arange(0, 300, 11), market.catalogue.ids[::5]
    pairwise = model.affinity(profiles[:, None], ids[None, :])
    assert np.allclose(model.affinity_matrix(profiles, ids), pairwise, rtol=0, atol=1e-12)


def test_pair_noise_is_fixed_per_pair_and_standard_normal() -> None:
    profiles = np.repeat(np.arange(300), 300)
    services = np.tile(np.arange(1, 301), 300)
    noise = pair_noise(7, profiles, services)
    assert (noise == pair_noise(7, profiles, services)).all()
    assert not (noise == pair_noise(8, profiles, services)).all()
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 1) < 0.02
    # Neighbouring pairs are unrelated.
    assert abs(np.corrcoef(noise[:-1], noise[1:])[0, 1]) < 0.02


def test_examination_falls_with_position() -> None:
    model = _two_cluster_model()
    for placement in ("panel", "list"):
        examine = model.examine_probability(10, placement)
        assert (np.diff(examine) < 0).all() and 0 < examine[-1] < examine[0] <= 1


def test_a_panels_click_chance_is_what_many_showings_of_it_come_to() -> None:
    model = _two_cluster_model()
    chance = model.panel_click_chance(0, [10, 20])
    response = model.respond(0, [10, 20], np.random.default_rng(0))
    assert chance == pytest.approx(1 - np.prod(1 - response.click_probability))
    draws = [model.respond(0, [10, 20], rng).clicked.any() for rng in _streams(20_000)]
    assert np.mean(draws) == pytest.approx(chance, abs=0.015)
    # The liked service first is the better panel; nothing shown is never clicked.
    assert chance > model.panel_click_chance(0, [20, 10])
    assert model.panel_click_chance(0, []) == 0.0


def _streams(n: int) -> list[np.random.Generator]:
    return [np.random.default_rng(seed) for seed in range(n)]


def test_respond_is_reproducible_and_draws_two_numbers_per_item() -> None:
    model = _two_cluster_model()
    shown = [10, 20] * 50
    first = model.respond(0, shown, np.random.default_rng(3), placement="list")
    second = model.respond(0, shown, np.random.default_rng(3), placement="list")
    assert (first.clicked == second.clicked).all() and (first.ordered == second.ordered).all()
    rng = np.random.default_rng(3)
    model.respond(0, shown, rng)
    reference = np.random.default_rng(3)
    reference.random((2, len(shown)))
    assert rng.random() == reference.random()
    assert not (first.ordered & ~first.clicked).any()


def test_anonymous_visitors_and_owners_order_less() -> None:
    model = _two_cluster_model()
    shown = [10] * 2000
    free = model.respond(0, shown, np.random.default_rng(1))
    anonymous = model.respond(0, shown, np.random.default_rng(1), can_order=False)
    owner = model.respond(0, shown, np.random.default_rng(1), owned=[True] * 2000)
    assert not anonymous.ordered.any()
    assert owner.ordered.sum() < 0.25 * free.ordered.sum()


def test_orders_grow_with_true_affinity(market: SyntheticMarketplace) -> None:
    """Shown random services, visitors order the ones they like most far more often."""
    model = market.behaviour
    rng = np.random.default_rng(0)
    profiles = rng.integers(model.n_profiles, size=40_000)
    services = rng.choice(market.catalogue.ids, size=40_000)
    affinity = model.affinity(profiles, services)
    ordered = np.zeros(40_000, dtype=bool)
    for i in range(0, 40_000, 4):
        # Lists of four, as a panel or a page of results would show them.
        response = model.respond(int(profiles[i]), services[i : i + 4], rng, placement="list")
        ordered[i : i + 4] = response.ordered
    median, top = np.quantile(affinity, [0.5, 0.9])
    rates = [
        ordered[affinity < median].mean(),
        ordered[(affinity >= median) & (affinity < top)].mean(),
        ordered[affinity >= top].mean(),
    ]
    assert rates[0] < rates[1] < rates[2]
    # The top tenth orders about thirteen times as often as the bottom half at this seed.
    assert rates[2] > 8 * rates[0]


def test_journeys_that_order_are_for_services_people_like(market: SyntheticMarketplace) -> None:
    """In the generated stream, clicks that end in orders have higher true affinity."""
    model = market.behaviour
    orders: dict[tuple[str, int], bool] = {}
    clicks: list[tuple[int, int, str]] = []
    for action in market.user_actions:
        root = action["source"]["root"]
        service = int(root.get("service_id", root.get("resource_id")))
        if action["source"]["page_id"] == CATALOGUE:
            profile = model.profile_of(action.get("user_id"), action["unique_id"])
            if profile is not None and "user_id" in action:
                clicks.append((profile, service, action["source"]["visit_id"]))
        if action["action"]["order"]:
            orders[action["unique_id"], service] = True
    unique_of = {p: market.population.unique_ids[p] for p, _, _ in clicks}
    won = np.array([orders.get((unique_of[p], s), False) for p, s, _ in clicks])
    affinity = model.affinity([p for p, _, _ in clicks], [s for _, s, _ in clicks])
    assert won.sum() > 20
    assert affinity[won].mean() > affinity[~won].mean() + 1.0
