"""The RL data set as arrays: states and (state, panel, reward, next state) transitions.

Training builds them from the store (`training.sars`); engines learn from them (`engines.rl`);
both import them from here, so neither depends on the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import BoolArray, FloatArray, IntArray

# Pads ids: never a service or a user id.
PAD = -1
# A panel counts for at most this many times its experiment's mean panel: an arm shown to a
# small share of visitors must not make a few of its panels most of what is learnt.
MAX_WEIGHT = 10.0


def _no_search() -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Context:
    """What the portal said about a request: its page, search filters and candidates."""

    page_id: str = ""
    search_data: Mapping[str, Any] = field(default_factory=_no_search)
    # The portal's search result; empty means the whole catalogue.
    candidates: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class States:
    """A batch of states, one row each.

    `histories` holds service ids oldest first, the newest at `history_lengths - 1`, and is
    padded on the right with `PAD`; `candidate_ids[candidate_indptr[i]:candidate_indptr[i + 1]]`
    are row i's candidates, none meaning the whole catalogue.
    """

    user_ids: IntArray  # PAD for an anonymous browser
    histories: IntArray  # (n, history length)
    history_lengths: IntArray
    page_ids: NDArray[np.str_]
    search_data: tuple[Mapping[str, Any], ...]
    candidate_indptr: IntArray  # (n + 1,)
    candidate_ids: IntArray

    def __len__(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def history_mask(self) -> BoolArray:
        """True where `histories` holds a service, False on padding."""
        width = self.histories.shape[1]
        return np.arange(width)[None, :] < self.history_lengths[:, None]

    def candidates(self, row: int) -> IntArray:
        """Row `row`'s candidate ids; empty means the whole catalogue."""
        start, end = self.candidate_indptr[row], self.candidate_indptr[row + 1]
        return self.candidate_ids[start:end]

    @classmethod
    def of(
        cls,
        user_ids: Sequence[int | None],
        histories: Sequence[Sequence[int]],
        contexts: Sequence[Context],
        history_length: int,
    ) -> States:
        """Rows from Python values: each history's last `history_length` services are kept."""
        n = len(user_ids)
        matrix = np.full((n, history_length), PAD, dtype=np.int64)
        lengths = np.zeros(n, dtype=np.int64)
        for row, history in enumerate(histories):
            tail = list(history)[-history_length:] if history_length else []
            matrix[row, : len(tail)] = tail
            lengths[row] = len(tail)
        sizes = np.fromiter((len(c.candidates) for c in contexts), dtype=np.int64, count=n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        return cls(
            user_ids=np.asarray([PAD if u is None else u for u in user_ids], dtype=np.int64),
            histories=matrix,
            history_lengths=lengths,
            page_ids=np.asarray([c.page_id for c in contexts], dtype=np.str_),
            search_data=tuple(c.search_data for c in contexts),
            candidate_indptr=indptr,
            candidate_ids=np.fromiter(
                chain.from_iterable(c.candidates for c in contexts),
                dtype=np.int64,
                count=int(indptr[-1]),
            ),
        )

    @classmethod
    def concatenate(cls, parts: Sequence[States]) -> States:
        """The rows of every part in order; histories are padded to the widest."""
        width = max((p.histories.shape[1] for p in parts), default=0)
        offsets = np.cumsum([0, *(p.candidate_ids.shape[0] for p in parts)])
        return cls(
            user_ids=_joined([p.user_ids for p in parts]),
            histories=_rows([p.histories for p in parts], width, PAD, np.int64),
            history_lengths=_joined([p.history_lengths for p in parts]),
            page_ids=np.concatenate([p.page_ids for p in parts] or [np.asarray([], np.str_)]),
            search_data=tuple(chain.from_iterable(p.search_data for p in parts)),
            candidate_indptr=np.concatenate(
                [np.zeros(1, dtype=np.int64)]
                + [
                    p.candidate_indptr[1:] + offset
                    for p, offset in zip(parts, offsets[:-1], strict=True)
                ]
            ),
            candidate_ids=_joined([p.candidate_ids for p in parts]),
        )


@dataclass(frozen=True, eq=False)
class Transitions:
    """A batch of transitions in numpy arrays, one row per impression.

    `actions` are the served ids and `rewards` the reward of each of their positions, both
    (n, panel width) and padded with `PAD` and 0.0 past a panel's end. Where `done` is True
    there is no next state: `next_impression_ids` is `PAD` and `next_state`'s row is empty.
    """

    impression_ids: IntArray
    requested_at: NDArray[np.float64]  # seconds since the epoch
    state: States
    actions: IntArray
    rewards: FloatArray
    next_impression_ids: IntArray
    next_state: States
    done: BoolArray
    # How much each transition counts when learning from the log (`arm_balanced_weights`).
    weights: FloatArray

    def __len__(self) -> int:
        return int(self.impression_ids.shape[0])

    @property
    def user_ids(self) -> IntArray:
        return self.state.user_ids

    @property
    def action_mask(self) -> BoolArray:
        """True where `actions` holds a served service, False on padding."""
        return np.not_equal(self.actions, PAD)

    @classmethod
    def concatenate(cls, parts: Sequence[Transitions]) -> Transitions:
        """The rows of every part in order (for example, stored ones and a fresh batch);
        panels are padded to the widest."""
        width = max((p.actions.shape[1] for p in parts), default=0)
        return cls(
            impression_ids=_joined([p.impression_ids for p in parts]),
            requested_at=np.concatenate(
                [p.requested_at for p in parts] or [np.zeros(0, dtype=np.float64)]
            ),
            state=States.concatenate([p.state for p in parts]),
            actions=_rows([p.actions for p in parts], width, PAD, np.int64),
            rewards=_rows([p.rewards for p in parts], width, 0.0, np.float32),
            next_impression_ids=_joined([p.next_impression_ids for p in parts]),
            next_state=States.concatenate([p.next_state for p in parts]),
            done=np.concatenate([p.done for p in parts] or [np.zeros(0, dtype=np.bool_)]),
            weights=np.concatenate([p.weights for p in parts] or [np.zeros(0, dtype=np.float32)]),
        )


def arm_balanced_weights(experiment_ids: IntArray, propensities: FloatArray) -> FloatArray:
    """How much each logged panel counts: inside an experiment, 1 / the propensity of the arm
    that served it, scaled so that the experiment's panels keep their total; outside one
    (`PAD`), 1.

    An experiment shows each arm to its share of the visitors; weighted so, every arm's
    panels count as if it had served an equal share, and a learner reading the log is not
    pulled towards whichever arm the experiment favoured. Weights are capped at
    `MAX_WEIGHT` (then scaled again), which bounds the variance a rare arm brings.
    """
    weights = np.ones(experiment_ids.shape[0], dtype=np.float64)
    for experiment in np.unique(experiment_ids[experiment_ids != PAD]):
        rows = experiment_ids == experiment
        inverse = 1.0 / np.clip(propensities[rows].astype(np.float64), 1e-9, 1.0)
        weights[rows] = _capped_to_mean_one(inverse)
    return weights.astype(np.float32)


def _capped_to_mean_one(raw: NDArray[np.float64]) -> NDArray[np.float64]:
    """`raw` scaled to a mean of 1, none above `MAX_WEIGHT`: the capped ones stay at the cap
    and the others are scaled up until the total is right again."""
    n = raw.shape[0]
    capped = np.zeros(n, dtype=bool)
    out: NDArray[np.float64] = raw * (n / raw.sum())
    while (out > MAX_WEIGHT + 1e-9).any():
        capped |= out > MAX_WEIGHT
        free = raw[~capped]
        out = np.full(n, MAX_WEIGHT, dtype=np.float64)
        out[~capped] = free * ((n - MAX_WEIGHT * capped.sum()) / free.sum())
    return out


def _joined(arrays: Sequence[IntArray]) -> IntArray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)


def _rows(
    matrices: Sequence[NDArray[Any]], width: int, pad: float, dtype: type[np.generic]
) -> NDArray[Any]:
    """The rows of every matrix in order, each padded on the right to `width` columns."""
    padded = [
        np.pad(m, ((0, 0), (0, width - m.shape[1])), constant_values=pad)
        if m.shape[1] < width
        else m
        for m in matrices
    ]
    return np.concatenate(padded) if padded else np.zeros((0, width), dtype=dtype)
