"""iALS: implicit-feedback matrix factorisation by alternating least squares (Hu, Koren and
Volinsky, 2008), trained with the `implicit` library's conjugate-gradient solver."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from pydantic import Field

from recommender.arrays import FloatArray, IntArray
from recommender.engines.base import Engine, EngineParams, TrainingOptions
from recommender.engines.factors import FactorModel
from recommender.engines.hardware import limited_threads
from recommender.engines.limits import EngineLimits
from recommender.engines.lookup import user_share
from recommender.interactions import Interactions


class IALSParams(EngineParams):
    """Defaults are the best found by `recommender tune` on MovieLens 1M validation folds
    (see `benchmarks/params/`); retune for catalogues of a different shape."""

    factors: int = Field(default=128, ge=1, description="Length of user and item vectors.")
    regularization: float = Field(
        default=50.0, ge=0, description="L2 penalty on every user and item vector."
    )
    alpha: float = Field(
        default=5.0,
        gt=0,
        description="Confidence of an observed interaction per unit of weight; unobserved "
        "pairs have confidence 1.",
    )
    iterations: int = Field(
        default=15, ge=1, description="Alternating sweeps over users and items."
    )
    threads: int = Field(
        default=0, ge=0, description="Solver threads (0: all cores); results do not depend on it."
    )


class IALSModel(FactorModel):
    engine: ClassVar[str] = "ials"

    def fold_in(self, history: IntArray) -> FloatArray:
        # The user half-step of ALS for one user: exact least squares against fixed items.
        items = self.item_factors
        alpha = float(self.meta["alpha"])
        used = items[history].astype(np.float64)
        system = items.T.astype(np.float64) @ items + (alpha - 1.0) * used.T @ used
        system[np.diag_indices_from(system)] += float(self.meta["regularization"])
        return np.linalg.solve(system, alpha * used.sum(axis=0)).astype(np.float32)


class IALSEngine(Engine[IALSParams]):
    name = "ials"
    params_type = IALSParams
    model_type = IALSModel

    def declared_limits(self) -> EngineLimits:
        # One float32 vector per user and per item, in the solver and again in the model.
        vector = 2 * 4 * self.params.factors
        return EngineLimits(bytes_per_user=vector, bytes_per_item=vector)

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> IALSModel:
        options = options or TrainingOptions()
        params = self.params
        # Users without training data get no vector: they are folded in like newcomers.
        active = np.flatnonzero(np.diff(data.matrix.indptr) > 0)
        matrix = data.matrix[active].astype(np.float32)

        def report(iteration: int, elapsed: float, loss: float | None) -> None:
            options.progress((iteration + 1) / params.iterations, "alternating least squares")

        # implicit parallelises over users itself; a threaded BLAS underneath only contends.
        with limited_threads(blas_threads=1):
            solver = AlternatingLeastSquares(
                factors=params.factors,
                regularization=params.regularization,
                alpha=params.alpha,
                iterations=params.iterations,
                random_state=options.seed,
                num_threads=params.threads,
                dtype=np.float32,
            )
            solver.fit(matrix, show_progress=False, callback=report)
        return IALSModel(
            user_ids=data.user_ids[active],
            user_factors=np.asarray(solver.user_factors),
            item_ids=data.item_ids.copy(),
            item_factors=np.asarray(solver.item_factors),
            item_bias=np.zeros(data.n_items, dtype=np.float32),
            popularity=user_share(data.matrix),
            meta={"alpha": params.alpha, "regularization": params.regularization},
        )


ENGINE = IALSEngine
