"""Training the RL engine: TD3+BC updates on the experience (chronological usage, logged
panels, and whatever a caller adds, such as episodes played online), stopped early on the
validation fold, then blended with the collaborative model it corrects in the share that
ranks that fold best."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from recommender.engines.base import TrainingOptions, Validation
from recommender.engines.early_stopping import EarlyStopping
from recommender.engines.features import FeatureSpace
from recommender.engines.hardware import training_device
from recommender.engines.ials import IALSModel
from recommender.engines.lookup import user_share
from recommender.engines.rl.blend import (
    EVEN,
    best_correction,
    collaborative_model,
    sample_queries,
    spread,
)
from recommender.engines.rl.experience import (
    Experience,
    combined,
    from_interactions,
    from_transitions,
)
from recommender.engines.rl.model import RLModel
from recommender.engines.rl.network import Actor, Critic, State
from recommender.engines.rl.params import RLParams, offline_updates
from recommender.engines.rl.td3 import Batch, TD3Learner, TD3Settings
from recommender.engines.rl.vectors import service_vectors
from recommender.interactions import Interactions

ActorState = dict[str, Any]
# Validation metrics recorded as curves whatever `stop_metric` follows.
_RECORDED = ("HR", "NDCG")


class Sampler:
    """Random batches of an experience as tensors."""

    def __init__(self, experience: Experience, items: Tensor, device: torch.device) -> None:
        self.x = experience
        self.items = items
        self.device = device
        weights = np.asarray(experience.weights, dtype=np.float64)
        # Equal weights draw uniformly, as they always did: the same seed, the same batches.
        even = weights.shape[0] == 0 or np.ptp(weights) <= 1e-6 * weights.max()
        self._cumulative = None if even else np.cumsum(weights)

    def states(self, rows: NDArray[np.int64]) -> State:
        """The state rows (-1 gives an empty state, for terminal next states)."""
        t, device = self.x.states, self.device
        safe = np.maximum(rows, 0)
        starts, ends = t.candidate_indptr[safe], t.candidate_indptr[safe + 1]
        counts = np.where(rows >= 0, ends - starts, 0)
        flat = np.concatenate(
            [t.candidate_items[a:b] for a, b, c in zip(starts, ends, counts, strict=True) if c]
            or [np.empty(0, dtype=np.int32)]
        ).astype(np.int64)
        dim = int(self.items.shape[1])
        mean = torch.zeros((rows.shape[0], dim), device=device)
        allowed = None
        if flat.shape[0]:
            limited_rows = np.flatnonzero(counts > 0)
            offsets = np.concatenate([[0], np.cumsum(counts[limited_rows])[:-1]]).astype(np.int64)
            mean[torch.from_numpy(limited_rows).to(device)] = torch.nn.functional.embedding_bag(
                torch.from_numpy(flat).to(device),
                self.items,
                torch.from_numpy(offsets).to(device),
                mode="mean",
            )
            mask = np.ones((rows.shape[0], self.items.shape[0]), dtype=bool)
            mask[limited_rows] = False
            mask[np.repeat(np.arange(rows.shape[0]), counts), flat] = True
            allowed = torch.from_numpy(mask).to(device)
        return State(
            history=torch.from_numpy(t.histories[safe].astype(np.int64)).to(device),
            features=torch.from_numpy(t.features[safe].astype(np.int64)).to(device),
            candidate_mean=mean,
            limited=torch.from_numpy(counts > 0).to(device),
            allowed=allowed,
        )

    def batch(self, rng: np.random.Generator, size: int) -> Batch:
        x = self.x
        size = min(size, len(x))
        if self._cumulative is None:
            chosen = rng.integers(0, len(x), size=size)
        else:
            total = self._cumulative[-1]
            chosen = np.searchsorted(self._cumulative, rng.random(size) * total, side="right")
            chosen = np.minimum(chosen, len(x) - 1)
        next_rows = x.next_state[chosen]
        return Batch(
            state=self.states(x.state[chosen]),
            actions=torch.from_numpy(x.actions[chosen].astype(np.int64)).to(self.device),
            rewards=torch.from_numpy(x.rewards[chosen]).to(self.device),
            next_state=self.states(next_rows),
            done=torch.from_numpy((next_rows < 0).astype(np.float32)).to(self.device),
            panel=torch.from_numpy(x.panel[chosen]).to(self.device),
        )


def export(
    actor: Actor,
    data: Interactions,
    space: FeatureSpace,
    meta: dict[str, Any],
    collaborative: IALSModel | None = None,
) -> RLModel:
    def array(tensor: Tensor) -> NDArray[np.float32]:
        return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)

    encoder = actor.encoder
    linear = [m for m in encoder.mlp if isinstance(m, torch.nn.Linear)]
    items = encoder.vectors
    arrays: dict[str, NDArray[Any]] = {
        "item_ids": data.item_ids.copy(),
        "items": array(items)[: data.n_items],
        "bias": array(actor.bias)[: data.n_items],
        "log_scale": array(actor.log_scale).reshape(1),
        "feature": array(encoder.feature.weight)[: space.size],
        "catalogue": array(encoder.catalogue),
        "head.weight": array(actor.head.weight),
        "head.bias": array(actor.head.bias),
        "popularity": user_share(data.matrix),
    }
    for k, layer in enumerate(linear):
        arrays[f"encoder.{k}.weight"] = array(layer.weight)
        arrays[f"encoder.{k}.bias"] = array(layer.bias)
    meta = {**meta, "encoder_layers": len(linear), "correction": 1.0}
    return RLModel(arrays, space, meta, collaborative)


def networks(
    p: RLParams, data: Interactions, space: FeatureSpace, seed: int, device: torch.device
) -> tuple[Actor, tuple[Critic, Critic]]:
    """A fresh actor and twin critics over the data's service vectors."""
    torch.manual_seed(seed)
    items = torch.from_numpy(service_vectors(data, p, seed)).to(device)
    actor = Actor(items, space.size, p.hidden, p.layers).to(device)
    critics = (
        Critic(items, space.size, p.hidden, p.layers).to(device),
        Critic(items, space.size, p.hidden, p.layers).to(device),
    )
    return actor, critics


def learner(p: RLParams, actor: Actor, critics: tuple[Critic, Critic]) -> TD3Learner:
    return TD3Learner(
        actor,
        critics,
        TD3Settings(
            gamma=p.gamma,
            tau=p.tau,
            policy_noise=p.policy_noise,
            noise_clip=p.noise_clip,
            policy_delay=p.policy_delay,
            alpha=p.alpha,
            actor_learning_rate=p.learning_rate,
            critic_learning_rate=p.learning_rate,
        ),
    )


class _LossMeans:
    """The critic's and the imitation term's mean losses since the last check."""

    def __init__(self) -> None:
        self.critic, self.imitation, self.updates, self.actor_updates = 0.0, 0.0, 0, 0

    def add(self, losses: dict[str, float]) -> None:
        self.updates += 1
        self.critic += losses["critic"]
        # The actor (and its imitation term) steps once every `policy_delay` updates.
        if "imitation" in losses:
            self.imitation += losses["imitation"]
            self.actor_updates += 1

    def means(self) -> tuple[float, float]:
        return self.critic / self.updates, self.imitation / max(self.actor_updates, 1)


class RLTraining:
    """One training run: networks, learner and experience, trained in as many pieces as the
    caller wants (offline first, then online in a simulator, say)."""

    def __init__(self, params: RLParams, data: Interactions, options: TrainingOptions) -> None:
        p = self.params = params
        self.data, self.options = data, options
        self.device = training_device(options.device)
        self.rng = np.random.default_rng(options.seed)
        self.generator = torch.Generator(device=self.device).manual_seed(options.seed)
        self.space = FeatureSpace.of(
            data.feature_vocab, set(data.user_features) | set(data.item_features)
        )
        parts = [from_interactions(data, self.space, p.history_length)]
        if options.transitions is not None:
            parts.append(from_transitions(options.transitions, data, self.space, p.history_length))
        self.offline = combined(parts)
        self.collaborative = collaborative_model(data, p, options.seed)
        self.correction = p.correction
        self._spread_queries = sample_queries(data, options.seed)
        self._collaborative_spread: float | None = None
        self.actor, critics = networks(p, data, self.space, options.seed, self.device)
        self.learner = learner(p, self.actor, critics)
        self.sampler = Sampler(self.offline, self.actor.encoder.vectors, self.device)
        self.steps_done = 0
        self.curves: dict[str, list[float]] = {"critic": [], "imitation": []}
        self.fitted: dict[str, Any] = {}

    @property
    def experience(self) -> Experience:
        return self.sampler.x

    def offline_steps(self) -> int:
        return offline_updates(self.params, len(self.experience))

    def add(self, experience: Experience) -> None:
        """Learn from more transitions (in this run's positions) besides those it has."""
        self.sampler = Sampler(
            combined([self.sampler.x, experience]), self.actor.encoder.vectors, self.device
        )

    def _check(
        self, step: int, losses: _LossMeans, validation: Validation | None
    ) -> tuple[str, Mapping[str, float] | None]:
        """Record the losses since the last check and, with validation, the figures of the
        actor as it is; returns the progress message and those figures."""
        critic, imitation = losses.means()
        self.curves["critic"].append(critic)
        self.curves["imitation"].append(imitation)
        message = f"step {step}: critic loss {critic:.4f}"
        if validation is None:
            return message, None
        # Early stopping follows the agent alone: the blend is chosen once it is trained.
        figures = validation.evaluate(self.model(correction=1.0))
        for name in _RECORDED:
            self.curves[f"val_{validation.label(name)}"].append(figures[name])
        message += ", validation " + " ".join(
            f"{validation.label(name)} {figures[name]:.4f}" for name in _RECORDED
        )
        return message, figures

    def train(self, steps: int, validation: Validation | None = None) -> None:
        """Take up to `steps` updates; with validation, keep the best actor seen."""
        p = self.params
        # Several checks even in a short run, so that early stopping has something to pick.
        every = max(1, min(p.eval_every, steps // 4))
        if validation is not None:
            self.curves |= {f"val_{validation.label(name)}": [] for name in _RECORDED}
        stopping: EarlyStopping[ActorState] = EarlyStopping(p.stop_metric, p.patience)
        losses = _LossMeans()
        for step in range(1, (steps if len(self.experience) else 0) + 1):
            losses.add(
                self.learner.update(self.sampler.batch(self.rng, p.batch_size), self.generator)
            )
            self.steps_done += 1
            if step % every and step != steps:
                continue
            message, figures = self._check(step, losses, validation)
            losses = _LossMeans()
            stop = figures is not None and stopping.check(
                step, figures, lambda: copy.deepcopy(self.actor.state_dict())
            )
            self.options.progress(step / steps, message)
            if stop:
                break
        if stopping.best_state is not None:
            self.actor.load_state_dict(stopping.best_state)
            self.fitted = {"steps": stopping.best_at}
        if validation is not None:
            self._choose_correction(validation)

    def _choose_correction(self, validation: Validation) -> None:
        """The share of the agent that ranks the validation fold best, unless it is fixed."""
        if self.collaborative is None or self.params.correction is not None:
            return
        agent = self.model(correction=1.0)
        spreads = self._spreads(agent)
        best, figures = best_correction(
            lambda c: agent.with_correction(c, spreads),
            validation.evaluate,
            self.params.stop_metric,
        )
        self.correction = best
        self.fitted = {**self.fitted, "correction": best}
        label = validation.label(self.params.stop_metric)
        self.curves[f"val_{label}_by_correction"] = [figures[c] for c in sorted(figures)]

    def _spreads(self, agent: RLModel) -> tuple[float, float]:
        """How far the collaborative model's and the agent's scores spread for one query."""
        assert self.collaborative is not None
        items = self.data.item_ids
        if self._collaborative_spread is None:
            self._collaborative_spread = spread(
                self.collaborative.score_batch(self._spread_queries, items)
            )
        return self._collaborative_spread, spread(agent.agent_scores(self._spread_queries, items))

    def model(self, correction: float | None = None) -> RLModel:
        """The policy as it is, blended with the collaborative model in share `correction`
        (by default the chosen one, or an even blend before any is chosen)."""
        meta: dict[str, Any] = {
            "history_length": self.params.history_length,
            "transitions": len(self.experience),
            "curves": self.curves,
            "fitted": self.fitted,
        }
        agent = export(self.actor, self.data, self.space, meta, self.collaborative)
        if self.collaborative is None:
            return agent
        share = correction if correction is not None else self.correction
        share = EVEN if share is None else share
        spreads = (1.0, 1.0) if share >= 1.0 else self._spreads(agent)
        return agent.with_correction(share, spreads)


def fit(params: RLParams, data: Interactions, options: TrainingOptions) -> RLModel:
    """An RL model of `data` (and `options.transitions`), stopped early on
    `options.validation` when given."""
    run = RLTraining(params, data, options)
    run.train(run.offline_steps(), options.validation)
    return run.model()
