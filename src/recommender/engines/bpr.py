"""BPR (Rendle et al., 2009): matrix factorisation trained with PyTorch to rank each used item
above a randomly drawn one, on sampled (user, used item, other item) triples.

PyTorch is imported by fitting only: a BPR model serves from numpy arrays.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from recommender.arrays import FloatArray, IntArray
from recommender.engines.base import Engine, EngineParams, TrainingOptions
from recommender.engines.factors import FactorModel
from recommender.engines.hardware import limited_threads
from recommender.engines.limits import EngineLimits
from recommender.engines.lookup import user_share
from recommender.interactions import Interactions


class BPRParams(EngineParams):
    """Defaults are the best found by `recommender tune` on MovieLens 1M validation folds
    (see `benchmarks/params/`); retune for catalogues of a different shape."""

    factors: int = Field(default=64, ge=1, description="Length of user and item vectors.")
    epochs: int = Field(default=30, ge=1, description="Passes over the training pairs.")
    learning_rate: float = Field(default=0.002, gt=0, description="Adam's step size.")
    l2: float = Field(
        default=1e-5, ge=0, description="L2 penalty on the vectors and biases in each batch."
    )
    batch_size: int = Field(default=4096, ge=1, description="Triples per gradient step.")
    init_std: float = Field(default=0.01, gt=0, description="Spread of the initial vectors.")
    threads: int = Field(
        default=1,
        ge=1,
        description="PyTorch threads while training; batches are small, so one thread is "
        "usually fastest and never fights other work for cores.",
    )


class BPRModel(FactorModel):
    engine: ClassVar[str] = "bpr"

    def fold_in(self, history: IntArray) -> FloatArray:
        # BPR has no closed-form user step; the centroid of the used items' vectors points
        # the same way as the items the user liked, which is what ranking needs.
        return np.asarray(self.item_factors[history].mean(axis=0), dtype=np.float32)


class BPREngine(Engine[BPRParams]):
    name = "bpr"
    params_type = BPRParams
    model_type = BPRModel

    def declared_limits(self) -> EngineLimits:
        # One float32 vector per user and per item, with its gradient and Adam's two moments.
        vector = 4 * 4 * self.params.factors
        return EngineLimits(bytes_per_user=vector, bytes_per_item=vector)

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> BPRModel:
        with limited_threads(torch_threads=self.params.threads):
            return self._fit(data, options or TrainingOptions())

    def _fit(self, data: Interactions, options: TrainingOptions) -> BPRModel:
        import torch
        from torch.nn.functional import embedding

        params = self.params
        rng = np.random.default_rng(options.seed)
        generator = torch.Generator().manual_seed(options.seed)
        active = np.flatnonzero(np.diff(data.matrix.indptr) > 0)
        matrix = data.matrix[active].tocoo()
        users = np.asarray(matrix.row, dtype=np.int64)
        items = np.asarray(matrix.col, dtype=np.int64)
        weights = np.asarray(matrix.data, dtype=np.float64)
        n_users, n_items, n_pairs = active.shape[0], data.n_items, users.shape[0]
        # Draw positives in proportion to their weight (uniformly when all weights are equal).
        share = None if np.all(weights == weights[:1]) else weights / weights.sum()
        pair_keys = np.sort(users * n_items + items)

        user_vectors = torch.nn.Parameter(torch.empty(n_users, params.factors))
        item_vectors = torch.nn.Parameter(torch.empty(n_items, params.factors))
        item_bias = torch.nn.Parameter(torch.zeros(n_items, 1))
        torch.nn.init.normal_(user_vectors, std=params.init_std, generator=generator)
        torch.nn.init.normal_(item_vectors, std=params.init_std, generator=generator)
        optimiser = torch.optim.Adam(
            [user_vectors, item_vectors, item_bias], lr=params.learning_rate
        )
        steps = 0
        total_steps = params.epochs * max(1, -(-n_pairs // params.batch_size))
        for _epoch in range(params.epochs if n_pairs else 0):
            chosen = np.asarray(
                rng.permutation(n_pairs)
                if share is None
                else rng.choice(n_pairs, n_pairs, p=share),
                dtype=np.int64,
            )
            negatives = np.asarray(rng.integers(0, n_items, size=n_pairs), dtype=np.int64)
            # One redraw for negatives that are in fact used items; the rest are rare enough.
            clash = _used(pair_keys, users[chosen] * n_items + negatives)
            negatives[clash] = rng.integers(0, n_items, size=int(clash.sum()))
            for start in range(0, n_pairs, params.batch_size):
                stop = start + params.batch_size
                u = torch.from_numpy(users[chosen[start:stop]])
                i = torch.from_numpy(items[chosen[start:stop]])
                j = torch.from_numpy(negatives[start:stop])
                # embedding() rather than indexing: its backward is several times faster on CPU.
                user = embedding(u, user_vectors)
                good, bad = embedding(i, item_vectors), embedding(j, item_vectors)
                good_bias, bad_bias = embedding(i, item_bias)[:, 0], embedding(j, item_bias)[:, 0]
                margin = (user * (good - bad)).sum(dim=1) + good_bias - bad_bias
                penalty = (
                    user.pow(2).sum() + good.pow(2).sum() + bad.pow(2).sum()
                    + good_bias.pow(2).sum() + bad_bias.pow(2).sum()
                )  # fmt: skip
                loss = (
                    -torch.nn.functional.logsigmoid(margin).mean()
                    + params.l2 * penalty / (u.shape[0])
                )
                optimiser.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
                steps += 1
            options.progress(steps / total_steps, "bpr epochs")
        return BPRModel(
            user_ids=data.user_ids[active],
            user_factors=user_vectors.detach().numpy().copy(),
            item_ids=data.item_ids.copy(),
            item_factors=item_vectors.detach().numpy().copy(),
            item_bias=item_bias.detach().numpy()[:, 0].copy(),
            popularity=user_share(data.matrix),
            meta={},
        )


def _used(sorted_keys: IntArray, keys: IntArray) -> NDArray[np.bool_]:
    if sorted_keys.shape[0] == 0:
        return np.zeros(keys.shape[0], dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.shape[0] - 1)
    return np.asarray(sorted_keys[pos] == keys)


ENGINE = BPREngine
