"""ItemKNN: cosine similarity between items' user vectors, keeping each item's top-k neighbours."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recommender.engines.base import Engine, EngineParams, TrainingOptions
from recommender.engines.item_item import ItemItemModel, gram_blocks
from recommender.engines.limits import EngineLimits
from recommender.engines.lookup import user_share
from recommender.interactions import Interactions

# Similarity cells (items x block) computed at once.
_BLOCK_CELLS = 16_000_000


class ItemKNNParams(EngineParams):
    """Defaults are the best found by `recommender tune` on MovieLens 1M validation folds
    (see `benchmarks/params/`); retune for catalogues of a different shape."""

    neighbours: int = Field(
        default=200, ge=1, description="Neighbours kept per item (the k of item-kNN)."
    )
    shrink: float = Field(
        default=10.0,
        ge=0,
        description="Added to the cosine's denominator, damping similarities between items "
        "with few users.",
    )
    normalise: bool = Field(
        default=False,
        description="Scale each item's neighbour weights to sum to one, so items with many "
        "strong neighbours do not dominate a user's list.",
    )


class ItemKNNModel(ItemItemModel):
    engine: ClassVar[str] = "itemknn"


class ItemKNNEngine(Engine[ItemKNNParams]):
    name = "itemknn"
    params_type = ItemKNNParams
    model_type = ItemKNNModel

    def declared_limits(self) -> EngineLimits:
        # The kept neighbours, a float32 weight and an int32 column each; the Gram matrix is
        # built one block of _BLOCK_CELLS at a time, whatever the catalogue.
        return EngineLimits(bytes_per_item=8 * self.params.neighbours)

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> ItemKNNModel:
        options = options or TrainingOptions()
        params = self.params
        matrix = data.matrix.astype(np.float32)
        n_items = data.n_items
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
        k = min(params.neighbours, max(n_items - 1, 1))
        block = max(1, _BLOCK_CELLS // max(n_items, 1))
        rows, cols, vals = [], [], []
        for columns, gram in gram_blocks(matrix, block):
            targets = np.arange(columns.start, columns.stop)
            sim = gram / (norms[:, None] * norms[None, targets] + params.shrink + 1e-12)
            sim[targets, np.arange(targets.shape[0])] = 0.0
            # Rows of `sim` are neighbours, columns targets: keep each target's k best.
            best = np.argpartition(-sim, k - 1, axis=0)[:k] if k < n_items else None
            if best is None:
                best = np.broadcast_to(np.arange(n_items)[:, None], sim.shape)
            weights = np.take_along_axis(sim, best, axis=0)
            if params.normalise:
                totals = weights.sum(axis=0, keepdims=True)
                weights = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
            keep = weights > 0
            rows.append(best[keep])
            cols.append(np.broadcast_to(targets, best.shape)[keep])
            vals.append(weights[keep])
            options.progress(columns.stop / max(n_items, 1), "item similarities")
        similarity = sp.csr_matrix(
            (
                np.concatenate(vals) if vals else np.empty(0, np.float32),
                (
                    np.concatenate(rows) if rows else np.empty(0, np.int64),
                    np.concatenate(cols) if cols else np.empty(0, np.int64),
                ),
            ),
            shape=(n_items, n_items),
            dtype=np.float32,
        )
        return ItemKNNModel(
            item_ids=data.item_ids.copy(),
            weights=similarity,
            popularity=user_share(data.matrix),
            meta={"neighbours": k},
        )


ENGINE = ItemKNNEngine
