"""Building the RL engine's (state, action, reward, next state, done) transitions from the
activity log: one per impression.

The state is who was served (a user, else an anonymous browser: the *identity*), the services
that identity engaged with before the request, and the request's context (page, search
filters, the portal's candidates). The action is the panel served. The reward is, per panel
position, what the journeys begun by a click there were worth. The next state is the same
identity's next impression, unless the session ended first: then the transition is `done`.
The arrays they end up in (`Transitions`, `States`) live in `recommender.transitions`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

import numpy as np

from recommender.activity.journeys import ActionRecord, Journey, panel_label_counts
from recommender.activity.pages import service_of_page
from recommender.contract.recommendations import PANEL_SIZES
from recommender.contract.rewards import RewardValues
from recommender.transitions import PAD, Context, States, Transitions, arm_balanced_weights

MAX_PANEL = max(PANEL_SIZES.values())
# Histories are stored this long; a data set may read a shorter tail of them.
MAX_STORED_HISTORY = 32
DEFAULT_HISTORY_LENGTH = 10

# (user id, None) for a logged-in user, (None, unique_id) for an anonymous browser.
Identity = tuple[int | None, str | None]


def identity_of(user_id: int | None, unique_id: str) -> Identity:
    """Who an impression or action belongs to: the user when known, else the browser."""
    return (user_id, None) if user_id is not None else (None, unique_id)


@dataclass(frozen=True)
class ImpressionRecord:
    """The stored columns of one impression that a transition is built from."""

    id: int
    requested_at: datetime
    unique_id: str
    user_id: int | None
    served: tuple[int, ...]
    context: Context
    # The experiment whose arm served it, and that arm's share of the visitors.
    experiment_id: int | None = None
    propensity: float = 1.0

    @property
    def identity(self) -> Identity:
        return identity_of(self.user_id, self.unique_id)


@dataclass(frozen=True)
class IdentityLog:
    """Everything one identity did that its transitions depend on.

    `actions` are the identity's own (for a user: with its `user_id`; for a browser: its
    anonymous ones); `accessed_services` the user's list from the dump, oldest first.
    """

    impressions: Sequence[ImpressionRecord]
    actions: Sequence[ActionRecord]
    accessed_services: Sequence[int] = ()


@dataclass(frozen=True)
class TransitionRecord:
    """One transition as Python values: what the store keeps, joined with its impressions."""

    impression: ImpressionRecord
    history: tuple[int, ...]
    # Per panel position, {transition label: count} of the journeys begun there.
    panel_labels: tuple[Mapping[str, int], ...]
    next_impression: ImpressionRecord | None
    next_history: tuple[int, ...]
    done: bool


def _engaged_service(action: ActionRecord) -> int | None:
    """The service an action shows interest in: the page it opens, or the one it orders."""
    if action.is_order:
        # An order lands on a project page; the service is the one it was sent from.
        return service_of_page(action.source_page_id) or action.service_id
    return service_of_page(action.target_page_id)


def histories(
    impressions: Sequence[ImpressionRecord],
    actions: Iterable[ActionRecord],
    accessed_services: Sequence[int] = (),
    length: int = MAX_STORED_HISTORY,
) -> list[tuple[int, ...]]:
    """For each impression (oldest first), the last `length` distinct services the identity
    engaged with strictly before it, each at its latest engagement, oldest first.

    The dump's accessed services come first. The dump is a snapshot of today, so a service
    the identity orders in the action log is left out of it: it counts from its order on,
    not before.
    """
    events = sorted(
        (action.timestamp, action.id, service)
        for action in actions
        if (service := _engaged_service(action)) is not None
    )
    ordered = {
        service
        for action in actions
        if action.is_order and (service := _engaged_service(action)) is not None
    }
    # A dict keeps insertion order: re-inserting a service moves it to the newest end.
    recent: dict[int, None] = {s: None for s in accessed_services if s not in ordered}
    out: list[tuple[int, ...]] = []
    position = 0
    for impression in impressions:
        while position < len(events) and events[position][0] < impression.requested_at:
            service = events[position][2]
            recent.pop(service, None)
            recent[service] = None
            position += 1
        out.append(tuple(islice(reversed(recent), length))[::-1])
    return out


def transitions_of(
    log: IdentityLog,
    journeys_by_impression: Mapping[int, Sequence[Journey]],
    *,
    latest_activity: datetime,
    session_gap: timedelta,
    wanted: Collection[int] | None = None,
) -> list[TransitionRecord]:
    """The finished transitions of one identity's impressions (those in `wanted`, or all).

    A session lasts while the identity keeps acting: an impression's session ends at the
    identity's last activity before its next impression (or at all, with none), and the
    transition is `done` when that next impression comes more than `session_gap` later.
    A transition is finished once the store's `latest_activity` is more than `session_gap`
    past both that and the end of the journeys begun on its panel (a tab may go on after
    the next search): only then can nothing more that belongs to it arrive.
    """
    impressions = sorted(log.impressions, key=lambda i: (i.requested_at, i.id))
    history = histories(impressions, log.actions, log.accessed_services)
    times = sorted(action.timestamp for action in log.actions)
    out: list[TransitionRecord] = []
    for index, impression in enumerate(impressions):
        if wanted is not None and impression.id not in wanted:
            continue
        following = impressions[index + 1] if index + 1 < len(impressions) else None
        start = bisect_left(times, impression.requested_at)
        end = len(times) if following is None else bisect_left(times, following.requested_at)
        session_end = impression.requested_at
        if end > start:
            session_end = max(session_end, times[end - 1])
        done = following is None or following.requested_at - session_end > session_gap
        journeys = journeys_by_impression.get(impression.id, ())
        last = max([session_end, *(j.ended_at for j in journeys)])
        if latest_activity - last <= session_gap:
            continue
        counts = panel_label_counts(impression.id, impression.served, journeys)
        out.append(
            TransitionRecord(
                impression=impression,
                history=history[index],
                panel_labels=tuple(dict(sorted(c.items())) for c in counts),
                next_impression=None if done else following,
                next_history=() if done else history[index + 1],
                done=done,
            )
        )
    return out


def transition_arrays(
    records: Sequence[TransitionRecord],
    *,
    values: RewardValues,
    history_length: int = DEFAULT_HISTORY_LENGTH,
) -> Transitions:
    """Arrays of transition records; rewards are the label counts valued by `values`."""
    if not 0 <= history_length <= MAX_STORED_HISTORY:
        raise ValueError(f"history_length must lie between 0 and {MAX_STORED_HISTORY}")
    n = len(records)
    actions = np.full((n, MAX_PANEL), PAD, dtype=np.int64)
    rewards = np.zeros((n, MAX_PANEL), dtype=np.float32)
    for row, record in enumerate(records):
        served = record.impression.served[:MAX_PANEL]
        actions[row, : len(served)] = served
        rewards[row, : len(served)] = [values.total(c) for c in record.panel_labels[: len(served)]]
    user_ids = [r.impression.user_id for r in records]
    following = [r.next_impression for r in records]
    return Transitions(
        impression_ids=np.asarray([r.impression.id for r in records], dtype=np.int64),
        requested_at=np.asarray(
            [r.impression.requested_at.timestamp() for r in records], dtype=np.float64
        ),
        state=States.of(
            user_ids,
            [r.history for r in records],
            [r.impression.context for r in records],
            history_length,
        ),
        actions=actions,
        rewards=rewards,
        next_impression_ids=np.asarray(
            [PAD if f is None else f.id for f in following], dtype=np.int64
        ),
        next_state=States.of(
            user_ids,
            [r.next_history for r in records],
            [Context() if f is None else f.context for f in following],
            history_length,
        ),
        done=np.asarray([r.done for r in records], dtype=np.bool_),
        weights=arm_balanced_weights(
            np.asarray(
                [
                    PAD if r.impression.experiment_id is None else r.impression.experiment_id
                    for r in records
                ],
                dtype=np.int64,
            ),
            np.asarray([r.impression.propensity for r in records], dtype=np.float64),
        ),
    )
