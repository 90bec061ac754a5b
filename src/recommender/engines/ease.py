"""EASE (Steck, 2019): closed-form item-item regression with a zero diagonal and an L2 penalty."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import Field

from recommender.engines.base import Engine, EngineParams, TrainingOptions
from recommender.engines.item_item import ItemItemModel, gram_blocks
from recommender.engines.limits import EngineLimits
from recommender.engines.lookup import user_share
from recommender.interactions import Interactions

# EASE inverts a dense items x items matrix: memory and time grow with the square and cube.
# 20,000 services need about 15 GiB to fit; operators raise it with ENGINE_MAX_ITEMS.
MAX_ITEMS = 20_000
# Peak bytes per item pair while fitting (the float64 Gram matrix, its Cholesky solve against
# the identity, the weights and their float32 copy), measured by benchmarks/scale.py.
BYTES_PER_ITEM_PAIR = 40.0
# Weights sorted at once when each row keeps its strongest: 2M cells, 16 MB of indices.
_PARTITION_CELLS = 2_000_000


class EASEParams(EngineParams):
    """Defaults are the best found by `recommender tune` on MovieLens 1M validation folds
    (see `benchmarks/params/`); retune for catalogues of a different shape."""

    l2: float = Field(
        default=1000.0,
        gt=0,
        description="L2 penalty added to the Gram matrix's diagonal; larger values trust "
        "co-occurrence less.",
    )
    dropout: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Emphasised-denoising penalty (EDLAE, Steck 2020): adds "
        "dropout / (1 - dropout) times each item's own Gram entry to its L2 penalty, so "
        "popular items are shrunk more; 0 is plain EASE.",
    )
    neighbours: int = Field(
        default=0,
        ge=0,
        description="Weights kept per service: the N of largest magnitude in its row, stored "
        "sparse, so that scoring reads 8 N bytes per history item instead of 4 per service; "
        "0 keeps every weight.",
    )


class EASEModel(ItemItemModel):
    engine: ClassVar[str] = "ease"


class EASEEngine(Engine[EASEParams]):
    name = "ease"
    params_type = EASEParams
    model_type = EASEModel

    def declared_limits(self) -> EngineLimits:
        return EngineLimits(
            max_items=MAX_ITEMS,
            bytes_per_item_pair=BYTES_PER_ITEM_PAIR,
            reason="EASE inverts a dense services x services matrix",
        )

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> EASEModel:
        options = options or TrainingOptions()
        self.check_limits(data)
        n_items = data.n_items
        options.progress(0.0, "Gram matrix")
        gram = np.empty((n_items, n_items), dtype=np.float64)
        for columns, block in gram_blocks(data.matrix.astype(np.float32), max(n_items, 1)):
            gram[:, columns] = block
        diagonal = np.diag_indices(n_items)
        dropout = self.params.dropout
        gram[diagonal] += self.params.l2 + dropout / (1.0 - dropout) * gram[diagonal]
        options.progress(0.3, "inverting")
        # P = (G + l2 I)^-1 by Cholesky: the matrix is symmetric positive definite.
        factor = scipy.linalg.cho_factor(gram, overwrite_a=True, check_finite=False)
        precision = scipy.linalg.cho_solve(factor, np.eye(n_items), check_finite=False)
        weights = -precision / np.diag(precision)[None, :]
        weights[diagonal] = 0.0
        options.progress(1.0, "done")
        kept = self.params.neighbours
        return EASEModel(
            item_ids=data.item_ids.copy(),
            weights=strongest_per_row(weights, kept)
            if 0 < kept < n_items
            else np.ascontiguousarray(weights, dtype=np.float32),
            popularity=user_share(data.matrix),
            meta={"l2": self.params.l2, "dropout": dropout, "neighbours": kept},
        )


def strongest_per_row(weights: NDArray[np.float64], kept: int) -> sp.csr_matrix:
    """Each row's `kept` weights of largest magnitude (fewer where the rest are zero), as
    float32 CSR; rows are partitioned a block at a time to bound the index arrays' memory."""
    n_rows, n_columns = weights.shape
    block = max(1, _PARTITION_CELLS // max(n_columns, 1))
    rows, columns, values = [], [], []
    for start in range(0, n_rows, block):
        part = weights[start : start + block]
        best = np.argpartition(-np.abs(part), kept - 1, axis=1)[:, :kept]
        picked = np.take_along_axis(part, best, axis=1)
        nonzero = picked != 0
        rows.append(
            np.broadcast_to(np.arange(start, start + part.shape[0])[:, None], best.shape)[nonzero]
        )
        columns.append(best[nonzero])
        values.append(picked[nonzero])
    return sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
        shape=(n_rows, n_columns),
        dtype=np.float32,
    )


ENGINE = EASEEngine
