from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from recommender.engines.base import Artifact, Query, TrainingOptions
from recommender.engines.features import FeatureSpace
from recommender.engines.ials import IALSEngine
from recommender.engines.rl import RLEngine, RLModel
from recommender.engines.rl.blend import CORRECTIONS
from recommender.engines.rl.experience import combined, from_interactions, from_transitions
from recommender.engines.rl.network import Actor, Critic, State, direction
from recommender.engines.rl.td3 import (
    Batch,
    TD3Learner,
    TD3Settings,
    behaviour_loss,
    list_direction,
)
from recommender.engines.rl.training import Sampler
from recommender.evaluation.datasets import from_interactions as from_dataset
from recommender.evaluation.protocols import temporal_loo
from recommender.evaluation.runner import validation_on
from recommender.interactions import Interactions
from recommender.transitions import Context, States, Transitions
from tests.engines.contract import PersonalisedEngineContract

SMALL: dict[str, Any] = {
    "factors": 8,
    "hidden": 32,
    "steps": 400,
    "eval_every": 100,
    "batch_size": 64,
    "learning_rate": 0.01,
}


class TestRLContract(PersonalisedEngineContract):
    engine_name = "rl"
    params = SMALL


def sequences() -> Interactions:
    # Two users walk through services in order: 10 -> 11 -> 12 and 20 -> 21 -> 22.
    return Interactions.from_events(
        [1, 1, 1, 2, 2, 2], [10, 11, 12, 20, 21, 22], timestamps=[1, 2, 3, 1, 2, 3]
    )


def test_each_use_is_a_one_service_list_in_the_state_before_it() -> None:
    data = sequences()
    x = from_interactions(data, FeatureSpace.of({}, ()), history_length=4)
    pad = x.pad_item
    assert len(x) == 6 and x.actions[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    histories = x.states.histories[x.state]
    # Histories are padded with the padding position, never with a service's position.
    assert histories[0].tolist() == [pad, pad, pad, pad]
    assert histories[2].tolist() == [pad, pad, 0, 1]
    assert x.next_state.tolist() == [1, 2, -1, 4, 5, -1]
    assert x.done.tolist() == [False, False, True, False, False, True]
    assert np.all(x.rewards == 1.0)


def logged_panels(weights: tuple[float, float] = (1.0, 1.0)) -> Transitions:
    """Two logged panels: user 1's, after service 10, and an anonymous search's among
    candidates 20, 21 and one the model does not know."""
    state = States.of([1, None], [[10], []], [Context(), Context(candidates=(20, 21, 99))], 4)
    after = States.of([1, None], [[10, 11], []], [Context(), Context()], 4)
    return Transitions(
        impression_ids=np.array([5, 6]),
        requested_at=np.array([0.0, 1.0]),
        state=state,
        actions=np.array([[11, 12, 99], [20, 21, -1]]),
        rewards=np.array([[0.25, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=np.float32),
        next_impression_ids=np.array([7, -1]),
        next_state=after,
        done=np.array([False, True]),
        weights=np.asarray(weights, dtype=np.float32),
    )


def test_logged_panels_keep_positions_and_drop_unknown_services() -> None:
    data = sequences()
    logged = logged_panels()
    x = from_transitions(logged, data, FeatureSpace.of({}, ()), history_length=4)
    pad = x.pad_item
    assert x.actions.tolist() == [[1, 2, pad], [3, 4, pad]]
    # An unknown service earns nothing the agent could learn to show.
    assert x.rewards.tolist() == [[0.25, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert x.next_state.tolist() == [2, -1]
    table = x.states
    assert table.candidate_items[
        table.candidate_indptr[1] : table.candidate_indptr[2]
    ].tolist() == [
        3,
        4,
    ]
    assert table.histories[2].tolist()[-2:] == [0, 1]


def test_batches_draw_logged_panels_as_often_as_their_weights_say() -> None:
    data = sequences()
    x = from_transitions(logged_panels((1.5, 0.5)), data, FeatureSpace.of({}, ()), 4)
    assert x.weights.tolist() == [1.5, 0.5]
    sampler = Sampler(x, torch.randn(data.n_items + 1, 4), torch.device("cpu"))
    rng = np.random.default_rng(0)
    rewards = torch.cat([sampler.batch(rng, 2).rewards for _ in range(2000)])
    # Only the first panel earned a reward: it fills three draws in four.
    first = (rewards.sum(dim=1) > 0).float().mean().item()
    assert first == pytest.approx(0.75, abs=0.03)
    even = Sampler(combined([x, x]), torch.randn(data.n_items + 1, 4), torch.device("cpu"))
    assert len(even.batch(np.random.default_rng(0), 10).rewards) == 4, "never more than there is"


def test_a_logged_list_is_represented_by_its_direction_in_a_large_catalogue() -> None:
    # The original could not represent logged lists beyond ~50 services. A direction in a
    # 64-dimensional space of 10,000 random services ranks the served ones near the top.
    generator = torch.Generator().manual_seed(0)
    items = direction(torch.randn(10_000, 64, generator=generator))
    exact, worst = 0, 0
    for _ in range(50):
        served = torch.randperm(10_000, generator=generator)[:3]
        query = list_direction(items, served[None, :], pad=-1)[0]
        ranks = torch.argsort(items @ query, descending=True)
        places = [int((ranks == s).nonzero()) for s in served.tolist()]
        exact += max(places) < 3
        worst = max(worst, *places)
    assert exact >= 35
    assert worst < 200


def tiny_learner(policy_delay: int = 2, gamma: float = 0.9) -> TD3Learner:
    torch.manual_seed(0)
    items = torch.cat([direction(torch.randn(6, 4)), torch.zeros(1, 4)])
    actor = Actor(items, 2, 8, 1)
    critics = (Critic(items, 2, 8, 1), Critic(items, 2, 8, 1))
    settings = TD3Settings(
        gamma=gamma,
        tau=0.1,
        policy_noise=0.1,
        noise_clip=0.2,
        policy_delay=policy_delay,
        alpha=2.5,
        actor_learning_rate=0.01,
        critic_learning_rate=0.01,
    )
    return TD3Learner(actor, critics, settings)


def tiny_state(n: int) -> State:
    return State(
        history=torch.tensor([[6, 0]] * n),
        features=torch.tensor([[2]] * n),
        candidate_mean=torch.zeros(n, 4),
        limited=torch.zeros(n, dtype=torch.bool),
        allowed=None,
    )


def tiny_batch(done: float) -> Batch:
    return Batch(
        state=tiny_state(2),
        actions=torch.tensor([[1, 2], [3, 6]]),
        rewards=torch.tensor([[0.25, 1.0], [0.5, 0.0]]),
        next_state=tiny_state(2),
        done=torch.full((2,), done),
        panel=torch.tensor([False, False]),
    )


def test_a_terminal_transition_is_worth_its_reward_alone() -> None:
    learner = tiny_learner()
    generator = torch.Generator().manual_seed(0)
    ended = learner.target_value(tiny_batch(done=1.0), generator)
    assert torch.allclose(ended, torch.tensor([1.25, 0.5]))
    going_on = learner.target_value(tiny_batch(done=0.0), torch.Generator().manual_seed(0))
    bootstrapped = (going_on - torch.tensor([1.25, 0.5])) / 0.9
    # The rest is the discounted value of the target critics, the smaller of the two.
    assert not torch.allclose(going_on, ended)
    assert torch.isfinite(bootstrapped).all()


def test_targets_follow_by_polyak_averaging_and_the_actor_waits_its_turn() -> None:
    learner = tiny_learner(policy_delay=2)
    before_actor = [p.detach().clone() for p in learner.actor.parameters()]
    before_target = [p.detach().clone() for p in learner.critic_targets[0].parameters()]
    generator = torch.Generator().manual_seed(0)
    learner.update(tiny_batch(done=0.0), generator)
    # One critic step: the actor and the targets have not moved yet.
    for old, new in zip(before_actor, learner.actor.parameters(), strict=True):
        assert torch.equal(old, new)
    for old, new in zip(before_target, learner.critic_targets[0].parameters(), strict=True):
        assert torch.equal(old, new)
    learner.update(tiny_batch(done=0.0), generator)
    moved = any(
        not torch.equal(old, new)
        for old, new in zip(before_actor, learner.actor.parameters(), strict=True)
    )
    assert moved
    for old, target, online in zip(
        before_target,
        learner.critic_targets[0].parameters(),
        learner.critics[0].parameters(),
        strict=True,
    ):
        assert torch.allclose(target, 0.9 * old + 0.1 * online.detach(), atol=1e-6)


def test_a_panel_is_judged_among_what_it_showed() -> None:
    batch = tiny_batch(done=0.0)
    panel = Batch(
        state=batch.state,
        actions=batch.actions,
        rewards=batch.rewards,
        next_state=batch.next_state,
        done=batch.done,
        panel=torch.tensor([True, True]),
    )
    logits = torch.zeros(2, 7)
    # Services never shown cannot make a clicked one less likely.
    logits[:, 4] = 50.0
    shown_only = behaviour_loss(logits, panel, pad=6)
    expected = -(0.25 * np.log(0.5) + 1.0 * np.log(0.5) + 0.5 * np.log(1.0)) / 1.75
    assert abs(float(shown_only) - expected) < 1e-5


def test_behaviour_cloning_counts_only_what_earned_a_reward() -> None:
    batch = tiny_batch(done=0.0)
    logits = torch.zeros(2, 7)
    logits[0, 1] = 5.0
    loss = behaviour_loss(logits, batch, pad=6)
    # Rewards 0.25 on service 1 and 1.0 on 2 (row one), 0.5 on 3 (row two).
    log_p = torch.log_softmax(torch.cat([logits[:, :6], torch.full((2, 1), -1e9)], 1), 1)
    expected = -(0.25 * log_p[0, 1] + 1.0 * log_p[0, 2] + 0.5 * log_p[1, 3]) / 1.75
    assert torch.allclose(loss, expected, atol=1e-5)


def two_walks() -> Interactions:
    """Odd users walk through services 10-14, even ones through 20-24, four steps each."""
    rng = np.random.default_rng(0)
    users, items, times = [], [], []
    for user in range(40):
        block = 10 if user % 2 else 20
        for t, item in enumerate(rng.permutation(5)[:4]):
            users.append(user)
            items.append(block + int(item))
            times.append(t)
    return Interactions.from_events(users, items, timestamps=times)


@pytest.fixture(scope="module")
def walked() -> RLModel:
    return RLEngine(SMALL).fit(two_walks(), TrainingOptions(seed=0))


def test_a_visitor_known_by_history_gets_services_of_the_same_kind(walked: RLModel) -> None:
    visitor = Query(history=np.array([20, 21], dtype=np.int64))
    assert walked.knows(visitor)
    items = np.array([10, 11, 12, 13, 14, 22, 23, 24])
    scores = walked.score(visitor, items)
    assert scores[5:].min() > scores[:5].max()


def test_an_unknown_visitor_is_left_to_popularity(walked: RLModel) -> None:
    assert not walked.knows(Query())
    assert not walked.knows(Query(user_id=123_456))


def test_explanations_name_a_service_the_visitor_used(walked: RLModel) -> None:
    class Names:
        def service(self, service_id: int) -> str | None:
            return f"service {service_id}"

        def scientific_domain(self, domain_id: int) -> str | None:
            return None

        def category(self, category_id: int) -> str | None:
            return None

    visitor = Query(history=np.array([20], dtype=np.int64))
    [explanation] = walked.explain(visitor, np.array([21]), Names())
    assert explanation.short == "Users of service 20 went on to use this"
    assert "ordered service 20" in explanation.long


def test_training_records_its_curves(walked: RLModel) -> None:
    curves = walked.curves
    assert len(curves["critic"]) == 4 and len(curves["imitation"]) == 4
    assert curves["imitation"][-1] < curves["imitation"][0]


@pytest.mark.parametrize("metric", ["NDCG", "HR"])
def test_early_stopping_keeps_the_best_check_of_its_stop_metric(metric: str) -> None:
    validation = temporal_loo(from_dataset(two_walks(), "walks"), seed=0).validation
    model = RLEngine({**SMALL, "stop_metric": metric, "patience": 2}).fit(
        validation.train, TrainingOptions(seed=0, validation=validation_on(validation))
    )
    checks = model.curves[f"val_{metric}@10"]
    assert len(checks) == len(model.curves["critic"]) >= 2
    # 160 transitions: 200 updates (the fewest), checked every 50.
    assert model.fitted_params["steps"] == 50 * (int(np.argmax(checks)) + 1)


def test_with_no_share_of_its_own_the_agent_ranks_as_implicit_als() -> None:
    # Where the order of uses says nothing, the agent must not fall below the collaborative
    # model it corrects: its share 0 is that model's ranking, score for score.
    data = two_walks()
    agent = RLEngine({**SMALL, "correction": 0.0, "collaborative_factors": 8}).fit(
        data, TrainingOptions(seed=0)
    )
    als = IALSEngine({"factors": 8, "threads": 1}).fit(data, TrainingOptions(seed=0))
    items = data.item_ids
    for query in (Query(user_id=3, history=data.history(3)), Query(history=np.array([20, 21]))):
        assert np.allclose(agent.score(query, items), als.score(query, items))


def test_validation_chooses_the_share_and_the_refit_keeps_it() -> None:
    validation = temporal_loo(from_dataset(two_walks(), "walks"), seed=0).validation
    probe = RLEngine(SMALL).fit(
        validation.train, TrainingOptions(seed=0, validation=validation_on(validation))
    )
    chosen = probe.fitted_params["correction"]
    by_share = probe.curves["val_NDCG@10_by_correction"]
    assert len(by_share) == len(CORRECTIONS)
    assert by_share[CORRECTIONS.index(chosen)] == max(by_share)
    # Never below the collaborative ranking (share 0) on the fold it was chosen on.
    assert max(by_share) >= by_share[0]
    again = RLEngine({**SMALL, **probe.fitted_params}).fit(validation.train)
    assert again.correction == chosen


def test_an_agent_saved_before_the_collaborative_model_still_serves(walked: RLModel) -> None:
    artifact = walked.to_artifact()
    older = Artifact(
        arrays={k: v for k, v in artifact.arrays.items() if not k.startswith("collaborative.")},
        meta={k: v for k, v in artifact.meta.items() if k not in ("collaborative", "correction")},
    )
    loaded = RLModel.from_artifact(older)
    visitor = Query(history=np.array([20, 21], dtype=np.int64))
    items = np.array([10, 11, 12, 13, 14, 22, 23, 24])
    assert np.allclose(loaded.score(visitor, items), walked.agent_scores([visitor], items)[0])
