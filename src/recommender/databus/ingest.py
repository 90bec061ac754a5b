"""Storing databus messages: each user action once, and what cannot be an action as a dead letter.

Both run inside the store writer's transaction, so a message's row and the fact that it was seen
commit together; the message is acknowledged only after that commit. A message delivered again
(after a crash, a lost acknowledgement or a publisher's retry) finds its row and stores nothing.

The subscriber hands the writer its messages one by one, and the writer gives `ingest_many` all
those of one transaction: one digest query, one lookup of each kind of link and one insert for
the group. When that fails, the writer runs each message again in a transaction of its own, so
a message the store refuses sinks no other.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Connection, bindparam, insert, select

from recommender.activity import actions
from recommender.contract.user_actions import UserActionIn
from recommender.databus.messages import Incoming, Rejection, describe
from recommender.store.schema import DeadLetter, UserAction, utcnow

_ACTIONS_OF = select(UserAction.message_digest).where(
    UserAction.message_digest.in_(bindparam("digests", expanding=True))
)
_LETTER_OF = select(DeadLetter.id).where(DeadLetter.message_digest == bindparam("digest"))


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


# A delivered message and what it says: an action, or why it is none.
Item = tuple[Incoming, UserActionIn | Rejection]


def store_action(conn: Connection, message: Incoming, action: UserActionIn) -> Outcome:
    """Record the action unless this message already brought it."""
    return ingest_many(conn, [(message, action)])[0]


def dead_letter(conn: Connection, message: Incoming, rejection: Rejection) -> Outcome:
    """Keep the message, its headers and why it was refused (once, however often it comes)."""
    if conn.execute(_LETTER_OF, {"digest": message.digest}).first() is not None:
        return Outcome.DUPLICATE
    conn.execute(
        insert(DeadLetter).values(
            received_at=utcnow(),
            message_digest=message.digest,
            destination=message.destination,
            headers=dict(message.headers),
            body=message.body,
            reason=describe(rejection),
            errors=rejection.errors,
        )
    )
    return Outcome.DEAD_LETTERED


def ingest_many(conn: Connection, items: list[Item]) -> list[Outcome]:
    """Each message's outcome, in order, as if they were ingested one after another: a body
    that came earlier (stored before, or earlier in the group) is a duplicate."""
    outcomes: list[Outcome] = [Outcome.STORED] * len(items)
    digests = {message.digest for message, content in items if not isinstance(content, Rejection)}
    seen = _stored(conn, digests)
    fresh: list[UserActionIn] = []
    fresh_digests: list[str | None] = []
    for index, (message, content) in enumerate(items):
        if isinstance(content, Rejection):
            # Rare, so one at a time.
            outcomes[index] = dead_letter(conn, message, content)
        elif message.digest in seen:
            outcomes[index] = Outcome.DUPLICATE
        else:
            seen.add(message.digest)
            fresh.append(content)
            fresh_digests.append(message.digest)
    actions.store_many(conn, fresh, digests=fresh_digests)
    return outcomes


def _stored(conn: Connection, digests: set[str]) -> set[str]:
    if not digests:
        return set()
    return {str(d) for d in conn.execute(_ACTIONS_OF, {"digests": sorted(digests)}).scalars()}
