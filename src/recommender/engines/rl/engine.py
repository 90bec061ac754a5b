"""Fitting the RL engine: service vectors from a collaborative model, then TD3+BC updates on
the experience (chronological usage, logged panels), stopped early on the validation fold."""

from __future__ import annotations

import copy
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from pydantic import Field
from torch import Tensor

from recommender.engines.base import Engine, EngineParams, TrainingOptions, training_device
from recommender.engines.features import FeatureSpace
from recommender.engines.lookup import user_share
from recommender.engines.rl.experience import (
    Experience,
    combined,
    from_interactions,
    from_transitions,
)
from recommender.engines.rl.model import RLModel
from recommender.engines.rl.network import Actor, Critic, State
from recommender.engines.rl.td3 import Batch, TD3Learner, TD3Settings
from recommender.evaluation.protocols import Fold
from recommender.interactions import Interactions

_FEWEST_STEPS = 200


class RLParams(EngineParams):
    """Defaults follow TD3+BC (Fujimoto and Gu, 2021) where they apply and were checked on
    MovieLens 1M validation folds and on the simulator."""

    factors: int = Field(default=64, ge=2, description="Length of the service vectors.")
    service_vectors: Literal["ials+features", "ials", "random"] = Field(
        default="ials+features",
        description="Where the service vectors come from: implicit-ALS factors of the same "
        "data, joined with a projection of the services' features where they have any; ALS "
        "alone; or random directions.",
    )
    hidden: int = Field(default=128, ge=1, description="Width of the state encoder's layers.")
    layers: int = Field(default=2, ge=1, description="Layers of the state encoder.")
    history_length: int = Field(default=20, ge=1, description="Recent services a state reads.")
    gamma: float = Field(default=0.9, ge=0, lt=1, description="Discount of later rewards.")
    tau: float = Field(default=0.005, gt=0, le=1, description="Polyak step of the targets.")
    policy_noise: float = Field(default=0.1, ge=0, description="Target smoothing noise.")
    noise_clip: float = Field(default=0.3, ge=0, description="Clip of the smoothing noise.")
    policy_delay: int = Field(default=2, ge=1, description="Critic steps per actor step.")
    alpha: float = Field(
        default=0.25,
        ge=0,
        description="Weight of Q against behaviour cloning (TD3+BC's alpha; its 2.5 was for "
        "a squared-error cloning term, ours is a cross-entropy of a few units).",
    )
    learning_rate: float = Field(
        default=3e-4,
        gt=0,
        description="Adam's step size (3e-4 earned the most of 1e-4, 3e-4 and 1e-3 on simulated "
        "marketplaces kept apart from the reported ones).",
    )
    batch_size: int = Field(default=256, ge=1, description="Transitions per update.")
    steps: int = Field(
        default=6000, ge=1, description="Critic updates (the most, with validation)."
    )
    max_passes: float = Field(
        default=40.0,
        gt=0,
        description="At most this many passes over the experience (at least 200 updates): "
        "a small marketplace needs far fewer updates than `steps`.",
    )
    eval_every: int = Field(default=500, ge=1, description="Updates between validation checks.")
    patience: int = Field(default=3, ge=1, description="Checks without progress before stopping.")
    threads: int = Field(
        default=1,
        ge=0,
        description="PyTorch threads (0: PyTorch's default); batches are small, so one thread "
        "is usually fastest and never fights other work for cores.",
    )


def _unit(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
    return np.asarray(vectors / norms, dtype=np.float32)


def service_vectors(data: Interactions, params: RLParams, seed: int) -> NDArray[np.float32]:
    """Unit vectors per service (and a zero padding row after them).

    Collaborative part: implicit-ALS item factors (random for services nobody used). Content
    part, where services have features: their multi-hot features through a fixed random
    projection, which keeps services that share features close (Johnson-Lindenstrauss), so a
    query can reach services by what they are about as well as by who used them.
    """
    rng = np.random.default_rng(seed)
    space = FeatureSpace.of(data.feature_vocab, set(data.item_features))
    with_features = params.service_vectors == "ials+features" and space.size > 0
    collaborative = params.factors // 2 if with_features else params.factors
    vectors = rng.standard_normal((data.n_items, collaborative)).astype(np.float32)
    if params.service_vectors != "random" and data.nnz:
        from recommender.engines.ials import IALSEngine

        als = IALSEngine({"factors": collaborative}).fit(data, TrainingOptions(seed=seed))
        learned = np.asarray(als.item_factors, dtype=np.float32)
        used = np.asarray((data.matrix > 0).sum(axis=0)).ravel() > 0
        vectors[used] = learned[used]
    parts = [_unit(vectors)]
    if with_features:
        rows = space.rows(data.item_features, data.n_items)
        projection = rng.standard_normal((space.size, params.factors - collaborative))
        content = np.asarray(rows @ projection.astype(np.float32), dtype=np.float32)
        parts.append(_unit(content))
    joined = _unit(np.hstack(parts))
    return np.vstack([joined, np.zeros((1, params.factors), dtype=np.float32)])


class Sampler:
    """Random batches of an experience as tensors."""

    def __init__(self, experience: Experience, items: Tensor, device: torch.device) -> None:
        self.x = experience
        self.items = items
        self.device = device

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
        chosen = rng.integers(0, len(x), size=min(size, len(x)))
        next_rows = x.next_state[chosen]
        return Batch(
            state=self.states(x.state[chosen]),
            actions=torch.from_numpy(x.actions[chosen].astype(np.int64)).to(self.device),
            rewards=torch.from_numpy(x.rewards[chosen]).to(self.device),
            next_state=self.states(next_rows),
            done=torch.from_numpy((next_rows < 0).astype(np.float32)).to(self.device),
            panel=torch.from_numpy(x.panel[chosen]).to(self.device),
        )


def export(actor: Actor, data: Interactions, space: FeatureSpace, meta: dict[str, Any]) -> RLModel:
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
    return RLModel(arrays, space, {**meta, "encoder_layers": len(linear)})


def offline_updates(params: RLParams, transitions: int) -> int:
    """`steps`, or fewer when that many would pass over the experience too often."""
    passes = int(np.ceil(params.max_passes * transitions / params.batch_size))
    return min(params.steps, max(_FEWEST_STEPS, passes))


class RLEngine(Engine[RLParams]):
    name = "rl"
    params_type = RLParams
    model_type = RLModel
    uses_validation = True
    learns_from_panels = True

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> RLModel:
        options = options or TrainingOptions()
        previous = torch.get_num_threads()
        if self.params.threads:
            torch.set_num_threads(self.params.threads)
        try:
            return self._fit(data, options)
        finally:
            torch.set_num_threads(previous)

    def networks(
        self, data: Interactions, space: FeatureSpace, seed: int, device: torch.device
    ) -> tuple[Actor, tuple[Critic, Critic]]:
        p = self.params
        torch.manual_seed(seed)
        items = torch.from_numpy(service_vectors(data, p, seed)).to(device)
        actor = Actor(items, space.size, p.hidden, p.layers).to(device)
        critics = (
            Critic(items, space.size, p.hidden, p.layers).to(device),
            Critic(items, space.size, p.hidden, p.layers).to(device),
        )
        return actor, critics

    def learner(self, actor: Actor, critics: tuple[Critic, Critic]) -> TD3Learner:
        p = self.params
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

    def _fit(self, data: Interactions, options: TrainingOptions) -> RLModel:
        run = RLTraining(self, data, options)
        run.train(run.offline_steps(), options.validation)
        return run.model()


class RLTraining:
    """One training run: networks, learner and experience, trained in as many pieces as the
    caller wants (offline first, then online in a simulator, say)."""

    def __init__(self, engine: RLEngine, data: Interactions, options: TrainingOptions) -> None:
        p = self.params = engine.params
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
        self.actor, critics = engine.networks(data, self.space, options.seed, self.device)
        self.learner = engine.learner(self.actor, critics)
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

    def train(self, steps: int, validation: Fold | None = None) -> None:
        """Take up to `steps` updates; with a validation fold, keep the best actor seen."""
        from recommender.evaluation.runner import evaluate_model

        p = self.params
        # Several checks even in a short run, so that early stopping has something to pick.
        every = max(1, min(p.eval_every, steps // 4))
        if validation is not None:
            self.curves |= {"val_HR@10": [], "val_NDCG@10": []}
        best_score, best_step, best_state, checks_since = -np.inf, 0, None, 0
        critic_sum, imitation_sum, counted, since = 0.0, 0.0, 0, 0
        for step in range(1, (steps if len(self.experience) else 0) + 1):
            losses = self.learner.update(self.sampler.batch(self.rng, p.batch_size), self.generator)
            self.steps_done += 1
            since += 1
            critic_sum += losses["critic"]
            if "imitation" in losses:
                imitation_sum += losses["imitation"]
                counted += 1
            if step % every and step != steps:
                continue
            self.curves["critic"].append(critic_sum / since)
            self.curves["imitation"].append(imitation_sum / max(counted, 1))
            critic_sum, imitation_sum, counted, since = 0.0, 0.0, 0, 0
            message = f"step {step}: critic loss {self.curves['critic'][-1]:.4f}"
            if validation is not None:
                result = evaluate_model(self.model(), validation, 10, ("HR", "NDCG")).metrics
                self.curves["val_HR@10"].append(result["HR@10"])
                self.curves["val_NDCG@10"].append(result["NDCG@10"])
                message += (
                    f", validation HR@10 {result['HR@10']:.4f} NDCG@10 {result['NDCG@10']:.4f}"
                )
                checks_since += 1
                if result["NDCG@10"] > best_score:
                    best_score, best_step, checks_since = result["NDCG@10"], step, 0
                    best_state = copy.deepcopy(self.actor.state_dict())
            self.options.progress(step / steps, message)
            if checks_since >= p.patience:
                break
        if best_state is not None:
            self.actor.load_state_dict(best_state)
            self.fitted = {"steps": best_step}

    def model(self) -> RLModel:
        meta: dict[str, Any] = {
            "history_length": self.params.history_length,
            "transitions": len(self.experience),
            "curves": self.curves,
            "fitted": self.fitted,
        }
        return export(self.actor, self.data, self.space, meta)
