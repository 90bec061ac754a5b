"""The RL engine's hyper-parameters, and how many updates they give an experience."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from recommender.engines.base import EngineParams

# Updates a fit takes at least, however small the experience.
FEWEST_STEPS = 200


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
    stop_metric: Literal["NDCG", "HR"] = Field(
        default="NDCG", description="Validation metric at 10 that early stopping follows."
    )
    collaborative_factors: int = Field(
        default=128,
        ge=0,
        description="Length of the user and service vectors of the implicit-ALS model whose "
        "scores the agent's correct (0: no collaborative score, the agent alone).",
    )
    collaborative_regularization: float = Field(
        default=50.0, ge=0, description="L2 penalty of that implicit-ALS model."
    )
    collaborative_alpha: float = Field(
        default=5.0, gt=0, description="Confidence per unit of weight of that implicit-ALS model."
    )
    correction: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Share of the agent's scores against the collaborative ones, both scaled "
        "to unit spread (0: the implicit-ALS ranking, 1: the agent alone). None: the share "
        "that ranks the validation fold best, or an even blend without one.",
    )
    threads: int = Field(
        default=1,
        ge=0,
        description="PyTorch threads (0: PyTorch's default); batches are small, so one thread "
        "is usually fastest and never fights other work for cores.",
    )


def offline_updates(params: RLParams, transitions: int) -> int:
    """`steps`, or fewer when that many would pass over the experience too often."""
    passes = int(np.ceil(params.max_passes * transitions / params.batch_size))
    return min(params.steps, max(FEWEST_STEPS, passes))
