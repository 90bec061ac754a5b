"""Storing databus messages: each user action once, and what cannot be an action as a dead letter.

Both run inside the store writer's transaction, so a message's row and the fact that it was seen
commit together; the message is acknowledged only after that commit. A message delivered again
(after a crash, a lost acknowledgement or a publisher's retry) finds its row and stores nothing.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Connection, bindparam, insert, select

from recommender.activity import actions
from recommender.contract.user_actions import UserActionIn
from recommender.databus.messages import Incoming, Rejection, describe
from recommender.store.schema import DeadLetter, UserAction, utcnow

_ACTION_OF = select(UserAction.id).where(UserAction.message_digest == bindparam("digest"))
_LETTER_OF = select(DeadLetter.id).where(DeadLetter.message_digest == bindparam("digest"))


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


def store_action(conn: Connection, message: Incoming, action: UserActionIn) -> Outcome:
    """Record the action unless this message already brought it."""
    if conn.execute(_ACTION_OF, {"digest": message.digest}).first() is not None:
        return Outcome.DUPLICATE
    actions.record(conn, action, message_digest=message.digest)
    return Outcome.STORED


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


def ingest(conn: Connection, message: Incoming, content: UserActionIn | Rejection) -> Outcome:
    if isinstance(content, Rejection):
        return dead_letter(conn, message, content)
    return store_action(conn, message, content)
