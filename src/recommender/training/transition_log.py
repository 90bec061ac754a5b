"""The stored RL data set: finished transitions, extended from new activity, read as arrays.

`extend_transitions` looks only at impressions past a cursor (in the `state` table) that
have no row yet, reads the activity of their identities, and stores the transitions that are
finished; the others wait for a later run. Rows are never changed, so a run adds rows and
a repeated run adds none.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    and_,
    exists,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from recommender.activity.journeys import ActionRecord, Journey, read_actions, read_journeys
from recommender.config import Settings
from recommender.contract.rewards import RewardValues
from recommender.store import state
from recommender.store.database import Database
from recommender.store.schema import (
    Recommendation,
    Transition,
    UserAction,
    user_accessed_services,
)
from recommender.training.sars import (
    DEFAULT_HISTORY_LENGTH,
    Identity,
    IdentityLog,
    ImpressionRecord,
    TransitionRecord,
    identity_of,
    transition_arrays,
    transitions_of,
)
from recommender.transitions import Context, Transitions

log = logging.getLogger(__name__)

# Identities read together: bounds both memory and the length of each `IN (...)`.
IDENTITIES_PER_BATCH = 500


def _impression(row: Sequence[Any]) -> ImpressionRecord:
    """An impression from (id, requested_at, unique_id, user_id, service_ids, page_id,
    search_data, candidates, experiment_id, propensity)."""
    (
        impression_id,
        requested_at,
        unique_id,
        user_id,
        served,
        page_id,
        search,
        candidates,
        experiment_id,
        propensity,
    ) = row
    return ImpressionRecord(
        id=int(impression_id),
        requested_at=requested_at,
        unique_id=unique_id,
        user_id=user_id,
        served=tuple(int(s) for s in served),
        context=Context(
            page_id=page_id,
            search_data=dict(search or {}),
            candidates=tuple(int(c) for c in candidates or ()),
        ),
        experiment_id=experiment_id,
        propensity=float(propensity),
    )


def _impression_columns(table: Any) -> tuple[Any, ...]:
    return (
        table.id,
        table.requested_at,
        table.unique_id,
        table.user_id,
        table.service_ids,
        table.page_id,
        table.search_data,
        table.candidates,
        table.experiment_id,
        table.propensity,
    )


def _of_identities(
    user_column: Any, unique_column: Any, identities: Collection[Identity]
) -> ColumnElement[bool]:
    users = sorted({u for u, _ in identities if u is not None})
    browsers = sorted({b for u, b in identities if u is None and b is not None})
    return or_(user_column.in_(users), and_(user_column.is_(None), unique_column.in_(browsers)))


def _latest_activity(conn: Connection) -> datetime | None:
    latest = [
        conn.execute(select(func.max(UserAction.timestamp))).scalar_one(),
        conn.execute(select(func.max(Recommendation.requested_at))).scalar_one(),
    ]
    found = [moment for moment in latest if moment is not None]
    return max(found) if found else None


def _cursor(conn: Connection) -> int:
    stored = state.read(conn, state.TRANSITIONS)
    return int(stored.value) if stored is not None and stored.value else 0


def _finished(
    conn: Connection,
    identities: Collection[Identity],
    wanted: Collection[int],
    latest_activity: datetime,
    session_gap: timedelta,
) -> list[TransitionRecord]:
    """The finished transitions among `wanted` impressions of a batch of identities."""
    impressions = [
        _impression(row)
        for row in conn.execute(
            select(*_impression_columns(Recommendation)).where(
                _of_identities(Recommendation.user_id, Recommendation.unique_id, identities)
            )
        )
    ]
    actions = read_actions(
        conn, _of_identities(UserAction.user_id, UserAction.unique_id, identities)
    )
    users = sorted({u for u, _ in identities if u is not None})
    accessed: dict[int, list[int]] = {}
    for user_id, service_id in conn.execute(
        select(user_accessed_services.c.user_id, user_accessed_services.c.service_id)
        .where(user_accessed_services.c.user_id.in_(users))
        .order_by(user_accessed_services.c.user_id, user_accessed_services.c.position)
    ):
        accessed.setdefault(int(user_id), []).append(int(service_id))
    # Journeys are trees of one browser: read all of its actions, whoever was logged in.
    browsers = {i.unique_id for i in impressions if i.id in wanted}
    journeys: dict[int, list[Journey]] = {}
    for journey in read_journeys(conn, unique_ids=browsers):
        if journey.recommendation_id is not None:
            journeys.setdefault(journey.recommendation_id, []).append(journey)

    impressions_of: dict[Identity, list[ImpressionRecord]] = {i: [] for i in identities}
    for impression in impressions:
        impressions_of[impression.identity].append(impression)
    actions_of: dict[Identity, list[ActionRecord]] = {i: [] for i in identities}
    for action in actions:
        actions_of[identity_of(action.user_id, action.unique_id)].append(action)
    logs = [
        IdentityLog(
            impressions=impressions_of[identity],
            actions=actions_of[identity],
            accessed_services=accessed.get(identity[0], []) if identity[0] is not None else [],
        )
        for identity in identities
    ]
    return [
        record
        for identity_log in logs
        for record in transitions_of(
            identity_log,
            journeys,
            latest_activity=latest_activity,
            session_gap=session_gap,
            wanted=wanted,
        )
    ]


def _insert_new(conn: Connection) -> Insert:
    """An insert that skips impressions another run stored first."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(Transition).on_conflict_do_nothing(
            index_elements=[Transition.impression_id]
        )
    return sqlite.insert(Transition).on_conflict_do_nothing(
        index_elements=[Transition.impression_id]
    )


def _store(db: Database, records: Sequence[TransitionRecord]) -> int:
    if not records:
        return 0
    rows = [
        {
            "impression_id": r.impression.id,
            "user_id": r.impression.user_id,
            "history": list(r.history),
            "panel_labels": [dict(c) for c in r.panel_labels],
            "next_impression_id": None if r.next_impression is None else r.next_impression.id,
            "next_history": list(r.next_history),
            "done": r.done,
        }
        for r in records
    ]
    with db.write() as conn:
        inserted = conn.execute(_insert_new(conn).returning(Transition.impression_id), rows)
        return len(inserted.all())


def _advance_cursor(db: Database, cursor: int) -> None:
    with db.write() as conn:
        if cursor > _cursor(conn):
            state.put(conn, state.TRANSITIONS, str(cursor))


def extend_transitions(db: Database, settings: Settings) -> int:
    """Store the transitions that finished since the last run; returns how many were added.

    Safe to run at any time and from several processes at once: an impression is stored
    once, when nothing that arrives later can change its transition (see
    `sars.transitions_of`), and the cursor only moves past impressions that are stored.
    """
    session_gap = timedelta(seconds=settings.session_gap_s)
    added = 0
    with db.snapshot() as conn:  # one consistent picture of the activity
        cursor = _cursor(conn)
        latest_activity = _latest_activity(conn)
        pending = conn.execute(
            select(Recommendation.id, Recommendation.user_id, Recommendation.unique_id)
            .where(
                Recommendation.id > cursor,
                not_(exists().where(Transition.impression_id == Recommendation.id)),
            )
            .order_by(Recommendation.id)
        ).all()
        if latest_activity is None or not pending:
            return 0
        wanted_by_identity: dict[Identity, set[int]] = {}
        for impression_id, user_id, unique_id in pending:
            wanted_by_identity.setdefault(identity_of(user_id, unique_id), set()).add(
                int(impression_id)
            )
        identities = list(wanted_by_identity)
        waiting: list[int] = []
        for start in range(0, len(identities), IDENTITIES_PER_BATCH):
            batch = identities[start : start + IDENTITIES_PER_BATCH]
            wanted = set().union(*(wanted_by_identity[i] for i in batch))
            records = _finished(conn, batch, wanted, latest_activity, session_gap)
            added += _store(db, records)
            waiting.extend(wanted - {r.impression.id for r in records})
    _advance_cursor(db, min(waiting) - 1 if waiting else int(pending[-1][0]))
    log.info("transitions: %d added, %d impressions not finished yet", added, len(waiting))
    return added


def load_transitions(
    conn: Connection,
    *,
    values: RewardValues | None = None,
    history_length: int = DEFAULT_HISTORY_LENGTH,
) -> Transitions:
    """Every stored transition, oldest impression first, as arrays.

    `values` prices the stored label counts (the defaults when None: pass
    `settings.rewards`); `history_length` is how many of the latest services each history
    keeps.
    """
    current = aliased(Recommendation)
    following = aliased(Recommendation)
    rows = conn.execute(
        select(
            Transition.history,
            Transition.panel_labels,
            Transition.next_history,
            Transition.done,
            *_impression_columns(current),
            *_impression_columns(following),
        )
        .join(current, current.id == Transition.impression_id)
        .outerjoin(following, following.id == Transition.next_impression_id)
        .order_by(Transition.impression_id)
    )
    records = [
        TransitionRecord(
            impression=_impression(row[4:14]),
            history=tuple(row[0]),
            panel_labels=tuple(_labels(c) for c in row[1]),
            next_impression=None if row[14] is None else _impression(row[14:24]),
            next_history=tuple(row[2]),
            done=bool(row[3]),
        )
        for row in rows
    ]
    return transition_arrays(
        records, values=values or RewardValues(), history_length=history_length
    )


def _labels(counts: Mapping[str, Any]) -> dict[str, int]:
    return {str(label): int(count) for label, count in counts.items()}
