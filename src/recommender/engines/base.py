"""The one interface every recommendation engine implements, and what passes through it."""

from __future__ import annotations

import io
import json
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from recommender.arrays import FloatArray, IntArray
from recommender.engines.limits import EngineLimits
from recommender.folds import Fold
from recommender.interactions import Interactions
from recommender.progress import Progress, quiet
from recommender.transitions import Transitions

JsonValue = Any  # JSON-serialisable data: dict, list, str, int, float, bool, None
KeptT = TypeVar("KeptT")


def _empty_ids() -> IntArray:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class Query:
    """What an engine knows about the person it recommends to.

    `history` holds external item ids, oldest first. An engine must answer for a user it never
    saw (`user_id` unknown or None) from the history and the context alone. `visitor` names who
    asks (the user, else the browser) when serving, so a model may reuse what it worked out for
    that visitor's previous request; None where nobody comes back (offline evaluation).
    """

    user_id: int | None = None
    history: IntArray = field(default_factory=_empty_ids)
    scientific_domains: tuple[int, ...] = ()
    categories: tuple[int, ...] = ()
    visitor: str | None = None


class LastQuery(Generic[KeptT]):
    """What a model worked out for the last query it was asked about. Ordering, scores and
    explanations of one request each ask about the same query object; a different object,
    even an equal one, is worked out again. Kept as one pair, replaced whole, so threads
    sharing the model read one query's value or the other's."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[Query, KeptT] | None = None

    def get(self, query: Query) -> KeptT | None:
        last = self._last
        return last[1] if last is not None and last[0] is query else None

    def keep(self, query: Query, value: KeptT) -> KeptT:
        self._last = (query, value)
        return value


@dataclass(frozen=True)
class Explanation:
    short: str
    long: str


class Names(Protocol):
    """Human names for the ids an explanation mentions (the serving catalogue provides them)."""

    def service(self, service_id: int) -> str | None: ...

    def scientific_domain(self, domain_id: int) -> str | None: ...

    def category(self, category_id: int) -> str | None: ...


@dataclass(frozen=True)
class Artifact:
    """A trained model as plain data: named numpy arrays plus JSON metadata, nothing pickled."""

    arrays: Mapping[str, NDArray[Any]]
    meta: Mapping[str, JsonValue]

    def to_bytes(self) -> bytes:
        arrays = io.BytesIO()
        np.savez_compressed(arrays, allow_pickle=False, **dict(self.arrays))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("meta.json", json.dumps(self.meta, sort_keys=True))
            archive.writestr("arrays.npz", arrays.getvalue())
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Artifact:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            meta = json.loads(archive.read("meta.json"))
            with np.load(io.BytesIO(archive.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        return cls(arrays=arrays, meta=meta)


class Model(ABC):
    """A trained, immutable model. Safe to share between threads; swapped, never mutated."""

    engine: ClassVar[str]

    @abstractmethod
    def score(self, query: Query, items: IntArray) -> FloatArray:
        """Scores for external item ids, higher is better; NaN for items it cannot score."""

    def score_batch(self, queries: Sequence[Query], items: IntArray) -> FloatArray:
        """One row of scores per query over the same items; engines vectorise where they can."""
        out = np.empty((len(queries), items.shape[0]), dtype=np.float32)
        for row, query in enumerate(queries):
            out[row] = self.score(query, items)
        return out

    def score_all(self, query: Query) -> tuple[IntArray, FloatArray] | None:
        """(sorted item ids, scores) of every item the model knows, when one pass computes
        them all (a matrix-vector product, say); None when only `score` can. Serving ranks a
        whole catalogue from this without mapping candidate ids first."""
        return None

    def ordering(self, query: Query) -> tuple[IntArray, FloatArray] | None:
        """(item ids best first, their scores), for queries the model ranks the same for
        everyone (popularity without context); built once, so serving walks it instead of
        scoring. None when the ranking depends on the visitor."""
        return None

    @property
    def fitted_params(self) -> dict[str, Any]:
        """Parameters the fit chose itself (for example the best epoch count)."""
        return {}

    @property
    def curves(self) -> dict[str, list[float]]:
        """Training curves (loss, validation quality per epoch) when the engine has them."""
        return {}

    def knows(self, query: Query) -> bool:
        """Whether this model can personalise for `query`; serving uses popularity if not.

        Collaborative models need some history; engines that read declared interests
        (a content tower) override this.
        """
        return bool(query.history.shape[0] > 0)

    def explain(self, query: Query, items: IntArray, names: Names) -> list[Explanation]:
        """One explanation per recommended item; engines override with what they know."""
        return [
            Explanation(
                short="Recommended for you",
                long="Recommended for you from what researchers like you use.",
            )
            for _ in range(items.shape[0])
        ]

    @abstractmethod
    def to_artifact(self) -> Artifact: ...

    @classmethod
    @abstractmethod
    def from_artifact(cls, artifact: Artifact) -> Self: ...


@dataclass(frozen=True, eq=False)
class Validation:
    """What an engine that stops early checks itself on, supplied by evaluation: held-out
    pairs (never the test split's) and the code that measures a model on them.

    `fold.train` is the data given to `fit`; the held-out items are not in it.
    """

    fold: Fold
    # A model's ranking metrics on `fold` at `k`, by name ("HR", "NDCG").
    evaluate: Callable[[Model], Mapping[str, float]]
    k: int = 10
    # The same for the score of a first model plus each weight times a second's, in one
    # pass (each model scores every user once); None: call `evaluate` once per weight.
    evaluate_blends: Callable[[Model, Model, Sequence[float]], list[Mapping[str, float]]] | None = (
        None
    )

    def label(self, metric: str) -> str:
        """How a metric measured here is named in curves and messages ("NDCG@10")."""
        return f"{metric}@{self.k}"


@dataclass(frozen=True)
class TrainingOptions:
    """What every fit call gets besides its data: randomness, hardware and a progress hook."""

    seed: int = 0
    device: str = "cpu"
    progress: Progress = quiet
    # For engines that stop early (`Engine.uses_validation`); the others ignore it.
    validation: Validation | None = None
    # Logged panels with their rewards, for engines that learn from them (`rl`); their ids
    # are external, like the data's.
    transitions: Transitions | None = None


class EngineParams(BaseModel):
    """Hyper-parameters of an engine; subclasses add fields with defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ParamsT = TypeVar("ParamsT", bound=EngineParams)


class Engine(ABC, Generic[ParamsT]):
    """An algorithm and its hyper-parameters; `fit` returns a fresh model and keeps no state."""

    name: ClassVar[str]
    params_type: ClassVar[type[EngineParams]]
    model_type: ClassVar[type[Model]]
    # Trainable engines are fitted by jobs and kept as versions in the model registry;
    # the others are rebuilt in every serving process whenever the store changes.
    trainable: ClassVar[bool] = True
    # Engines that stop early on `TrainingOptions.validation`: evaluation then fits them on
    # the validation fold's training part, and their model's `fitted_params` (the epochs
    # found, say) are reused when the same engine is fitted again without validation data.
    uses_validation: ClassVar[bool] = False
    # Engines that learn from the logged panels and their rewards (`TrainingOptions.
    # transitions`) as well as from the usage matrix.
    learns_from_panels: ClassVar[bool] = False
    # Engines whose fit trains across the processes of a `torch.distributed` process group
    # (DistributedDataParallel) when one is initialised; the others would each fit alone.
    distributed: ClassVar[bool] = False

    def __init__(
        self,
        params: ParamsT | Mapping[str, Any] | None = None,
        *,
        max_items: int | None = None,
    ) -> None:
        if params is None or isinstance(params, Mapping):
            params = self.params_type.model_validate(dict(params or {}))  # type: ignore[assignment]
        self.params: ParamsT = params  # type: ignore[assignment]
        # An operator's item limit (ENGINE_MAX_ITEMS) in place of the declared one.
        self._max_items = max_items

    def declared_limits(self) -> EngineLimits:
        """What this engine with these parameters can fit; engines that hold more than one
        vector per user and item, or a matrix per item pair, override it."""
        return EngineLimits()

    def limits(self) -> EngineLimits:
        """The declared limits, with the operator's item limit when one was given."""
        declared = self.declared_limits()
        if self._max_items is None:
            return declared
        return replace(declared, max_items=self._max_items)

    def check_limits(self, data: Interactions) -> None:
        """Raise `EngineLimitError` (naming the engine and the limit) when `data` is larger
        than this engine can fit."""
        self.limits().check(self.name, data.n_users, data.n_items)

    @abstractmethod
    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> Model: ...

    def load(self, artifact: Artifact) -> Model:
        return self.model_type.from_artifact(artifact)
