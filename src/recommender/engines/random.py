"""Random: a uniformly shuffled list, the floor every other engine must beat."""

from __future__ import annotations

import itertools
from typing import Self

import numpy as np
from pydantic import Field

from recommender.arrays import FloatArray, IntArray
from recommender.engines.base import (
    Artifact,
    Engine,
    EngineParams,
    Explanation,
    Model,
    Names,
    Query,
    TrainingOptions,
)
from recommender.engines.lookup import IdIndex
from recommender.interactions import Interactions


class RandomParams(EngineParams):
    seed: int | None = Field(
        default=None,
        description="Seed of the sequence of shuffles (None: the training seed, or fresh "
        "entropy when fitted without options). Every request gets a shuffle of its own "
        "either way; with a seed, the n-th request's is the same from run to run.",
    )


class RandomModel(Model):
    engine = "random"

    def __init__(self, item_ids: IntArray, seed: int | None) -> None:
        self.item_ids = item_ids
        self.seed = seed
        self._index = IdIndex(item_ids)
        # Requests are numbered, so that each is shuffled anew; `next` on a count is atomic.
        self._requests = itertools.count()

    def knows(self, query: Query) -> bool:
        return True

    def score(self, query: Query, items: IntArray) -> FloatArray:
        # A generator per call: numpy generators are not thread-safe, and serving is threaded.
        request = next(self._requests)
        rng = np.random.default_rng(None if self.seed is None else [self.seed, request])
        wanted = np.asarray(items, dtype=np.int64)
        scores = rng.random(size=(wanted.shape[0],), dtype=np.float32)
        scores[self._index(wanted) < 0] = np.nan
        return scores

    def explain(self, query: Query, items: IntArray, names: Names) -> list[Explanation]:
        return [
            Explanation(short="Discover", long="A service picked at random for you to discover.")
            for _ in range(np.asarray(items).shape[0])
        ]

    def to_artifact(self) -> Artifact:
        return Artifact(arrays={"item_ids": self.item_ids}, meta={"seed": self.seed})

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        seed = artifact.meta.get("seed")
        return cls(item_ids=artifact.arrays["item_ids"], seed=None if seed is None else int(seed))


class RandomEngine(Engine[RandomParams]):
    name = "random"
    params_type = RandomParams
    model_type = RandomModel
    trainable = False

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> RandomModel:
        seed = self.params.seed
        if seed is None and options is not None:
            seed = options.seed
        return RandomModel(item_ids=data.item_ids.copy(), seed=seed)


ENGINE = RandomEngine
