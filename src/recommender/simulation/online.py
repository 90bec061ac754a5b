"""Training the RL engine online in the simulator: it shows panels with some exploration,
sees what the simulated visitors do, and learns from that next to the logged experience.

The episodes it learns from come from an environment with a seed of its own, so that an
evaluation afterwards never replays the sessions the agent trained on (the visitors are the
same population, as live traffic would be).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recommender.arrays import IntArray
from recommender.engines.base import Model, TrainingOptions
from recommender.engines.rl import RLEngine
from recommender.engines.rl.experience import Experience, StateTable
from recommender.engines.rl.model import RLModel
from recommender.engines.rl.training import RLTraining
from recommender.evaluation.datasets import from_interactions
from recommender.evaluation.protocols import temporal_loo
from recommender.evaluation.runner import validation_on
from recommender.interactions import Interactions
from recommender.simulation.environment import MarketplaceEnv, Observation
from recommender.simulation.policies import EnginePolicy, query_of
from recommender.simulation.rollout import rollout
from recommender.transitions import Transitions


@dataclass(frozen=True)
class OnlineSchedule:
    """How online training goes: rounds of exploring episodes, each followed by updates and a
    check on practice episodes kept apart for it; a round that made the policy earn less on
    them is undone (its experience is kept)."""

    episodes: int = 2000
    episodes_per_round: int = 200
    updates_per_round: int = 100
    check_episodes: int = 300
    # Spread of the exploration noise added to the scores, in units of their own spread.
    exploration: float = 0.5


# Episode numbers of the practice environment that checks are played on, far from training's.
CHECKS_FROM = 10_000_000


def _state_row(model: RLModel, observation: Observation) -> tuple[IntArray, IntArray, IntArray]:
    """History, feature and candidate positions of an observation, as the policy reads it."""
    query = query_of(observation)
    candidates = model.item_index(observation.candidates)
    return model.engaged(query), model.declared(query), candidates[candidates >= 0]


def _explore(
    model: RLModel, observation: Observation, rng: np.random.Generator, spread: float
) -> list[int]:
    """The panel the current policy shows, with Gaussian noise on its scores."""
    candidates = observation.candidates
    if candidates.shape[0] == 0:
        return []
    scores = model.score(query_of(observation), candidates).astype(np.float64)
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    finite = scores[np.isfinite(scores)]
    scale = float(finite.std()) if finite.shape[0] > 1 else 1.0
    noisy = scores + spread * max(scale, 1e-6) * rng.standard_normal(scores.shape[0])
    top = np.argsort(-noisy, kind="stable")[: observation.panel_size]
    return [int(candidates[i]) for i in top]


def collect(
    model: RLModel,
    env: MarketplaceEnv,
    episodes: range,
    rng: np.random.Generator,
    spread: float,
    panel: int,
) -> Experience:
    """Play episodes with exploration and return what happened as experience."""
    histories: list[IntArray] = []
    features: list[IntArray] = []
    candidates: list[IntArray] = []
    state: list[int] = []
    next_state: list[int] = []
    actions: list[list[int]] = []
    rewards: list[list[float]] = []
    for episode in episodes:
        observation = env.reset(episode)
        while True:
            row = len(histories)
            engaged, declared, shown_from = _state_row(model, observation)
            histories.append(engaged)
            features.append(declared)
            candidates.append(shown_from)
            step = env.step(_explore(model, observation, rng, spread))
            positions = model.item_index(step.shown)
            state.append(row)
            actions.append(positions.tolist())
            rewards.append([float(r) for r in step.rewards])
            next_state.append(-1 if step.done else row + 1)
            observation = step.observation
            if step.done:
                break
    n_items = int(model.item_ids.shape[0])
    pad_feature = int(model.features.size)
    table = StateTable.of(
        histories, features, candidates, model.history_length, n_items, pad_feature
    )
    action_matrix = np.full((len(state), panel), n_items, dtype=np.int32)
    reward_matrix = np.zeros((len(state), panel), dtype=np.float32)
    for n, (shown, paid) in enumerate(zip(actions, rewards, strict=True)):
        keep = [k for k, p in enumerate(shown) if p >= 0][:panel]
        action_matrix[n, : len(keep)] = [shown[k] for k in keep]
        reward_matrix[n, : len(keep)] = [paid[k] for k in keep]
    return Experience(
        states=table,
        state=np.asarray(state, dtype=np.int64),
        actions=action_matrix,
        rewards=reward_matrix,
        next_state=np.asarray(next_state, dtype=np.int64),
        panel=np.ones(len(state), dtype=bool),
        pad_item=n_items,
        pad_feature=pad_feature,
        weights=np.ones(len(state), dtype=np.float32),
    )


def _offline_choices(
    data: Interactions, params: Mapping[str, Any] | None, seed: int, device: str
) -> dict[str, Any]:
    """The updates early stopping picks on each user's latest interaction held out, and the
    share of the agent's scores that ranks them best."""
    split = temporal_loo(from_interactions(data, "practice"), seed)
    options = TrainingOptions(
        seed=seed, device=device, validation=validation_on(split.test, seed=seed)
    )
    probe = RLEngine(params).fit(split.test.train, options)
    return {"steps": RLEngine(params).params.steps} | probe.fitted_params


def train_online(
    data: Interactions,
    env: MarketplaceEnv,
    *,
    params: Mapping[str, Any] | None = None,
    transitions: Transitions | None = None,
    fallback: Model | None = None,
    schedule: OnlineSchedule | None = None,
    seed: int = 0,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> RLModel:
    """Fit the RL engine offline (usage and logged panels, stopped early as `fit_engine`
    does), then online in `env`; `fallback` answers visitors the policy does not know."""
    schedule = schedule or OnlineSchedule()
    engine = RLEngine({**dict(params or {}), **_offline_choices(data, params, seed, device)})
    steps = engine.params.steps
    options = TrainingOptions(seed=seed, device=device, transitions=transitions)
    run = RLTraining(engine.params, data, options)
    run.train(steps)

    def earned() -> float:
        policy = EnginePolicy(run.model(), fallback)
        checked = rollout(env, policy, schedule.check_episodes, first=CHECKS_FROM)
        return float(checked.returns.mean())

    best, best_state = earned(), copy.deepcopy(run.actor.state_dict())
    rng = np.random.default_rng([seed, 7])
    panel = max(int(run.experience.actions.shape[1]), 3)
    played = 0
    while played < schedule.episodes:
        count = min(schedule.episodes_per_round, schedule.episodes - played)
        episodes = range(played, played + count)
        run.add(collect(run.model(), env, episodes, rng, schedule.exploration, panel))
        run.train(schedule.updates_per_round)
        played += count
        now = earned()
        if now > best:
            best, best_state = now, copy.deepcopy(run.actor.state_dict())
        else:
            run.actor.load_state_dict(best_state)
        if progress is not None:
            progress(played, schedule.episodes)
    return run.model()
