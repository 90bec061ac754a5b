"""The RL agent's service vectors: the fixed space its actor's queries and the critics'
actions live in, from a collaborative model of the same data and the services' features."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recommender.engines.base import TrainingOptions
from recommender.engines.features import FeatureSpace
from recommender.engines.ials import IALSEngine
from recommender.engines.rl.params import RLParams
from recommender.interactions import Interactions


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
