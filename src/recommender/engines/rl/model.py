"""A trained RL policy as numpy arrays: the actor's state encoder and query head, with the
implicit-ALS model whose scores it corrects, served like every other engine (the critics are
needed only to train)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import FloatArray, IntArray
from recommender.engines.base import Artifact, Explanation, Model, Names, Query
from recommender.engines.features import FeatureSpace
from recommender.engines.ials import IALSModel
from recommender.engines.lookup import IdIndex
from recommender.engines.ncf.model import recent_positions

Matrix = NDArray[np.float32]
_ARRAYS = (
    "item_ids",
    "items",
    "bias",
    "log_scale",
    "feature",
    "catalogue",
    "head.weight",
    "head.bias",
    "popularity",
)
# Arrays of the collaborative model are stored under this prefix in the agent's artifact.
COLLABORATIVE = "collaborative."


def _mean_rows(table: Matrix, rows: IntArray) -> FloatArray:
    if rows.shape[0] == 0:
        return np.zeros(table.shape[1], dtype=np.float32)
    return np.asarray(table[rows].mean(axis=0), dtype=np.float32)


class RLModel(Model):
    engine: ClassVar[str] = "rl"

    def __init__(
        self,
        arrays: Mapping[str, NDArray[Any]],
        features: FeatureSpace,
        meta: Mapping[str, Any],
        collaborative: IALSModel | None = None,
    ) -> None:
        self.arrays = dict(arrays)
        self.features = features
        self.meta = dict(meta)
        self.collaborative = collaborative
        # Without a collaborative model (or in artifacts older than it) the agent ranks alone.
        self.correction = float(self.meta.get("correction", 1.0)) if collaborative else 1.0
        self.spreads = tuple(float(v) for v in self.meta.get("spreads", (1.0, 1.0)))
        self.item_ids: IntArray = self.arrays["item_ids"]
        self.item_index = IdIndex(self.item_ids)
        self.history_length = int(self.meta["history_length"])
        self.layers = [
            (self.arrays[f"encoder.{k}.weight"], self.arrays[f"encoder.{k}.bias"])
            for k in range(int(self.meta["encoder_layers"]))
        ]

    # -- the state -----------------------------------------------------------------------

    def engaged(self, query: Query) -> IntArray:
        """Positions of the recent services the state reads, oldest first."""
        return recent_positions(self.item_index, query.history, self.history_length)

    def declared(self, query: Query) -> IntArray:
        """Feature positions of the declared interests and search filters."""
        return self.features.encode_query(query.scientific_domains, query.categories)

    def knows(self, query: Query) -> bool:
        return bool(self.engaged(query).shape[0] or self.declared(query).shape[0])

    def state_input(self, query: Query, candidates: IntArray) -> FloatArray:
        """The encoder's input for one query, `candidates` being item positions."""
        items: Matrix = self.arrays["items"]
        engaged = self.engaged(query)
        newest = items[engaged[-1]] if engaged.shape[0] else np.zeros(items.shape[1], np.float32)
        known = candidates[candidates >= 0]
        # The whole catalogue is the context the agent learned as "no candidates".
        whole = np.unique(known).shape[0] >= self.item_ids.shape[0] or known.shape[0] == 0
        context = self.arrays["catalogue"] if whole else _mean_rows(items, known)
        return np.concatenate(
            [
                _mean_rows(items, engaged),
                newest,
                _mean_rows(self.arrays["feature"], self.declared(query)),
                context,
            ]
        ).astype(np.float32)

    def queries(self, inputs: Matrix) -> Matrix:
        """Query vectors for a batch of encoder inputs."""
        hidden = inputs
        for weight, bias in self.layers:
            hidden = np.maximum(hidden @ weight.T + bias, 0.0)
        return np.asarray(
            hidden @ self.arrays["head.weight"].T + self.arrays["head.bias"], np.float32
        )

    # -- scoring -------------------------------------------------------------------------

    def score(self, query: Query, items: IntArray) -> FloatArray:
        return np.asarray(self.score_batch([query], items)[0], dtype=np.float32)

    def score_batch(self, queries: Sequence[Query], items: IntArray) -> FloatArray:
        c = self.correction
        if self.collaborative is None or c >= 1.0:
            return self.agent_scores(queries, items)
        collaborative = self.collaborative.score_batch(queries, items)
        if c <= 0.0:
            return collaborative
        agent = self.agent_scores(queries, items)
        spread_collaborative, spread_agent = self.spreads
        blended = (1.0 - c) * collaborative / spread_collaborative + c * agent / spread_agent
        return np.asarray(blended, dtype=np.float32)

    def agent_scores(self, queries: Sequence[Query], items: IntArray) -> FloatArray:
        """The actor's own scores, before the collaborative ones are blended in."""
        pos = self.item_index(items)
        known = np.maximum(pos, 0)
        if not queries:
            return np.empty((0, pos.shape[0]), dtype=np.float32)
        inputs = np.stack([self.state_input(q, pos) for q in queries])
        vectors = self.queries(inputs)
        scale = float(np.exp(self.arrays["log_scale"].reshape(-1)[0]))
        scores = scale * (vectors @ self.arrays["items"][known].T) + self.arrays["bias"][known]
        cold = np.array([not self.knows(q) for q in queries])
        if cold.any():
            scores[cold] = self.arrays["popularity"][known]
        scores = np.asarray(scores, dtype=np.float32)
        if (pos < 0).any():
            scores[:, pos < 0] = np.nan
        return scores

    def explain(self, query: Query, items: IntArray, names: Names) -> list[Explanation]:
        explanations = super().explain(query, items, names)
        engaged = self.engaged(query)
        if engaged.shape[0] == 0:
            return explanations
        vectors: Matrix = self.arrays["items"]
        for n, pos in enumerate(self.item_index(items)):
            if pos < 0:
                continue
            closest = engaged[int(np.argmax(vectors[engaged] @ vectors[pos]))]
            name = names.service(int(self.item_ids[closest]))
            if name:
                explanations[n] = Explanation(
                    short=f"Users of {name} went on to use this",
                    long=f"Users who ordered {name} went on to use this service.",
                )
        return explanations

    @property
    def curves(self) -> dict[str, list[float]]:
        return dict(self.meta.get("curves", {}))

    @property
    def fitted_params(self) -> dict[str, Any]:
        return dict(self.meta.get("fitted", {}))

    # -- artifact ------------------------------------------------------------------------

    def with_correction(self, correction: float, spreads: tuple[float, float]) -> RLModel:
        """The same agent and collaborative model, blended with another share."""
        meta = {**self.meta, "correction": correction, "spreads": list(spreads)}
        return RLModel(self.arrays, self.features, meta, self.collaborative)

    def to_artifact(self) -> Artifact:
        arrays = {**self.arrays, **self.features.to_arrays()}
        meta = {**self.meta, "vocabularies": list(self.features.names)}
        if self.collaborative is not None:
            inner = self.collaborative.to_artifact()
            arrays |= {COLLABORATIVE + name: value for name, value in inner.arrays.items()}
            meta["collaborative"] = dict(inner.meta)
        return Artifact(arrays=arrays, meta={"engine": self.engine, **meta})

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        skipped = ("engine", "vocabularies", "collaborative")
        meta = {k: v for k, v in artifact.meta.items() if k not in skipped}
        layers = int(meta["encoder_layers"])
        wanted = [*_ARRAYS] + [
            f"encoder.{k}.{part}" for k in range(layers) for part in ("weight", "bias")
        ]
        missing = [name for name in wanted if name not in artifact.arrays]
        if missing:
            raise ValueError(f"rl artifact lacks arrays {missing}")
        names = list(artifact.meta.get("vocabularies", []))
        inner = {
            name[len(COLLABORATIVE) :]: value
            for name, value in artifact.arrays.items()
            if name.startswith(COLLABORATIVE)
        }
        collaborative = (
            IALSModel.from_artifact(Artifact(arrays=inner, meta=artifact.meta["collaborative"]))
            if inner
            else None
        )
        return cls(
            {name: artifact.arrays[name] for name in wanted},
            FeatureSpace.from_arrays(artifact.arrays, names),
            meta,
            collaborative,
        )
