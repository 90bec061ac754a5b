"""What the RL agent learns from, as arrays of model positions: states, lists, rewards, next states.

Two sources give the same shape:

- the chronological histories of an `Interactions` (MovieLens, or the store's usage): each
  use of a service is a one-service list shown in the state of everything used before it,
  worth the use's weight, and followed by the state that includes it;
- the logged panels of the store (`recommender.transitions.Transitions`): the served
  list, the reward of each position from the journeys it started, the next impression's
  state, and `done` where the session ended.

States live in one table of rows; a transition names its state row and its next state row
(-1 when done), so sequential data does not store every history twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import FloatArray, IntArray
from recommender.engines.features import FeatureSpace
from recommender.engines.lookup import IdIndex
from recommender.interactions import Interactions
from recommender.transitions import States, Transitions

# Search filters that name vocabularies the state reads, as the serving path reads them.
SEARCH_VOCABULARIES = {"scientific_domains": "scientific_domains", "categories": "categories"}


@dataclass(frozen=True, eq=False)
class StateTable:
    """One row per state. Item and feature positions are padded with `pad_item`/`pad_feature`;
    `candidate_*` is ragged (a row without candidates means the whole catalogue)."""

    histories: NDArray[np.int32]  # rows x history length, newest last, padding on the left
    features: NDArray[np.int32]  # rows x width
    candidate_indptr: IntArray
    candidate_items: NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.histories.shape[0])

    @classmethod
    def of(
        cls,
        histories: Sequence[IntArray],
        features: Sequence[IntArray],
        candidates: Sequence[IntArray],
        history_length: int,
        pad_item: int,
        pad_feature: int,
    ) -> StateTable:
        """Rows from item positions (histories oldest first, candidates) and feature positions."""
        sizes = np.fromiter((c.shape[0] for c in candidates), dtype=np.int64, count=len(candidates))
        indptr = np.zeros(len(candidates) + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        return cls(
            histories=_left_padded(histories, history_length, pad_item),
            features=_features_of(features, pad_feature),
            candidate_indptr=indptr,
            candidate_items=np.concatenate(
                [np.asarray(c, dtype=np.int32) for c in candidates] or [np.empty(0, np.int32)]
            ),
        )

    @classmethod
    def concatenate(cls, parts: Sequence[StateTable], pad_feature: int) -> StateTable:
        width = max(p.features.shape[1] for p in parts)
        pad = pad_feature
        features = [
            np.pad(p.features, ((0, 0), (0, width - p.features.shape[1])), constant_values=pad)
            for p in parts
        ]
        offsets = np.cumsum([0, *(p.candidate_items.shape[0] for p in parts)])
        return cls(
            histories=np.concatenate([p.histories for p in parts]),
            features=np.concatenate(features),
            candidate_indptr=np.concatenate(
                [np.zeros(1, dtype=np.int64)]
                + [p.candidate_indptr[1:] + o for p, o in zip(parts, offsets[:-1], strict=True)]
            ),
            candidate_items=np.concatenate([p.candidate_items for p in parts]),
        )


@dataclass(frozen=True, eq=False)
class Experience:
    """Transitions over a `StateTable`: `states[state]` was shown `actions` (padded with
    `pad_item`), earned `rewards` per position, and led to `states[next_state]`."""

    states: StateTable
    state: IntArray
    actions: NDArray[np.int32]  # n x list length
    rewards: FloatArray  # n x list length
    next_state: IntArray  # -1 where done
    # True where the list was a panel the visitor saw: its services are judged against each
    # other (what was clicked among what was shown), not against services never shown.
    panel: NDArray[np.bool_]
    pad_item: int
    pad_feature: int
    # How often each transition is drawn, relatively: logged panels weighted so that every
    # arm of an experiment counts alike (`recommender.transitions.arm_balanced_weights`).
    weights: FloatArray

    def __len__(self) -> int:
        return int(self.state.shape[0])

    @property
    def done(self) -> NDArray[np.bool_]:
        return np.asarray(self.next_state < 0)


def _left_padded(rows: Sequence[IntArray], length: int, pad: int) -> NDArray[np.int32]:
    out = np.full((len(rows), max(length, 1)), pad, dtype=np.int32)
    for n, row in enumerate(rows):
        tail = row[-length:] if length else row[:0]
        if tail.shape[0]:
            out[n, -tail.shape[0] :] = tail
    return out


def _features_of(declared: Sequence[IntArray], pad: int) -> NDArray[np.int32]:
    width = max((row.shape[0] for row in declared), default=0)
    out = np.full((len(declared), max(width, 1)), pad, dtype=np.int32)
    for n, row in enumerate(declared):
        out[n, : row.shape[0]] = row
    return out


def user_features(data: Interactions, space: FeatureSpace) -> list[IntArray]:
    """Per user row, the feature positions it declared (scientific domains, categories)."""
    rows = space.rows(data.user_features, data.n_users)
    return [
        rows.indices[rows.indptr[u] : rows.indptr[u + 1]].astype(np.int64)
        for u in range(data.n_users)
    ]


def from_interactions(
    data: Interactions, space: FeatureSpace, history_length: int, max_per_user: int | None = None
) -> Experience:
    """Each use of a service, in time order, as a one-service list worth its weight."""
    pad_item, pad_feature = data.n_items, space.size
    declared = user_features(data, space)
    histories: list[IntArray] = []
    features: list[IntArray] = []
    state: list[int] = []
    actions: list[int] = []
    rewards: list[float] = []
    next_state: list[int] = []
    for user in range(data.n_users):
        items = data.item_index(data.history(user))
        if items.shape[0] == 0:
            continue
        weights = np.asarray(data.matrix[user, items].toarray()).ravel()
        start = 0 if max_per_user is None else max(0, items.shape[0] - max_per_user)
        for t in range(start, items.shape[0]):
            histories.append(items[max(0, t - history_length) : t])
            features.append(declared[user])
            state.append(len(histories) - 1)
            actions.append(int(items[t]))
            rewards.append(float(weights[t]))
            next_state.append(len(histories) if t + 1 < items.shape[0] else -1)
    n = len(state)
    table = StateTable(
        histories=_left_padded(histories, history_length, pad_item),
        features=_features_of(features, pad_feature),
        candidate_indptr=np.zeros(n + 1, dtype=np.int64),
        candidate_items=np.empty(0, dtype=np.int32),
    )
    return Experience(
        states=table,
        state=np.asarray(state, dtype=np.int64),
        actions=np.asarray(actions, dtype=np.int32).reshape(n, 1),
        rewards=np.asarray(rewards, dtype=np.float32).reshape(n, 1),
        next_state=np.asarray(next_state, dtype=np.int64),
        panel=np.zeros(n, dtype=bool),
        pad_item=pad_item,
        pad_feature=pad_feature,
        weights=np.ones(n, dtype=np.float32),
    )


def search_features(space: FeatureSpace, search: Mapping[str, Any]) -> IntArray:
    """Feature positions of the search filters a state reads."""
    parts = [
        space.encode(vocabulary, [int(v) for v in search.get(key) or () if isinstance(v, int)])
        for key, vocabulary in SEARCH_VOCABULARIES.items()
    ]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _state_table(
    states: States,
    items: IdIndex,
    space: FeatureSpace,
    declared_by_user: Mapping[int, IntArray],
    history_length: int,
    pad_item: int,
    pad_feature: int,
) -> StateTable:
    histories, features, candidates = [], [], []
    for row in range(len(states)):
        ids = states.histories[row, : states.history_lengths[row]]
        pos = items(ids)
        histories.append(pos[pos >= 0])
        user = int(states.user_ids[row])
        own = declared_by_user.get(user, np.empty(0, dtype=np.int64))
        features.append(
            np.unique(np.concatenate([own, search_features(space, states.search_data[row])]))
        )
        # Candidates the model does not know are dropped.
        shown = items(states.candidates(row))
        candidates.append(shown[shown >= 0])
    return StateTable.of(histories, features, candidates, history_length, pad_item, pad_feature)


def from_transitions(
    logged: Transitions, data: Interactions, space: FeatureSpace, history_length: int
) -> Experience:
    """Logged panels in the positions of `data`'s items; unknown services are dropped."""
    items = IdIndex(data.item_ids)
    pad_item, pad_feature = data.n_items, space.size
    declared = user_features(data, space)
    declared_by_user = {int(u): declared[n] for n, u in enumerate(data.user_ids)}
    n = len(logged)
    now = _state_table(
        logged.state, items, space, declared_by_user, history_length, pad_item, pad_feature
    )
    after = _state_table(
        logged.next_state, items, space, declared_by_user, history_length, pad_item, pad_feature
    )
    table = StateTable.concatenate([now, after], pad_feature)
    positions = items(logged.actions)
    rewards = np.where(positions >= 0, logged.rewards, 0.0).astype(np.float32)
    actions = np.where(positions >= 0, positions, pad_item).astype(np.int32)
    rows = np.arange(n, dtype=np.int64)
    return Experience(
        states=table,
        state=rows,
        actions=actions,
        rewards=rewards,
        next_state=np.where(logged.done, -1, n + rows),
        panel=np.ones(n, dtype=bool),
        pad_item=pad_item,
        pad_feature=pad_feature,
        weights=np.asarray(logged.weights, dtype=np.float32),
    )


def combined(parts: Sequence[Experience]) -> Experience:
    """Several sources (at least one) as one, lists padded to the longest."""
    given = parts
    parts = [p for p in parts if len(p)]
    if len(parts) <= 1:
        # Nothing to join; with no transitions at all, the (empty) first source.
        return parts[0] if parts else given[0]
    pad_item, pad_feature = parts[0].pad_item, parts[0].pad_feature
    width = max(p.actions.shape[1] for p in parts)
    offsets = np.cumsum([0, *(len(p.states) for p in parts)])
    return Experience(
        states=StateTable.concatenate([p.states for p in parts], pad_feature),
        state=np.concatenate([p.state + o for p, o in zip(parts, offsets[:-1], strict=True)]),
        actions=np.concatenate(
            [
                np.pad(
                    p.actions, ((0, 0), (0, width - p.actions.shape[1])), constant_values=pad_item
                )
                for p in parts
            ]
        ),
        rewards=np.concatenate(
            [np.pad(p.rewards, ((0, 0), (0, width - p.rewards.shape[1]))) for p in parts]
        ),
        next_state=np.concatenate(
            [
                np.where(p.next_state < 0, -1, p.next_state + o)
                for p, o in zip(parts, offsets[:-1], strict=True)
            ]
        ),
        panel=np.concatenate([p.panel for p in parts]),
        pad_item=pad_item,
        pad_feature=pad_feature,
        weights=np.concatenate([p.weights for p in parts]),
    )
